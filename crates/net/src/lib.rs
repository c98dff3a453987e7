//! rkube's pod network on a real node (start at [`BridgeNetwork`]): a
//! bridge (`rkube0`) with the gateway address `.1` of the node's
//! `spec.podCIDR`, a veth pair per pod, addresses `.2`…`.254` recorded one
//! file per address (CNI host-local), masquerade for traffic that leaves
//! the cluster range, hairpin mode on every pod port — what the CNI
//! bridge, host-local and portmap plugins do for kind and k3s.
//!
//! The integrator's path:
//!
//! ```no_run
//! # async fn f(pod_cidr: &str, data_dir: &std::path::Path) -> Result<(), rkube_net::NetError> {
//! let config = rkube_net::NetConfig::new(pod_cidr, data_dir)?; // "10.244.0.0/24", DATA_DIR
//! let network = rkube_net::BridgeNetwork::start(config).await?;
//! // hand `network` to the kubelet as its `rkube_cri::NetworkPlugin`
//! # Ok(()) }
//! ```
//!
//! # No packet to a pod or a ClusterIP takes the default route
//! From [`BridgeNetwork::start`] on, the node's pod range is routed to the
//! bridge, and the rest of the cluster range and the whole service range to
//! rkube's dummy interface `rkube-svc0` (as kube-proxy's `kube-ipvs0`):
//! kube-proxy's DNAT in the output and prerouting hooks rewrites ClusterIP
//! traffic before routing; whatever is not rewritten ends on the dummy,
//! which drops it.
//!
//! # The host's firewall (what was found on the development host)
//! - `br_netfilter` is active (`net.bridge.bridge-nf-call-iptables=1`), so
//!   traffic between two pods on the bridge passes the IPv4 `forward` hook
//!   like routed traffic. A DROP there in *any* table is final: an accept
//!   in rkube's own table does not undo it. Measured in a scratch
//!   namespace: pod-to-pod pings over a bridge stop when the iptables
//!   `FORWARD` policy is DROP, still fail with an nftables accept in another
//!   table, and pass again with an `-i <bridge> -j ACCEPT` rule in that
//!   `FORWARD` chain. (Turning `bridge-nf-call-iptables` off is not an
//!   option: it is host-wide, and kube-proxy needs it for ClusterIPs of
//!   pods on the same bridge.)
//! - Docker's client is installed, but no Docker daemon runs here; the
//!   iptables `FORWARD` policy is ACCEPT in both back ends (`iptables-nft`
//!   is the default, empty; `iptables-legacy` tables exist, empty).
//! - A Docker daemon sets that policy to DROP when it turns on forwarding.
//!   [`host_firewall`] then inserts two rules of rkube's own (commented
//!   `rkube-podnet <bridge>`) at the top of `FORWARD` in each back end whose
//!   policy is DROP — traffic from the bridge, and replies to it — and
//!   removes exactly those at teardown; it changes no rule it did not
//!   create. A daemon started after rkube: [`BridgeNetwork::resync`].
//!   `tests/host_firewall.rs` proves it in a scratch namespace whose
//!   `FORWARD` policy is DROP: pods reach each other with rkube's rules,
//!   not without them, and teardown leaves the policy as it was.
//! - This host's kernel has no `dummy` driver (`CONFIG_DUMMY` unset, no
//!   modules): the dummy interface is then an `ifb`, which is as silent
//!   (no ARP) and drops what is sent to it ([`host::create_dummy`]).
//!
//! Files: [`config`] (the names and ranges), [`cidr`], [`ipam`] (address
//! records), [`host`] (bridge, dummy, routes, `ip_forward`), [`nft_table`]
//! (rkube's table), [`host_firewall`], [`bridge`] (the plugin),
//! [`portmap`] (`hostPort`s, in a table of their own), [`node_routes`]
//! (routes to the other real nodes' pod ranges), `cmd` (the
//! `ip`/`nft`/`nsenter` processes), `link_batcher` (many pods' host-side
//! `ip` lines in one process).

pub mod bridge;
pub mod cidr;
pub mod cmd;
pub mod config;
pub mod error;
pub mod host;
pub mod host_firewall;
pub mod ipam;
mod link_batcher;
pub mod nft_table;
pub mod node_routes;
pub mod portmap;
pub mod veth;

pub use bridge::{teardown, veth_name, BridgeNetwork};
pub use cidr::Ipv4Cidr;
pub use config::{NetConfig, DEFAULT_CLUSTER_CIDR, DEFAULT_SERVICE_CIDR};
pub use error::NetError;
