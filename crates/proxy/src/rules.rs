//! The rules of one Service ([`service_rules`]): its chains, affinity sets
//! and map elements, after kube-proxy's nftables mode. A pure function of
//! the Service's ports and endpoints, so the change tracker can rebuild one
//! Service alone and compare.
//!
//! Per port:
//! - `service-…` (Cluster policy) and `local-…` (Local policy): the
//!   affinity rules (`ip saddr @affinity-… goto endpoint-…`) then one
//!   `numgen random mod (N-i) == 0 goto endpoint-…` per endpoint (see
//!   [`dispatch`]);
//! - no per-endpoint chains (see [`dispatch`]): the chosen rule updates
//!   the affinity set and DNATs; hairpin traffic is found by `hairpin-ips`;
//! - `external-…` for NodePort, external and load balancer IPs: masquerade
//!   under `Cluster` policy; under `Local` policy pods and the node itself
//!   short-circuit to `service-…`, the rest goes to `local-…`;
//! - `firewall-…`: `loadBalancerSourceRanges`;
//! - elements of `service-ips`, `service-nodeports` (where traffic goes),
//!   `no-endpoint-services`, `no-endpoint-nodeports` (REJECT without
//!   endpoints, drop without local ones), `firewall-ips`, `cluster-ips`,
//!   `hairpin-ips`.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use rkube_net::Ipv4Cidr;

use crate::endpoints::{categorize, port_endpoints};
use crate::model::{Endpoint, Protocol, ServicePort, ServicePortName, TrafficPolicy};
use crate::names;

pub const SERVICE_IPS: &str = "service-ips";
pub const SERVICE_NODEPORTS: &str = "service-nodeports";
pub const NO_ENDPOINT_SERVICES: &str = "no-endpoint-services";
pub const NO_ENDPOINT_NODEPORTS: &str = "no-endpoint-nodeports";
pub const FIREWALL_IPS: &str = "firewall-ips";
/// A set, not a map: every ClusterIP (traffic to one that no port took is
/// rejected after DNAT).
pub const CLUSTER_IPS: &str = "cluster-ips";
/// A set of `ip . ip` pairs, one per endpoint: traffic DNATed back to
/// the pod that sent it is masqueraded.
pub const HAIRPIN_IPS: &str = "hairpin-ips";
pub const REJECT_CHAIN: &str = "reject-chain";
pub const MARK_MASQ_CHAIN: &str = "mark-for-masquerade";

/// One element of one of the table's maps or sets.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Element {
    pub map: &'static str,
    pub key: String,
    /// The verdict (maps); `None` in a set.
    pub value: Option<String>,
}

/// What the conntrack cleanup and the health checks need of one port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSummary {
    pub name: ServicePortName,
    /// ClusterIP, external IPs and load balancer IPs.
    pub ips: Vec<Ipv4Addr>,
    pub port: u16,
    pub node_port: u16,
    /// Addresses of the endpoints some rule sends to.
    pub endpoints: Vec<Ipv4Addr>,
}

/// Everything one Service puts in the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceRules {
    /// Chain name → its rules, in order.
    pub chains: BTreeMap<String, Vec<String>>,
    /// Affinity set name → timeout in seconds.
    pub sets: BTreeMap<String, u32>,
    pub elements: Vec<Element>,
    pub ports: Vec<PortSummary>,
}

/// The rules of a Service's ports given its endpoints (by port name and
/// protocol) and the cluster's pod range (traffic from outside it is
/// masqueraded).
pub fn service_rules(
    ports: &[ServicePort],
    endpoints: &BTreeMap<(String, Protocol), Vec<Endpoint>>,
    cluster_cidr: Ipv4Cidr,
) -> ServiceRules {
    let mut out = ServiceRules::default();
    for port in ports {
        port_rules(
            &mut out,
            port,
            port_endpoints(endpoints, &port.name),
            cluster_cidr,
        );
    }
    out
}

