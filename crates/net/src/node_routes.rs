//! Routes to the other real nodes' pod ranges: each real Node with a
//! `spec.podCIDR` and an `InternalIP` gets `ip route replace <podCIDR> via
//! <InternalIP> proto 77` (flannel's `host-gw`, kube-router's routes), and
//! the route goes when the Node goes. `proto 77` marks the routes as
//! rkube's, so only those are ever replaced or removed.
//!
//! Left without a route of their own (the cluster range's route to rkube's
//! dummy interface covers them, so nothing leaves the host for them):
//! - simulated Nodes (annotation `rkube.io/sim: "true"`): their addresses
//!   are made up;
//! - Nodes whose `InternalIP` is one of this host's own addresses: several
//!   nodes in one network namespace (`rkube up --real-node` beside `rkube
//!   node` on one host) share the host's routing table, and a route via a
//!   local address would loop; a later issue puts them in separate
//!   namespaces;
//! - this node itself, and ranges outside the cluster range or overlapping
//!   this node's own pod range (a Node object must not be able to take over
//!   a host route such as the default one).
//!
//! [`desired`] and [`plan`] are pure; [`apply`] reads the routes and runs
//! one `ip -batch`.

use std::net::Ipv4Addr;

use tracing::{debug, info, warn};

use crate::cidr::Ipv4Cidr;
use crate::cmd;
use crate::error::NetError;

/// The routing protocol number that marks rkube's routes (`proto 77`).
pub const ROUTE_PROTO: u8 = 77;

/// What a Node says, as far as routes go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerNode {
    pub name: String,
    /// `spec.podCIDR`, as written.
    pub pod_cidr: Option<String>,
    /// The first `InternalIP` of `status.addresses`.
    pub internal_ip: Option<String>,
    /// Annotated `rkube.io/sim: "true"`.
    pub simulated: bool,
}

/// One route: `dst via via`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    pub dst: Ipv4Cidr,
    pub via: Ipv4Addr,
}

/// This node as the routes need it.
#[derive(Clone, Debug)]
pub struct LocalNode {
    pub name: String,
    /// Its own pod range (on its bridge).
    pub pod_cidr: Ipv4Cidr,
    /// The cluster's pod range: only ranges inside it are routed.
    pub cluster_cidr: Ipv4Cidr,
    /// The host's own IPv4 addresses.
    pub addresses: Vec<Ipv4Addr>,
}

/// Why a Node gets no route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skip {
    Own,
    Simulated,
    NoPodCidr,
    NoInternalIp,
    /// The InternalIP is this host's own address.
    LocalAddress(Ipv4Addr),
    /// The pod range is malformed, outside the cluster range or overlaps
    /// this node's.
    BadRange(String),
    BadAddress(String),
}

/// The routes this node should have, by destination (one route a range;
/// two Nodes claiming one range: the first by name wins), and why the
/// others have none.
pub fn desired(local: &LocalNode, nodes: &[PeerNode]) -> (Vec<Route>, Vec<(String, Skip)>) {
    let mut routes: Vec<Route> = Vec::new();
    let mut skipped = Vec::new();
    let mut sorted: Vec<&PeerNode> = nodes.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    for n in sorted {
        let verdict = route_for(local, n);
        match verdict {
            Ok(r) => {
                if routes.iter().any(|o| o.dst.overlaps(&r.dst)) {
                    skipped.push((n.name.clone(), Skip::BadRange(format!("{} taken", r.dst))));
                } else {
                    routes.push(r);
                }
            }
            Err(s) => skipped.push((n.name.clone(), s)),
        }
    }
    routes.sort_by_key(|r| (u32::from(r.dst.network()), r.dst.prefix_len()));
    (routes, skipped)
}

fn route_for(local: &LocalNode, n: &PeerNode) -> Result<Route, Skip> {
    if n.name == local.name {
        return Err(Skip::Own);
    }
    if n.simulated {
        return Err(Skip::Simulated);
    }
    let cidr = n.pod_cidr.as_deref().filter(|c| !c.is_empty());
    let cidr = cidr.ok_or(Skip::NoPodCidr)?;
    let ip = n.internal_ip.as_deref().filter(|c| !c.is_empty());
    let ip = ip.ok_or(Skip::NoInternalIp)?;
    let dst: Ipv4Cidr = cidr.parse().map_err(|_| Skip::BadRange(cidr.to_string()))?;
    if dst.network() != cidr_network_given(cidr) {
        // `10.244.1.7/24`: not a range as written.
        return Err(Skip::BadRange(cidr.to_string()));
    }
    if !local.cluster_cidr.covers(&dst) || dst.overlaps(&local.pod_cidr) {
        return Err(Skip::BadRange(cidr.to_string()));
    }
    let via: Ipv4Addr = ip.parse().map_err(|_| Skip::BadAddress(ip.to_string()))?;
    if local.addresses.contains(&via) || via.is_loopback() {
        return Err(Skip::LocalAddress(via));
    }
    if via.is_unspecified() || via.is_multicast() || via.is_broadcast() {
        return Err(Skip::BadAddress(ip.to_string()));
    }
    Ok(Route { dst, via })
}

