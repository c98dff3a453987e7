//! The rule text of one Service: what kube-proxy's nftables mode writes.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::*;
use crate::model::{ServiceName, TrafficPolicy};

fn cidr() -> Ipv4Cidr {
    "10.244.0.0/16".parse().expect("cidr")
}

fn port(proto: Protocol) -> ServicePort {
    ServicePort {
        name: ServicePortName {
            service: ServiceName::new("ns", "web"),
            port: "http".into(),
            protocol: proto,
        },
        cluster_ip: Ipv4Addr::new(10, 96, 0, 7),
        port: 80,
        node_port: 0,
        external_ips: vec![],
        load_balancer_ips: vec![],
        source_ranges: vec![],
        affinity_timeout: None,
        internal_policy: TrafficPolicy::Cluster,
        external_policy: TrafficPolicy::Cluster,
        health_check_node_port: 0,
    }
}

fn ep(last: u8, local: bool) -> Endpoint {
    Endpoint {
        ip: Ipv4Addr::new(10, 244, 0, last),
        port: 8080,
        ready: true,
        serving: true,
        terminating: false,
        local,
    }
}

fn eps(list: Vec<Endpoint>, proto: Protocol) -> BTreeMap<(String, Protocol), Vec<Endpoint>> {
    BTreeMap::from([(("http".to_string(), proto), list)])
}

fn element<'a>(r: &'a ServiceRules, map: &str, key: &str) -> Option<&'a str> {
    r.elements
        .iter()
        .find(|e| e.map == map && e.key == key)
        .map(|e| e.value.as_deref().unwrap_or(""))
}

#[test]
fn cluster_ip_balances_over_endpoints() {
    let p = port(Protocol::Tcp);
    let r = service_rules(
        std::slice::from_ref(&p),
        &eps(vec![ep(2, true), ep(3, false)], Protocol::Tcp),
        cidr(),
    );
    let svc = names::service_chain(&p.name);
    assert_eq!(
        r.chains[&svc],
        vec![
            "ip daddr 10.96.0.7 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade"
                .to_string(),
            "numgen random mod 2 == 0 meta l4proto tcp dnat to 10.244.0.2:8080".to_string(),
            "meta l4proto tcp dnat to 10.244.0.3:8080".to_string(),
        ]
    );
    assert_eq!(
        element(&r, HAIRPIN_IPS, "10.244.0.2 . 10.244.0.2"),
        Some("")
    );
    assert_eq!(
        element(&r, SERVICE_IPS, "10.96.0.7 . tcp . 80"),
        Some(format!("goto {svc}").as_str())
    );
    assert_eq!(element(&r, CLUSTER_IPS, "10.96.0.7"), Some(""));
    assert_eq!(
        element(&r, NO_ENDPOINT_SERVICES, "10.96.0.7 . tcp . 80"),
        None
    );
    assert_eq!(r.chains.len(), 1);
    assert!(r.sets.is_empty());
}

#[test]
fn no_endpoints_rejects_and_writes_no_chains() {
    let mut p = port(Protocol::Udp);
    p.node_port = 30053;
    let r = service_rules(&[p], &BTreeMap::new(), cidr());
    assert!(r.chains.is_empty());
    assert_eq!(
        element(&r, NO_ENDPOINT_SERVICES, "10.96.0.7 . udp . 80"),
        Some("goto reject-chain")
    );
    assert_eq!(
        element(&r, NO_ENDPOINT_NODEPORTS, "udp . 30053"),
        Some("goto reject-chain")
    );
    assert_eq!(element(&r, SERVICE_IPS, "10.96.0.7 . udp . 80"), None);
    // Unready endpoints are not endpoints.
    let mut unready = ep(2, true);
    unready.ready = false;
    unready.serving = false;
    let r = service_rules(
        &[port(Protocol::Tcp)],
        &eps(vec![unready], Protocol::Tcp),
        cidr(),
    );
    assert_eq!(
        element(&r, NO_ENDPOINT_SERVICES, "10.96.0.7 . tcp . 80"),
        Some("goto reject-chain")
    );
}

#[test]
fn client_ip_affinity_sticks_through_sets() {
    let mut p = port(Protocol::Tcp);
    p.affinity_timeout = Some(30);
    let r = service_rules(
        std::slice::from_ref(&p),
        &eps(vec![ep(2, false)], Protocol::Tcp),
        cidr(),
    );
    let set = names::affinity_set(&p.name, &ep(2, false), 30);
    assert_eq!(r.sets.get(&set), Some(&30));
    let svc = &r.chains[&names::service_chain(&p.name)];
    let pick = format!("update @{set} {{ ip saddr }} meta l4proto tcp dnat to 10.244.0.2:8080");
    assert_eq!(svc[1], format!("ip saddr @{set} {pick}"));
    assert_eq!(svc[2], pick);
}

