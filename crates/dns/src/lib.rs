//! Cluster DNS in the one binary, as the Kubernetes DNS specification and
//! CoreDNS's `kubernetes` plugin answer: Services, their endpoints and pods
//! under the cluster domain (watched through the API), every other name
//! forwarded to upstream resolvers. Each real node serves it on its pod
//! bridge's address and registers that address as its endpoint of the
//! `kube-system/kube-dns` Service (`internalTrafficPolicy: Local`), so the
//! Service's ClusterIP (the tenth of the service range) reaches the node's
//! own server.
//!
//! What it must not touch: the network (it only binds its sockets), any
//! object but the node's own EndpointSlice of `kube-dns`.

mod error;

use std::net::{IpAddr, SocketAddr};

pub use error::DnsError;

/// What the DNS server of one node needs to know.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// The Node serving (its EndpointSlice of `kube-dns` is named after
    /// it).
    pub node_name: String,
    /// The address to serve on, UDP and TCP port 53 (the pod bridge's
    /// address), and to register as the node's `kube-dns` endpoint.
    pub address: IpAddr,
    /// The port (53; tests may pick another).
    pub port: u16,
    /// The cluster domain (`cluster.local`).
    pub cluster_domain: String,
    /// Where other names go; empty: the host's resolvers (its
    /// resolv.conf, or systemd-resolved's upstreams when that names only
    /// a loopback stub).
    pub upstreams: Vec<SocketAddr>,
}

/// The default cluster domain.
pub const CLUSTER_DOMAIN: &str = "cluster.local";

/// Serve until the task is dropped.
pub async fn run(_client: kube::Client, config: DnsConfig) -> Result<(), DnsError> {
    tracing::warn!(address = %config.address, "cluster DNS is not built yet");
    std::future::pending::<()>().await;
    Ok(())
}