fn port_rules(out: &mut ServiceRules, port: &ServicePort, eps: &[Endpoint], cluster: Ipv4Cidr) {
    let name = &port.name;
    let proto = name.protocol.nft();
    let cat = categorize(port, eps);
    let service_chain = names::service_chain(name);
    let local_chain = names::local_chain(name);
    let external_chain = names::external_chain(name);
    let firewall_chain = names::firewall_chain(name);

    let uses_cluster_chain = !cat.cluster.is_empty() && port.uses_cluster_endpoints();
    let uses_local_chain = !cat.local.is_empty() && port.uses_local_endpoints();
    let internal_local = port.internal_policy == TrafficPolicy::Local;
    let external_local = port.external_policy == TrafficPolicy::Local;
    let internal_chain = if internal_local {
        &local_chain
    } else {
        &service_chain
    };
    let has_internal = cat.any && (!internal_local || !cat.local.is_empty());
    let external_policy_chain = if external_local {
        &local_chain
    } else {
        &service_chain
    };
    let has_external = cat.any && (!external_local || !cat.local.is_empty());
    let uses_external_chain = cat.any && port.externally_accessible();
    // No endpoint anywhere: REJECT; none for this policy on this node: drop.
    let internal_verdict = if cat.any {
        "drop".to_string()
    } else {
        format!("goto {REJECT_CHAIN}")
    };
    let external_verdict = internal_verdict.clone();

    let key = |ip: Ipv4Addr| format!("{ip} . {proto} . {}", port.port);
    let el = |map: &'static str, key: String, value: String| Element {
        map,
        key,
        value: Some(value),
    };

    out.elements.push(Element {
        map: CLUSTER_IPS,
        key: port.cluster_ip.to_string(),
        value: None,
    });
    if has_internal {
        out.elements.push(el(
            SERVICE_IPS,
            key(port.cluster_ip),
            format!("goto {internal_chain}"),
        ));
    } else {
        out.elements.push(el(
            NO_ENDPOINT_SERVICES,
            key(port.cluster_ip),
            internal_verdict,
        ));
    }
    for ip in &port.external_ips {
        if cat.any {
            out.elements
                .push(el(SERVICE_IPS, key(*ip), format!("goto {external_chain}")));
        }
        if !has_external {
            out.elements
                .push(el(NO_ENDPOINT_SERVICES, key(*ip), external_verdict.clone()));
        }
    }
    let uses_firewall = !port.load_balancer_ips.is_empty() && !port.source_ranges.is_empty();
    if uses_firewall {
        let mut sources: Vec<String> = port
            .source_ranges
            .iter()
            .map(|(ip, len)| format!("{ip}/{len}"))
            .collect();
        sources.extend(port.load_balancer_ips.iter().map(Ipv4Addr::to_string));
        out.chains.insert(
            firewall_chain.clone(),
            vec![format!("ip saddr != {{ {} }} drop", sources.join(", "))],
        );
    }
    for ip in &port.load_balancer_ips {
        if cat.any {
            out.elements
                .push(el(SERVICE_IPS, key(*ip), format!("goto {external_chain}")));
        }
        if uses_firewall {
            out.elements
                .push(el(FIREWALL_IPS, key(*ip), format!("goto {firewall_chain}")));
        }
        if !has_external {
            out.elements
                .push(el(NO_ENDPOINT_SERVICES, key(*ip), external_verdict.clone()));
        }
    }
    if port.node_port != 0 {
        let np_key = format!("{proto} . {}", port.node_port);
        if cat.any {
            out.elements.push(el(
                SERVICE_NODEPORTS,
                np_key.clone(),
                format!("goto {external_chain}"),
            ));
        }
        if !has_external {
            out.elements
                .push(el(NO_ENDPOINT_NODEPORTS, np_key, external_verdict));
        }
    }

    // Traffic to the ClusterIP from outside the cluster's pod range (the
    // node itself, other hosts routing the service range here) is
    // masqueraded, so replies come back through this node.
    if has_internal {
        out.chains
            .entry(internal_chain.clone())
            .or_default()
            .push(format!(
                "ip daddr {} {proto} dport {} ip saddr != {cluster} jump {MARK_MASQ_CHAIN}",
                port.cluster_ip, port.port
            ));
    }
    if uses_external_chain {
        let rules = out.chains.entry(external_chain.clone()).or_default();
        if !external_local {
            rules.push(format!("jump {MARK_MASQ_CHAIN}"));
        } else {
            // Pods and the node itself are not subject to the external
            // policy (as if they went out to a load balancer and back).
            rules.push(format!(
                "ip saddr {cluster} goto {service_chain} comment \"short-circuit pod traffic\""
            ));
            rules.push(format!(
                "fib saddr type local jump {MARK_MASQ_CHAIN} comment \"masquerade local traffic\""
            ));
            rules.push(format!(
                "fib saddr type local goto {service_chain} comment \"short-circuit local traffic\""
            ));
        }
        if has_external {
            rules.push(format!("goto {external_policy_chain}"));
        }
    }
    if let Some(timeout) = port.affinity_timeout {
        for e in &cat.reachable {
            out.sets
                .insert(names::affinity_set(name, e, timeout), timeout);
        }
    }
    if uses_cluster_chain {
        dispatch(out, port, &service_chain, &cat.cluster);
    }
    if uses_local_chain {
        dispatch(out, port, &local_chain, &cat.local);
    }
    // Hairpin: a pod that reaches itself through the Service is
    // masqueraded (in `masquerading`, by this set of `ip . ip` pairs).
    for e in &cat.reachable {
        out.elements.push(Element {
            map: HAIRPIN_IPS,
            key: format!("{} . {}", e.ip, e.ip),
            value: None,
        });
    }

    let mut ips = vec![port.cluster_ip];
    ips.extend(&port.external_ips);
    ips.extend(&port.load_balancer_ips);
    out.ports.push(PortSummary {
        name: name.clone(),
        ips,
        port: port.port,
        node_port: port.node_port,
        endpoints: cat.reachable.iter().map(|e| e.ip).collect(),
    });
}

