//! The resourcequota-controller (not built yet).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::context::Context;

pub const NAME: &str = "resourcequota-controller";

pub fn start(_ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    Vec::new()
}
