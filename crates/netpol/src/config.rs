//! [`PolicyConfig`]: what the enforcer of one node is told.

use rkube_net::Ipv4Cidr;

/// What the enforcer of one node needs to know.
#[derive(Clone, Debug)]
pub struct PolicyConfig {
    /// The Node whose pods are enforced.
    pub node_name: String,
    /// The pods' bridge (`rkube0`).
    pub bridge: String,
    /// The node's pod range.
    pub pod_cidr: Ipv4Cidr,
    /// The cluster's pod range.
    pub cluster_cidr: Ipv4Cidr,
    /// rkube's own nftables table for policies (`rkube-netpol`, or
    /// `rkube-netpol-<bridge>` beside another bridge).
    pub table: String,
}

impl PolicyConfig {
    /// The table's name for a pod bridge.
    pub fn table_for(bridge: &str) -> String {
        if bridge == "rkube0" {
            "rkube-netpol".to_string()
        } else {
            format!("rkube-netpol-{bridge}")
        }
    }
}
