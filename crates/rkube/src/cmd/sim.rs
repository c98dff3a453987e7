//! The simulated-node options `rkube up` and `rkube node` share.

use std::time::Duration;

use clap::Args;
use rkube_node::SimConfig;

#[derive(Debug, Clone, Args)]
pub struct SimArgs {
    /// Simulated nodes to run (kwok-style: no containers, pods go Running
    /// and Ready after --sim-pod-start-delay).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub sim_nodes: u32,

    /// Names of simulated nodes: this prefix and a number.
    #[arg(long, value_name = "PREFIX", default_value = "sim-node-")]
    pub sim_node_prefix: String,

    /// CPU of each simulated node.
    #[arg(long, value_name = "QUANTITY", default_value = "32")]
    pub sim_node_cpu: String,

    /// Memory of each simulated node.
    #[arg(long, value_name = "QUANTITY", default_value = "256Gi")]
    pub sim_node_memory: String,

    /// Extra labels of every simulated node, as KEY=VALUE,...
    #[arg(long, value_name = "KEY=VALUE,...", value_delimiter = ',', value_parser = parse_label)]
    pub sim_node_labels: Vec<(String, String)>,

    /// Pods each simulated node takes.
    #[arg(long, value_name = "N", default_value_t = 110)]
    pub sim_node_pods: u32,

    /// From a pod's binding to Running and Ready on a simulated node.
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = crate::bench::duration::parse_duration)]
    pub sim_pod_start_delay: Duration,

    /// How often simulated nodes renew their Leases.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = crate::bench::duration::parse_duration)]
    pub sim_lease_renew: Duration,
}

impl SimArgs {
    pub fn config(&self) -> SimConfig {
        SimConfig {
            nodes: self.sim_nodes,
            prefix: self.sim_node_prefix.clone(),
            cpu: self.sim_node_cpu.clone(),
            memory: self.sim_node_memory.clone(),
            pods: self.sim_node_pods,
            start_delay: self.sim_pod_start_delay,
            lease_renew: self.sim_lease_renew,
            labels: self.sim_node_labels.iter().cloned().collect(),
        }
    }
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}
