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
//!
//! Files: `snapshot.rs` (the records, from Services and EndpointSlices),
//! `answer.rs` (one query against a snapshot, pure), `server.rs` (UDP and
//! TCP sockets and their loops), `forward.rs` (upstreams), `upstreams.rs`
//! (which: configured, or the host's), `watch.rs` (reflectors → snapshots),
//! `register.rs` (the node's EndpointSlice), `metrics.rs` (CoreDNS's
//! counters on port 9153).
//!
//! # Load testing with dnsperf
//!
//! Debian's `dnsperf` against a node's server (the address of its
//! `kube-dns` EndpointSlice, e.g. `10.244.0.1`), with names rkube answers
//! itself so nothing is forwarded:
//!
//! ```text
//! printf 'kubernetes.default.svc.cluster.local A\nkube-dns.kube-system.svc.cluster.local SRV\n' > q.txt
//! dnsperf -s 10.244.0.1 -p 53 -d q.txt -l 10 -c 4 -Q 30000
//! ```
//!
//! `-c` clients use distinct source ports, which `SO_REUSEPORT` spreads
//! over the server's per-core sockets.

mod answer;
mod error;
mod forward;
mod metrics;
mod register;
mod server;
mod snapshot;
mod upstreams;
mod watch;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

pub use answer::{answer, reply_to, reverse_ip, Outcome, TTL};
pub use error::DnsError;
pub use forward::Forwarder;
pub use metrics::{Metrics, Proto};
pub use register::{desired as endpoint_slice, slice_name, MANAGED_BY};
pub use server::Server;
pub use snapshot::{dashed, key, Node, Snapshot, Srv};
pub use upstreams::{from_files as upstreams_from_files, nameservers};

/// What the DNS server of one node needs to know.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// The Node serving (its EndpointSlice of `kube-dns` is named after
    /// it).
    pub node_name: String,
    /// The address to serve on, UDP and TCP port 53 (the pod bridge's
    /// address), and to register as the node's `kube-dns` endpoint.
    pub address: IpAddr,
    /// The port (53; tests may pick another). On port 53 the metrics are
    /// served on port 9153 of the same address.
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

/// The port of the metrics (CoreDNS's).
pub const METRICS_PORT: u16 = 9153;

/// UDP sockets (and tasks) to read with: one per core.
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
}

/// Bind, then serve until the task is dropped: the watch, the server, the
/// node's EndpointSlice and (on port 53) the metrics.
pub async fn run(client: kube::Client, config: DnsConfig) -> Result<(), DnsError> {
    let server = Server::bind(SocketAddr::new(config.address, config.port), workers()).await?;
    run_on(client, config, server).await
}

/// [`run`] on sockets already bound (tests bind port 0 and read the port
/// first); the node's EndpointSlice names the bound port.
pub async fn run_on(
    client: kube::Client,
    config: DnsConfig,
    server: Server,
) -> Result<(), DnsError> {
    let local = server.local_addr();
    let upstreams = upstreams::resolve(&config.upstreams, local);
    if upstreams.is_empty() {
        tracing::warn!("no upstream resolvers: names outside the cluster answer SERVFAIL");
    }
    tracing::info!(address = %local, upstreams = ?upstreams, domain = %config.cluster_domain, "cluster DNS starting");
    let (tx, rx) = tokio::sync::watch::channel(Arc::new(Snapshot::empty(&config.cluster_domain)));
    let metrics = Arc::new(Metrics::new(local));
    let mut metrics_listener = None;
    if config.port == 53 {
        let at = SocketAddr::new(config.address, METRICS_PORT);
        match tokio::net::TcpListener::bind(at).await {
            Ok(listener) => metrics_listener = Some(listener),
            Err(error) => tracing::warn!(%at, %error, "cannot serve the DNS metrics"),
        }
    }
    let serve_metrics = {
        let metrics = metrics.clone();
        async move {
            match metrics_listener {
                Some(listener) => metrics.serve(listener).await,
                None => std::future::pending().await,
            }
        }
    };
    let slice = register::desired(&config.node_name, config.address, local.port())?;
    let watch = watch::run(client.clone(), config.cluster_domain.clone(), tx);
    let register = register::run(client, slice);
    let serve = server.serve(rx, Arc::new(Forwarder::new(upstreams)), metrics);
    tokio::select! {
        r = serve => r,
        () = watch => Ok(()),
        () = register => Ok(()),
        () = serve_metrics => Ok(()),
    }
}
