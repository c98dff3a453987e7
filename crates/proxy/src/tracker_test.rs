//! The change tracker: full first, then only what changed.

use super::*;
use std::time::Duration;

fn tracker() -> Tracker {
    let cidr: rkube_net::Ipv4Cidr = "10.244.0.0/16".parse().expect("cidr");
    Tracker::new(
        BaseConfig {
            table: "T".into(),
            bridge: "br0".into(),
            cluster_cidr: cidr,
        },
        Admission::new("n1", cidr, None),
    )
}

fn service(name: &str, ip: &str, proto: &str) -> Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "ns", "name": name},
        "spec": {"clusterIP": ip, "ports": [{"name": "p", "port": 80, "protocol": proto}]}
    }))
    .expect("service")
}

fn slice(svc: &str, name: &str, ips: &[&str], proto: &str) -> EndpointSlice {
    let eps: Vec<serde_json::Value> = ips
        .iter()
        .map(|ip| serde_json::json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": "n1"}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "ns", "name": name, "labels": {LABEL_SERVICE_NAME: svc},
            "annotations": {TRIGGER_TIME: "2026-01-01T00:00:00Z"}},
        "addressType": "IPv4",
        "ports": [{"name": "p", "port": 8080, "protocol": proto}],
        "endpoints": eps
    }))
    .expect("slice")
}

#[test]
fn first_sync_is_full_then_incremental() {
    let mut t = tracker();
    t.update_service(&service("a", "10.96.0.1", "TCP"));
    t.update_service(&service("b", "10.96.0.2", "TCP"));
    t.update_slice(&slice("a", "a-1", &["10.244.0.2"], "TCP"));
    t.update_slice(&slice("b", "b-1", &["10.244.0.3"], "TCP"));
    let plan = t.plan();
    assert!(plan.full);
    assert!(plan
        .script
        .starts_with("add table ip T\ndelete table ip T\n"));
    assert!(plan.script.contains("dnat to 10.244.0.2:8080"));
    assert_eq!(plan.triggers.len(), 2);
    t.commit(plan, Instant::now());
    assert!(!t.pending());

    // One endpoint of b changes: only b's chains and no element.
    t.update_slice(&slice("b", "b-1", &["10.244.0.3", "10.244.0.4"], "TCP"));
    let plan = t.plan();
    assert!(!plan.full);
    assert!(plan.script.contains("dnat to 10.244.0.4:8080"));
    assert!(!plan.script.contains("ns/a/"), "{}", plan.script);
    assert!(!plan.script.contains("service-ips"), "{}", plan.script);
    assert!(plan
        .script
        .contains("add element ip T hairpin-ips { 10.244.0.4 . 10.244.0.4 }"));
    t.commit(plan, Instant::now());

    // The same object again: nothing to do.
    t.update_slice(&slice("b", "b-1", &["10.244.0.3", "10.244.0.4"], "TCP"));
    let plan = t.plan();
    assert!(plan.script.is_empty(), "{}", plan.script);
    t.commit(plan, Instant::now());

    // a loses its endpoint: its chains are flushed (deleted later) and its
    // ClusterIP moves to the reject map.
    t.delete_slice("ns", "a-1");
    let plan = t.plan();
    assert!(plan
        .script
        .contains("delete element ip T service-ips { 10.96.0.1 . tcp . 80 }"));
    assert!(plan.script.contains(
        "add element ip T no-endpoint-services { 10.96.0.1 . tcp . 80 : goto reject-chain }"
    ));
    let now = Instant::now();
    t.commit(plan, now);
    assert_eq!(t.stale_chains(now, Duration::ZERO).len(), 1);
    assert!(t.stale_chains(now, Duration::from_secs(1)).is_empty());
}

#[test]
fn udp_endpoint_removal_plans_conntrack_flushes() {
    let mut t = tracker();
    t.update_service(&service("dns", "10.96.0.10", "UDP"));
    t.update_slice(&slice("dns", "dns-1", &["10.244.0.2", "10.244.0.3"], "UDP"));
    let plan = t.plan();
    t.commit(plan, Instant::now());
    t.update_slice(&slice("dns", "dns-1", &["10.244.0.3"], "UDP"));
    let plan = t.plan();
    let flows: Vec<String> = plan.flushes.iter().map(|f| f.args().join(" ")).collect();
    assert_eq!(
        flows,
        ["-D -p udp --orig-dst 10.96.0.10 --dport 80 --dst-nat 10.244.0.2"]
    );
}

#[test]
fn a_failed_sync_makes_the_next_full_and_relists_converge() {
    let mut t = tracker();
    t.update_service(&service("a", "10.96.0.1", "TCP"));
    let plan = t.plan();
    t.commit(plan, Instant::now());
    t.update_slice(&slice("a", "a-1", &["10.244.0.2"], "TCP"));
    let _lost = t.plan();
    t.force_full();
    let plan = t.plan();
    assert!(plan.full && plan.script.contains("dnat to 10.244.0.2:8080"));
    t.commit(plan, Instant::now());
    // A relist that no longer has the Service removes its rules.
    t.forget_services();
    t.forget_slices();
    let plan = t.plan();
    assert!(
        plan.script
            .contains("delete element ip T cluster-ips { 10.96.0.1 }"),
        "{}",
        plan.script
    );
}

#[test]
fn simulated_nodes_endpoints_outside_the_cluster_range_are_left_out() {
    let mut t = tracker();
    t.update_service(&service("a", "10.96.0.1", "TCP"));
    let mut s = slice("a", "a-1", &["192.0.2.7", "10.244.5.5"], "TCP");
    for e in s.endpoints.iter_mut().flatten() {
        e.node_name = Some("sim-3".into());
    }
    t.update_slice(&s);
    t.set_simulated_nodes(HashSet::from(["sim-3".to_string()]));
    let plan = t.plan();
    assert!(plan.script.contains("dnat to 10.244.5.5:8080"));
    assert!(!plan.script.contains("192.0.2.7"));
}

#[test]
fn health_checks_count_local_ready_endpoints() {
    let mut t = tracker();
    let svc: Service = serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "ns", "name": "lb"},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.9", "externalTrafficPolicy": "Local",
            "healthCheckNodePort": 32000, "ports": [{"name": "p", "port": 80, "nodePort": 30001}]}
    }))
    .expect("svc");
    t.update_service(&svc);
    t.update_slice(&slice("lb", "lb-1", &["10.244.0.2", "10.244.0.3"], "TCP"));
    assert_eq!(
        t.health_checks(),
        vec![HealthCheck {
            service: ServiceName::new("ns", "lb"),
            port: 32000,
            local_endpoints: 2
        }]
    );
}
