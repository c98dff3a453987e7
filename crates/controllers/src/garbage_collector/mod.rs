//! The garbage-collector-controller (not built yet).

use std::sync::Arc;

use tokio::task::JoinHandle;

use crate::context::Context;

pub const NAME: &str = "garbage-collector-controller";

pub fn start(_ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    Vec::new()
}
