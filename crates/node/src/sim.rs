//! The `sim` runtime's settings and its entry point.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use tracing::info;

/// How the simulated nodes look and behave.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How many nodes.
    pub nodes: u32,
    /// Node names are this prefix and the node's number (`sim-node-0`).
    pub prefix: String,
    /// Capacity (= allocatable) of each node.
    pub cpu: String,
    pub memory: String,
    pub pods: u32,
    /// Extra labels on every node.
    pub labels: BTreeMap<String, String>,
    /// From binding to Running and Ready.
    pub start_delay: Duration,
    /// How often each node's Lease is renewed (its duration is four times
    /// this, as kubelet's 10 s renewals of a 40 s lease).
    pub lease_renew: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 0,
            prefix: "sim-node-".to_string(),
            cpu: "32".to_string(),
            memory: "256Gi".to_string(),
            pods: 110,
            labels: BTreeMap::new(),
            start_delay: Duration::from_millis(100),
            lease_renew: Duration::from_secs(10),
        }
    }
}

impl SimConfig {
    pub(crate) fn node_name(&self, i: u32) -> String {
        format!("{}{i}", self.prefix)
    }
}

/// What stops the agent.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A call to the API server failed where the agent cannot go on.
    #[error("{what}: {source}")]
    Api {
        what: String,
        #[source]
        source: kube::Error,
    },
}

pub(crate) fn api_error(what: impl Into<String>) -> impl FnOnce(kube::Error) -> SimError {
    let what = what.into();
    move |source| SimError::Api { what, source }
}

/// Register the nodes, then keep their Leases renewed and run their pods
/// until the task is dropped or a fatal API error.
pub async fn run(client: Client, config: SimConfig) -> Result<(), SimError> {
    let config = Arc::new(config);
    super::register::register_all(&client, &config).await?;
    info!(nodes = config.nodes, prefix = %config.prefix, "simulated nodes registered");
    let leases = AbortOnDrop(tokio::spawn(super::lease::renew_forever(
        client.clone(),
        config.clone(),
    )));
    let pods = super::pods::run(client, config).await;
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
