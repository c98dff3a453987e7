//! (being built) routes of the node's API; see `mod.rs`.

use std::sync::Arc;

use axum::Router;

use super::ServerState;

/// This file's routes.
pub fn routes() -> Router<Arc<ServerState>> {
    Router::new()
}