#[test]
fn node_port_external_and_lb_ips_go_through_the_external_chain() {
    let mut p = port(Protocol::Tcp);
    p.node_port = 30080;
    p.external_ips = vec![Ipv4Addr::new(192, 0, 2, 1)];
    p.load_balancer_ips = vec![Ipv4Addr::new(192, 0, 2, 2)];
    p.source_ranges = vec![(Ipv4Addr::new(198, 51, 100, 0), 24)];
    let r = service_rules(
        std::slice::from_ref(&p),
        &eps(vec![ep(2, false)], Protocol::Tcp),
        cidr(),
    );
    let ext = names::external_chain(&p.name);
    let goto_ext = format!("goto {ext}");
    assert_eq!(
        element(&r, SERVICE_NODEPORTS, "tcp . 30080"),
        Some(goto_ext.as_str())
    );
    assert_eq!(
        element(&r, SERVICE_IPS, "192.0.2.1 . tcp . 80"),
        Some(goto_ext.as_str())
    );
    assert_eq!(
        element(&r, SERVICE_IPS, "192.0.2.2 . tcp . 80"),
        Some(goto_ext.as_str())
    );
    assert_eq!(
        r.chains[&ext],
        vec![
            "jump mark-for-masquerade".to_string(),
            format!("goto {}", names::service_chain(&p.name)),
        ]
    );
    let fw = names::firewall_chain(&p.name);
    assert_eq!(
        element(&r, FIREWALL_IPS, "192.0.2.2 . tcp . 80"),
        Some(format!("goto {fw}").as_str())
    );
    assert_eq!(
        r.chains[&fw],
        vec!["ip saddr != { 198.51.100.0/24, 192.0.2.2 } drop".to_string()]
    );
}

#[test]
fn external_local_keeps_the_source_and_short_circuits_pods() {
    let mut p = port(Protocol::Tcp);
    p.node_port = 30080;
    p.external_policy = TrafficPolicy::Local;
    p.health_check_node_port = 31000;
    let r = service_rules(
        std::slice::from_ref(&p),
        &eps(vec![ep(2, true), ep(3, false)], Protocol::Tcp),
        cidr(),
    );
    let svc = names::service_chain(&p.name);
    let local = names::local_chain(&p.name);
    let ext = &r.chains[&names::external_chain(&p.name)];
    assert_eq!(
        ext[0],
        format!("ip saddr 10.244.0.0/16 goto {svc} comment \"short-circuit pod traffic\"")
    );
    assert!(ext[1].starts_with("fib saddr type local jump mark-for-masquerade"));
    assert!(ext[2].starts_with(&format!("fib saddr type local goto {svc}")));
    assert_eq!(ext[3], format!("goto {local}"));
    assert!(!ext.iter().any(|r| r == "jump mark-for-masquerade"));
    assert_eq!(
        r.chains[&local],
        vec!["meta l4proto tcp dnat to 10.244.0.2:8080".to_string()]
    );
    // No local endpoint: external traffic is dropped, pods still get through.
    let r = service_rules(
        std::slice::from_ref(&p),
        &eps(vec![ep(3, false)], Protocol::Tcp),
        cidr(),
    );
    assert_eq!(
        element(&r, NO_ENDPOINT_NODEPORTS, "tcp . 30080"),
        Some("drop")
    );
    assert_eq!(
        element(&r, SERVICE_NODEPORTS, "tcp . 30080"),
        Some(format!("goto {}", names::external_chain(&p.name)).as_str())
    );
    assert!(!r.chains.contains_key(&local));
}

#[test]
fn internal_local_uses_only_this_nodes_endpoints() {
    let mut p = port(Protocol::Udp);
    p.internal_policy = TrafficPolicy::Local;
    let r = service_rules(
        std::slice::from_ref(&p),
        &eps(vec![ep(2, true), ep(3, false)], Protocol::Udp),
        cidr(),
    );
    let local = names::local_chain(&p.name);
    assert_eq!(
        element(&r, SERVICE_IPS, "10.96.0.7 . udp . 80"),
        Some(format!("goto {local}").as_str())
    );
    assert!(!r.chains.contains_key(&names::service_chain(&p.name)));
    assert_eq!(r.ports[0].endpoints, vec![Ipv4Addr::new(10, 244, 0, 2)]);
    let r = service_rules(&[p], &eps(vec![ep(3, false)], Protocol::Udp), cidr());
    assert_eq!(
        element(&r, NO_ENDPOINT_SERVICES, "10.96.0.7 . udp . 80"),
        Some("drop")
    );
}
