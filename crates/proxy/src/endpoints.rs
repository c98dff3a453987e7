//! Endpoints from EndpointSlices (`discovery.k8s.io/v1`): which addresses
//! of a Service's slices may appear in rules at all ([`Admission`]), the
//! endpoints of each Service port ([`service_endpoints`]), and which of
//! them each kind of traffic uses ([`categorize`], as kube-proxy's
//! `CategorizeEndpoints`: ready endpoints; if none is ready, those serving
//! and terminating).
//!
//! # Which addresses are admitted (nothing leaves the machine by accident)
//! - inside the cluster's pod range: yes — the node's own range is on its
//!   bridge, the rest of the cluster range is routed to rkube's dummy
//!   interface (`rkube-net`), so DNAT to a simulated pod ends there;
//! - outside it, on a simulated node (annotation `rkube.io/sim: "true"`):
//!   never (made-up addresses may exist somewhere real);
//! - outside it otherwise: only loopback (`127.0.0.0/8`), the node's IP and
//!   the host's own addresses — the `kubernetes` Service's endpoint is the
//!   API server's advertised address (127.0.0.1 by default), hostNetwork
//!   pods use the node's IP. Any other address (a selector-less Service's
//!   hand-written slice pointing elsewhere) is left out, so its Service
//!   gets no endpoints from it.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::Ipv4Addr;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use rkube_net::Ipv4Cidr;

use crate::model::{Endpoint, Protocol, ServicePort, ServicePortName};

/// The label naming a slice's Service.
pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";

/// Which endpoint addresses may get rules (see the module's docs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admission {
    pub node_name: String,
    pub cluster_cidr: Ipv4Cidr,
    pub node_ip: Option<Ipv4Addr>,
    /// Names of the simulated nodes.
    pub simulated_nodes: HashSet<String>,
    /// The host's own IPv4 addresses.
    pub local_addresses: BTreeSet<Ipv4Addr>,
}

impl Admission {
    pub fn new(node_name: &str, cluster_cidr: Ipv4Cidr, node_ip: Option<Ipv4Addr>) -> Admission {
        Admission {
            node_name: node_name.to_string(),
            cluster_cidr,
            node_ip,
            simulated_nodes: HashSet::new(),
            local_addresses: BTreeSet::new(),
        }
    }

    /// Whether an endpoint at `ip` on `node` may appear in rules.
    pub fn admits(&self, ip: Ipv4Addr, node: Option<&str>) -> bool {
        if self.cluster_cidr.contains(ip) {
            return true;
        }
        if node.is_some_and(|n| self.simulated_nodes.contains(n)) {
            return false;
        }
        ip.is_loopback() || Some(ip) == self.node_ip || self.local_addresses.contains(&ip)
    }
}

/// The endpoints of each port of one Service, from all its slices:
/// deduplicated by address and port (a ready copy wins), sorted.
pub fn service_endpoints<'a>(
    slices: impl IntoIterator<Item = &'a EndpointSlice>,
    admission: &Admission,
) -> BTreeMap<(String, Protocol), Vec<Endpoint>> {
    let mut out: BTreeMap<(String, Protocol), BTreeMap<(Ipv4Addr, u16), Endpoint>> =
        BTreeMap::new();
    for slice in slices {
        if slice.address_type != "IPv4" {
            continue;
        }
        for port in slice.ports.as_deref().unwrap_or(&[]) {
            let Some(protocol) = Protocol::parse(port.protocol.as_deref()) else {
                continue;
            };
            let Some(number) = port.port.and_then(|p| u16::try_from(p).ok()) else {
                continue;
            };
            let by_addr = out
                .entry((port.name.clone().unwrap_or_default(), protocol))
                .or_default();
            for ep in slice.endpoints.as_deref().unwrap_or(&[]) {
                let node = ep.node_name.as_deref();
                let cond = ep.conditions.as_ref();
                // As the API says: an unknown ready or serving is ready.
                let ready = cond.and_then(|c| c.ready).unwrap_or(true);
                let serving = cond.and_then(|c| c.serving).unwrap_or(ready);
                let terminating = cond.and_then(|c| c.terminating).unwrap_or(false);
                // One address per endpoint counts (the API allows only one).
                let Some(ip) = ep
                    .addresses
                    .first()
                    .and_then(|a| a.parse::<Ipv4Addr>().ok())
                else {
                    continue;
                };
                if !admission.admits(ip, node) {
                    continue;
                }
                let e = Endpoint {
                    ip,
                    port: number,
                    ready,
                    serving,
                    terminating,
                    local: node == Some(admission.node_name.as_str()),
                };
                by_addr
                    .entry((ip, number))
                    .and_modify(|old| {
                        if !old.ready && e.ready {
                            *old = e.clone();
                        }
                    })
                    .or_insert(e);
            }
        }
    }
    out.into_iter()
        .map(|(k, v)| (k, v.into_values().collect()))
        .collect()
}

