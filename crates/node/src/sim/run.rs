//! The `sim` runtime's entry point: register the nodes, then renew their
//! Leases and run their pods.

use std::sync::Arc;

use kube::Client;
use tracing::info;

use crate::sim::config::SimConfig;
use crate::sim::error::SimError;
use crate::sim::{lease, pods, register};

/// Register the nodes, then keep their Leases renewed and run their pods
/// until the task is dropped or a fatal API error.
pub async fn run(client: Client, config: SimConfig) -> Result<(), SimError> {
    let config = Arc::new(config);
    register::register_all(&client, &config).await?;
    info!(nodes = config.nodes, prefix = %config.prefix, "simulated nodes registered");
    let leases = AbortOnDrop(tokio::spawn(lease::renew_forever(
        client.clone(),
        config.clone(),
    )));
    let pods = pods::run(client, config).await;
    drop(leases);
    pods
}

/// The lease task ends with the agent, even when the agent's future is
/// dropped (`rkube up` stopping).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