fn cidr_network_given(cidr: &str) -> Ipv4Addr {
    cidr.split_once('/')
        .and_then(|(a, _)| a.parse().ok())
        .unwrap_or(Ipv4Addr::UNSPECIFIED)
}

/// rkube's routes as `ip -4 route show proto 77` lists them (only those
/// inside `cluster`).
pub fn parse_current(text: &str, cluster: Ipv4Cidr) -> Vec<Route> {
    let mut out = Vec::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let Some(dst) = words.first().and_then(|d| d.parse::<Ipv4Cidr>().ok()) else {
            continue;
        };
        let via = words
            .windows(2)
            .find(|w| w[0] == "via")
            .and_then(|w| w[1].parse().ok());
        if let Some(via) = via.filter(|_| cluster.covers(&dst)) {
            out.push(Route { dst, via });
        }
    }
    out
}

/// The `ip -batch` lines that take `current` to `want`.
pub fn plan(want: &[Route], current: &[Route]) -> String {
    let mut b = String::new();
    for r in current {
        if !want.iter().any(|w| w.dst == r.dst) {
            b.push_str(&format!(
                "route del {} via {} proto {ROUTE_PROTO}\n",
                r.dst, r.via
            ));
        }
    }
    for r in want {
        if !current.contains(r) {
            b.push_str(&format!(
                "route replace {} via {} proto {ROUTE_PROTO}\n",
                r.dst, r.via
            ));
        }
    }
    b
}

fn ip_args<'a>(netns: Option<&'a str>, rest: &[&'a str]) -> Vec<&'a str> {
    let mut v = Vec::new();
    if let Some(ns) = netns {
        v.extend(["-n", ns]);
    }
    v.extend_from_slice(rest);
    v
}

/// The host's (or the named namespace's) IPv4 addresses.
pub async fn local_addresses(netns: Option<&str>) -> Result<Vec<Ipv4Addr>, NetError> {
    let out = cmd::run(
        cmd::IP,
        &ip_args(netns, &["-4", "-o", "addr", "show"]),
        None,
    )
    .await?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let i = w.iter().position(|x| *x == "inet")?;
            w.get(i + 1)?.split('/').next()?.parse().ok()
        })
        .collect())
}

/// rkube's routes now (inside `cluster`).
pub async fn current(netns: Option<&str>, cluster: Ipv4Cidr) -> Result<Vec<Route>, NetError> {
    let proto = ROUTE_PROTO.to_string();
    let out = cmd::run(
        cmd::IP,
        &ip_args(netns, &["-4", "route", "show", "proto", &proto]),
        None,
    )
    .await?;
    Ok(parse_current(&out, cluster))
}

/// Brings rkube's routes to `want` (in the namespace `netns`, `ip -n`, or
/// the host's). A route that cannot be added (its gateway not on a
/// connected network) is logged; the others still go in.
pub async fn apply(
    netns: Option<&str>,
    cluster: Ipv4Cidr,
    want: &[Route],
) -> Result<usize, NetError> {
    let now = current(netns, cluster).await?;
    let batch = plan(want, &now);
    if batch.is_empty() {
        return Ok(0);
    }
    let changes = batch.lines().count();
    if let Err(e) = cmd::run(
        cmd::IP,
        &ip_args(netns, &["-force", "-batch", "-"]),
        Some(&batch),
    )
    .await
    {
        warn!(error = %e, "some routes to other nodes' pod ranges failed");
    }
    let after = current(netns, cluster).await?;
    let missing: Vec<String> = want
        .iter()
        .filter(|r| !after.contains(r))
        .map(|r| format!("{} via {}", r.dst, r.via))
        .collect();
    if missing.is_empty() {
        info!(
            changes,
            routes = want.len(),
            "routes to other nodes' pod ranges updated"
        );
    } else {
        warn!(?missing, "routes to other nodes' pod ranges not in place");
    }
    debug!(batch, "node routes");
    Ok(changes)
}