/// A policy chain's rules: clients stuck to an endpoint go back to it,
/// the rest pick one at random; the chosen rule records the client in the
/// endpoint's affinity set and DNATs.
///
/// Unlike kube-proxy there are no per-endpoint chains and no anonymous
/// verdict map: nft 1.0.6 reads every chain of the table, and every set's
/// elements in a dump of its own, before each transaction — with 1,000
/// Services × 10 endpoints that made each small update cost ~200 ms
/// instead of ~45 ms on a loaded 2-core host. One rule per endpoint draws
/// its own number: endpoint i is taken with probability 1/(N-i) when none
/// before it was, which is 1/N overall (iptables' `statistic` scheme).
fn dispatch(out: &mut ServiceRules, port: &ServicePort, chain: &str, eps: &[Endpoint]) {
    let proto = port.name.protocol.nft();
    let rules = out.chains.entry(chain.to_string()).or_default();
    let action = |e: &Endpoint| match port.affinity_timeout {
        Some(timeout) => format!(
            "update @{} {{ ip saddr }} meta l4proto {proto} dnat to {}:{}",
            names::affinity_set(&port.name, e, timeout),
            e.ip,
            e.port
        ),
        None => format!("meta l4proto {proto} dnat to {}:{}", e.ip, e.port),
    };
    if let Some(timeout) = port.affinity_timeout {
        for e in eps {
            rules.push(format!(
                "ip saddr @{} {}",
                names::affinity_set(&port.name, e, timeout),
                action(e)
            ));
        }
    }
    let n = eps.len();
    for (i, e) in eps.iter().enumerate() {
        if i + 1 == n {
            rules.push(action(e));
        } else {
            rules.push(format!("numgen random mod {} == 0 {}", n - i, action(e)));
        }
    }
}

#[cfg(test)]
#[path = "rules_test.rs"]
mod tests;
