//! [`SimConfig`]: how the simulated nodes look and behave.

use std::collections::BTreeMap;
use std::time::Duration;

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