/// The endpoints of one port of a Service.
pub fn port_endpoints<'a>(
    all: &'a BTreeMap<(String, Protocol), Vec<Endpoint>>,
    name: &ServicePortName,
) -> &'a [Endpoint] {
    all.get(&(name.port.clone(), name.protocol))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Which endpoints each kind of traffic uses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Categorized {
    /// For `Cluster` policies.
    pub cluster: Vec<Endpoint>,
    /// For `Local` policies: this node's.
    pub local: Vec<Endpoint>,
    /// Every endpoint some rule may send to (each gets a chain).
    pub reachable: Vec<Endpoint>,
    /// Whether the Service has a usable endpoint anywhere.
    pub any: bool,
}

/// kube-proxy's categorisation: ready endpoints, or if there are none the
/// serving and terminating ones (so connections drain to pods on their way
/// out rather than fail); the same again among this node's endpoints.
pub fn categorize(port: &ServicePort, endpoints: &[Endpoint]) -> Categorized {
    let mut c = Categorized::default();
    let pick = |keep: &dyn Fn(&Endpoint) -> bool| -> Vec<Endpoint> {
        let ready: Vec<Endpoint> = endpoints
            .iter()
            .filter(|e| keep(e) && e.ready)
            .cloned()
            .collect();
        if !ready.is_empty() {
            return ready;
        }
        endpoints
            .iter()
            .filter(|e| keep(e) && e.serving && e.terminating)
            .cloned()
            .collect()
    };
    if port.uses_cluster_endpoints() {
        c.cluster = pick(&|_| true);
        c.any = !c.cluster.is_empty();
    }
    if !port.uses_local_endpoints() {
        c.reachable = c.cluster.clone();
        return c;
    }
    c.any = c.any
        || endpoints
            .iter()
            .any(|e| e.ready || (e.serving && e.terminating));
    c.local = pick(&|e| e.local);
    if !port.uses_cluster_endpoints() {
        c.reachable = c.local.clone();
        return c;
    }
    let set: BTreeSet<Endpoint> = c.cluster.iter().chain(c.local.iter()).cloned().collect();
    c.reachable = set.into_iter().collect();
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ServiceName, TrafficPolicy};

    fn admission() -> Admission {
        let mut a = Admission::new(
            "n1",
            "10.244.0.0/16".parse().expect("cidr"),
            Some(Ipv4Addr::new(192, 168, 5, 5)),
        );
        a.simulated_nodes.insert("sim-1".to_string());
        a
    }

    fn slice(json: serde_json::Value) -> EndpointSlice {
        serde_json::from_value(json).expect("slice")
    }

    fn port(internal: TrafficPolicy, node_port: u16, external: TrafficPolicy) -> ServicePort {
        ServicePort {
            name: ServicePortName {
                service: ServiceName::new("a", "b"),
                port: "http".to_string(),
                protocol: Protocol::Tcp,
            },
            cluster_ip: Ipv4Addr::new(10, 96, 0, 9),
            port: 80,
            node_port,
            external_ips: vec![],
            load_balancer_ips: vec![],
            source_ranges: vec![],
            affinity_timeout: None,
            internal_policy: internal,
            external_policy: external,
            health_check_node_port: 0,
        }
    }

    fn ep(last: u8, ready: bool, serving: bool, terminating: bool, local: bool) -> Endpoint {
        Endpoint {
            ip: Ipv4Addr::new(10, 244, 0, last),
            port: 8080,
            ready,
            serving,
            terminating,
            local,
        }
    }

    #[test]
    fn only_safe_addresses_are_admitted() {
        let a = admission();
        assert!(a.admits(Ipv4Addr::new(10, 244, 9, 9), Some("sim-1")));
        assert!(a.admits(Ipv4Addr::new(127, 0, 0, 1), None));
        assert!(a.admits(Ipv4Addr::new(192, 168, 5, 5), Some("n1")));
        assert!(!a.admits(Ipv4Addr::new(192, 168, 5, 5), Some("sim-1")));
        assert!(!a.admits(Ipv4Addr::new(8, 8, 8, 8), None));
        assert!(!a.admits(Ipv4Addr::new(172, 17, 0, 3), Some("n1")));
    }

    #[test]
    fn slices_merge_by_port_and_drop_what_is_not_admitted() {
        let s1 = slice(serde_json::json!({
            "metadata": {"name": "b-1", "namespace": "a", "labels": {LABEL_SERVICE_NAME: "b"}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.244.0.2"], "conditions": {"ready": true}, "nodeName": "n1"},
                {"addresses": ["10.244.0.3"], "conditions": {"ready": false, "serving": true, "terminating": true}, "nodeName": "n2"},
                {"addresses": ["1.2.3.4"], "conditions": {"ready": true}}
            ]
        }));
        let s2 = slice(serde_json::json!({
            "metadata": {"name": "b-2", "namespace": "a"},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": 8080}],
            "endpoints": [
                {"addresses": ["10.244.0.3"], "conditions": {"ready": true}, "nodeName": "n2"},
                {"addresses": ["10.244.0.4"]}
            ]
        }));
        let map = service_endpoints([&s1, &s2], &admission());
        let eps = &map[&("http".to_string(), Protocol::Tcp)];
        let ips: Vec<String> = eps.iter().map(|e| e.ip.to_string()).collect();
        assert_eq!(ips, ["10.244.0.2", "10.244.0.3", "10.244.0.4"]);
        assert!(eps.iter().all(|e| e.ready));
        assert!(eps[0].local && !eps[1].local);
    }

    #[test]
    fn ready_first_then_serving_terminating() {
        let p = port(TrafficPolicy::Cluster, 0, TrafficPolicy::Cluster);
        let eps = vec![
            ep(2, true, true, false, false),
            ep(3, false, true, true, true),
        ];
        let c = categorize(&p, &eps);
        assert_eq!(c.cluster, vec![eps[0].clone()]);
        assert!(c.any && c.local.is_empty());
        let draining = vec![
            ep(3, false, true, true, false),
            ep(4, false, false, true, false),
        ];
        let c = categorize(&p, &draining);
        assert_eq!(c.cluster, vec![draining[0].clone()]);
        let c = categorize(&p, &[ep(5, false, false, false, false)]);
        assert!(!c.any && c.reachable.is_empty());
    }

    #[test]
    fn local_policies_pick_this_nodes_endpoints() {
        let eps = vec![
            ep(2, true, true, false, false),
            ep(3, true, true, false, true),
        ];
        let internal_local = port(TrafficPolicy::Local, 0, TrafficPolicy::Cluster);
        let c = categorize(&internal_local, &eps);
        assert!(c.cluster.is_empty());
        assert_eq!(c.local, vec![eps[1].clone()]);
        assert_eq!(c.reachable, vec![eps[1].clone()]);
        let remote_only = categorize(&internal_local, &eps[..1]);
        assert!(remote_only.any && remote_only.local.is_empty());
        let external_local = port(TrafficPolicy::Cluster, 30000, TrafficPolicy::Local);
        let c = categorize(&external_local, &eps);
        assert_eq!(c.cluster.len(), 2);
        assert_eq!(c.local, vec![eps[1].clone()]);
        assert_eq!(c.reachable.len(), 2);
    }
}
