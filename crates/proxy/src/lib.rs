//! rkube's Service proxy on a real node, after kube-proxy's nftables mode:
//! Services and their EndpointSlices (watched through the API, never the
//! store) become rules in a table of rkube's own ([`ProxyConfig::table`]),
//! updated incrementally.
//!
//! Start at [`run`]. The path of a change: [`watch`] (kube-runtime
//! watchers) → [`tracker::Tracker`] (which Services changed; their rules
//! from [`service_port`], [`endpoints`] and [`rules`]) →
//! [`transaction`] (one `nft -f -` script: the table rebuilt on the first
//! sync and after a failure, otherwise only changed chains, sets and map
//! elements) → [`proxier::Proxier`] (applies it, then [`conntrack`]
//! cleanup and [`healthcheck`] servers). [`base`] is the fixed part of the
//! table, [`names`] the per-Service objects' names, [`host`] where the
//! tools run, [`metrics`] kube-proxy's metrics.
//!
//! # What it serves (and how it differs from kube-proxy)
//! - ClusterIP (TCP, UDP, SCTP), NodePort, `externalIPs`, load balancer
//!   ingress IPs (`status.loadBalancer.ingress[].ip`), `sessionAffinity:
//!   ClientIP` with its timeout, `internalTrafficPolicy` and
//!   `externalTrafficPolicy: Local` with `healthCheckNodePort`,
//!   `loadBalancerSourceRanges`; headless and ExternalName Services get no
//!   rules. `publishNotReadyAddresses` needs nothing here: the
//!   EndpointSlice controller marks such endpoints ready.
//! - NodePorts answer on every local address of the node except loopback
//!   (`fib daddr type local`, as kube-proxy's nftables mode: 127.0.0.1 is
//!   not served).
//! - A Service without usable endpoints is REJECTed (ICMP port
//!   unreachable, so TCP clients see "connection refused" at once); a
//!   `Local` policy with no endpoint on this node drops.
//! - Masquerade where kube-proxy does it: traffic to a ClusterIP from
//!   outside the cluster's pod range, hairpin traffic (a pod reaching
//!   itself through its Service), external traffic unless
//!   `externalTrafficPolicy: Local`.
//! - Stale UDP conntrack entries are deleted when an endpoint goes.
//! - Only IPv4 (the pod network is IPv4).
//! - Layout: kube-proxy's table, maps and per-Service chains, but no
//!   per-endpoint chains and no anonymous verdict maps: a Service's chain
//!   picks an endpoint with one `numgen random mod (N-i) == 0 … dnat to`
//!   rule per endpoint (uniform, as iptables' `statistic`), and hairpin
//!   traffic is found by the `hairpin-ips` set. nft 1.0.6 (Debian 12) reads
//!   every chain, and every set's elements one dump at a time, before each
//!   transaction: with 1,000 Services × 10 endpoints kube-proxy's layout
//!   cost ~200 ms per small update here, this one ~50 ms
//!   (`tests/scale.rs`).
//! - A full rebuild (first sync, or after a failed transaction) deletes
//!   and makes the table in one transaction: live connections keep their
//!   conntrack entries, but `ClientIP` affinity starts afresh (kube-proxy
//!   keeps its affinity sets across restarts).
//!
//! # Which endpoints get rules (nothing leaves the machine by accident)
//! See [`endpoints`]: addresses inside the cluster's pod range (the part
//! not on this node is routed to rkube's dummy interface by `rkube-net`, so
//! DNAT to a simulated pod ends there, dropped); outside it only loopback,
//! the node's IP and the host's own addresses, and never an address on a
//! simulated node. To reach the `kubernetes` Service's endpoint at
//! 127.0.0.1 from pods, the pods' bridge (rkube's own, no other interface)
//! gets `route_localnet=1`, and the table drops loopback destinations
//! arriving from the bridge that no Service rule DNATed.
//!
//! What it must not touch: any nftables table but its own, the pod
//! network's interfaces (`rkube-net` owns them; the proxy only sets
//! `route_localnet` on the bridge), the API's objects (it only reads them).

pub mod base;
pub mod conntrack;
pub mod endpoints;
mod error;
pub mod healthcheck;
pub mod host;
pub mod metrics;
pub mod model;
pub mod names;
pub mod proxier;
pub mod rules;
pub mod service_port;
pub mod tracker;
pub mod transaction;
pub mod watch;

use std::net::{IpAddr, Ipv4Addr};

pub use error::ProxyError;
pub use host::Host;
pub use proxier::{Proxier, SyncReport};
use rkube_net::Ipv4Cidr;
use tracing::warn;

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
/// breaking live connections); [`teardown`] removes it. Health check
/// servers stop with the task.
pub async fn run(client: kube::Client, config: ProxyConfig) -> Result<(), ProxyError> {
    let mut proxier = Proxier::new(&config, Host::current(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Err(e) = proxier.prepare().await {
        warn!(error = %e, bridge = %config.bridge, "pods cannot reach Services whose endpoint is a loopback address");
    }
    if let Err(e) = proxier.refresh_local_addresses().await {
        warn!(error = %e, "cannot read the host's addresses");
    }
    watch::run_loop(client, proxier).await;
    Ok(())
}

/// Remove the proxy's table (and whatever else of its own it left on the
/// host); nothing if it is absent.
pub async fn teardown(table: &str) -> Result<(), ProxyError> {
    Host::current().delete_table(table).await?;
    Ok(())
}