/// Removes every route of rkube's inside `cluster` (`rkube reset`).
pub async fn remove_all(netns: Option<&str>, cluster: Ipv4Cidr) -> Result<(), NetError> {
    apply(netns, cluster, &[]).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> LocalNode {
        LocalNode {
            name: "a".into(),
            pod_cidr: "10.244.0.0/24".parse().expect("t"),
            cluster_cidr: "10.244.0.0/16".parse().expect("t"),
            addresses: vec![Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::LOCALHOST],
        }
    }

    fn node(name: &str, cidr: &str, ip: &str, sim: bool) -> PeerNode {
        PeerNode {
            name: name.into(),
            pod_cidr: Some(cidr.into()).filter(|c: &String| !c.is_empty()),
            internal_ip: Some(ip.into()).filter(|c: &String| !c.is_empty()),
            simulated: sim,
        }
    }

    #[test]
    fn real_nodes_get_routes_others_do_not() {
        let nodes = vec![
            node("a", "10.244.0.0/24", "192.168.1.1", false),
            node("b", "10.244.1.0/24", "192.168.1.2", false),
            node("sim-1", "10.244.2.0/24", "10.0.0.9", true),
            node("c", "10.244.3.0/24", "192.168.1.1", false),
            node("d", "", "192.168.1.4", false),
            node("e", "10.244.5.0/24", "", false),
            node("f", "0.0.0.0/0", "192.168.1.6", false),
            node("g", "10.244.0.0/23", "192.168.1.7", false),
            node("h", "10.244.8.0/24", "127.0.0.1", false),
            node("i", "10.244.9.5/24", "192.168.1.9", false),
        ];
        let (routes, skipped) = desired(&local(), &nodes);
        assert_eq!(
            routes,
            vec![Route {
                dst: "10.244.1.0/24".parse().expect("t"),
                via: Ipv4Addr::new(192, 168, 1, 2)
            }]
        );
        let why = |n: &str| skipped.iter().find(|(m, _)| m == n).map(|(_, s)| s.clone());
        assert_eq!(why("a"), Some(Skip::Own));
        assert_eq!(why("sim-1"), Some(Skip::Simulated));
        assert_eq!(
            why("c"),
            Some(Skip::LocalAddress(Ipv4Addr::new(192, 168, 1, 1)))
        );
        assert_eq!(why("d"), Some(Skip::NoPodCidr));
        assert_eq!(why("e"), Some(Skip::NoInternalIp));
        assert!(matches!(why("f"), Some(Skip::BadRange(_))));
        assert!(matches!(why("g"), Some(Skip::BadRange(_))));
        assert!(matches!(why("h"), Some(Skip::LocalAddress(_))));
        assert!(matches!(why("i"), Some(Skip::BadRange(_))));
    }

    #[test]
    fn one_route_per_range() {
        let nodes = vec![
            node("b", "10.244.1.0/24", "192.168.1.2", false),
            node("c", "10.244.1.0/24", "192.168.1.3", false),
        ];
        let (routes, skipped) = desired(&local(), &nodes);
        assert_eq!(routes.len(), 1);
        assert_eq!(routes[0].via, Ipv4Addr::new(192, 168, 1, 2));
        assert_eq!(skipped.len(), 1);
    }

    #[test]
    fn plan_replaces_changed_and_removes_gone() {
        let r = |d: &str, v: [u8; 4]| Route {
            dst: d.parse().expect("t"),
            via: Ipv4Addr::from(v),
        };
        let current = vec![
            r("10.244.1.0/24", [192, 168, 1, 2]),
            r("10.244.2.0/24", [192, 168, 1, 3]),
            r("10.244.3.0/24", [192, 168, 1, 4]),
        ];
        let want = vec![
            r("10.244.1.0/24", [192, 168, 1, 2]),
            r("10.244.2.0/24", [192, 168, 1, 9]),
            r("10.244.4.0/24", [192, 168, 1, 5]),
        ];
        assert_eq!(
            plan(&want, &current),
            "route del 10.244.3.0/24 via 192.168.1.4 proto 77\n\
             route replace 10.244.2.0/24 via 192.168.1.9 proto 77\n\
             route replace 10.244.4.0/24 via 192.168.1.5 proto 77\n"
        );
        assert_eq!(plan(&want, &want), "");
    }

    #[test]
    fn parses_ip_route_output_inside_the_cluster_range() {
        let text = "10.244.1.0/24 via 192.168.1.2 dev eth0 \n\
                    10.9.0.0/24 via 192.168.1.3 dev eth0 \n\
                    default via 192.168.1.254 dev eth0\n";
        assert_eq!(
            parse_current(text, "10.244.0.0/16".parse().expect("t")),
            vec![Route {
                dst: "10.244.1.0/24".parse().expect("t"),
                via: Ipv4Addr::new(192, 168, 1, 2)
            }]
        );
    }
}
