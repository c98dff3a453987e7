//! rkube's Service proxy on a real node, after kube-proxy's nftables mode:
//! Services and their EndpointSlices (watched through the API, never the
//! store) become rules in a table of rkube's own ([`ProxyConfig::table`]),
//! updated incrementally.
//!
//! What it must not touch: any nftables table but its own, the pod
//! network's interfaces (`rkube-net` owns them), the API's objects (it only
//! reads them).

mod error;

use std::net::IpAddr;

pub use error::ProxyError;
use rkube_net::Ipv4Cidr;

/// What the proxy of one node needs to know.
#[derive(Clone, Debug)]
pub struct ProxyConfig {
    /// The Node this proxy runs for (`internalTrafficPolicy` and
    /// `externalTrafficPolicy: Local` pick its endpoints).
    pub node_name: String,
    /// The node's InternalIP.
    pub node_ip: IpAddr,
    /// The pods' bridge (`rkube0`).
    pub bridge: String,
    /// The node's pod range.
    pub pod_cidr: Ipv4Cidr,
    /// The cluster's pod range.
    pub cluster_cidr: Ipv4Cidr,
    /// The Services' range.
    pub service_cidr: Ipv4Cidr,
    /// rkube's own nftables table for Services (`rkube-proxy`, or
    /// `rkube-proxy-<bridge>` beside another bridge).
    pub table: String,
}

impl ProxyConfig {
    /// The table's name for a pod bridge: `rkube-proxy` beside `rkube0`,
    /// `rkube-proxy-<bridge>` otherwise.
    pub fn table_for(bridge: &str) -> String {
        if bridge == "rkube0" {
            "rkube-proxy".to_string()
        } else {
            format!("rkube-proxy-{bridge}")
        }
    }
}

/// Keep the node's Service rules current until the task is dropped. The
/// table stays when it stops (a restarted proxy converges from it without
/// breaking live connections); [`teardown`] removes it.
pub async fn run(_client: kube::Client, config: ProxyConfig) -> Result<(), ProxyError> {
    tracing::warn!(table = %config.table, "the Service proxy is not built yet");
    std::future::pending::<()>().await;
    Ok(())
}

/// Remove the proxy's table (and whatever else of its own it left on the
/// host); nothing if it is absent.
pub async fn teardown(_table: &str) -> Result<(), ProxyError> {
    Ok(())
}
