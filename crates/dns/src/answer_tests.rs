//! The records of [`answer`] against built snapshots, as CoreDNS's
//! kubernetes plugin gives them.

use std::net::Ipv4Addr;

use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, PTR, SRV, TXT};
use hickory_proto::rr::{Name, RData, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use super::*;
use crate::snapshot::Snapshot;

fn svc(ns: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
        .expect("service")
}

fn slice(
    ns: &str,
    svc: &str,
    endpoints: serde_json::Value,
    ports: serde_json::Value,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{svc}-abc"), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": ports,
    }))
    .expect("slice")
}

fn snapshot() -> Snapshot {
    let services = [
        svc(
            "default",
            "kubernetes",
            json!({"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}),
        ),
        svc(
            "kube-system",
            "kube-dns",
            json!({"clusterIP": "10.96.0.10",
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                      {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}),
        ),
        svc(
            "shop",
            "db",
            json!({"clusterIP": "None", "clusterIPs": ["None"],
            "ports": [{"name": "pg", "port": 5432}]}),
        ),
        svc(
            "shop",
            "peers",
            json!({"clusterIP": "None", "publishNotReadyAddresses": true}),
        ),
        svc(
            "shop",
            "ext",
            json!({"type": "ExternalName", "externalName": "db.example.test"}),
        ),
        svc(
            "shop",
            "alias",
            json!({"type": "ExternalName", "externalName": "kubernetes.default.svc.cluster.local"}),
        ),
    ];
    let slices = [
        slice(
            "shop",
            "db",
            json!([
                {"addresses": ["10.244.0.5"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.244.0.6"], "conditions": {"ready": true}},
                {"addresses": ["10.244.0.7"], "hostname": "db-2", "conditions": {"ready": false}},
            ]),
            json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        ),
        slice(
            "shop",
            "peers",
            json!([
                {"addresses": ["10.244.0.8"], "hostname": "p-0", "conditions": {"ready": false}},
            ]),
            json!([]),
        ),
    ];
    Snapshot::build("cluster.local", services.iter(), slices.iter(), 42)
}

fn ask(snap: &Snapshot, name: &str, qtype: RecordType) -> Outcome {
    let mut req = Message::new();
    req.set_id(7).set_recursion_desired(true);
    req.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    answer(&req, snap)
}

fn reply(o: Outcome) -> Message {
    match o {
        Outcome::Reply(m) => m,
        other => panic!("expected a reply, got {other:?}"),
    }
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

fn ip(s: &str) -> Ipv4Addr {
    s.parse().expect("ip")
}

#[test]
fn cluster_ip_services_answer_a_with_ttl_5_whatever_the_case() {
    let snap = snapshot();
    let m = reply(ask(
        &snap,
        "KuberNetes.Default.svc.Cluster.Local.",
        RecordType::A,
    ));
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.authoritative());
    assert_eq!(m.id(), 7);
    assert_eq!(a_records(&m), vec![ip("10.96.0.1")]);
    assert_eq!(m.answers()[0].ttl(), 5);
    // The owner is the name as asked.
    assert_eq!(
        m.answers()[0].name().to_ascii(),
        "KuberNetes.Default.svc.Cluster.Local."
    );
}

#[test]
fn nodata_and_nxdomain_carry_the_soa() {
    let snap = snapshot();
    // An IPv4-only name asked for AAAA: NODATA.
    let m = reply(ask(
        &snap,
        "kubernetes.default.svc.cluster.local.",
        RecordType::AAAA,
    ));
    assert_eq!(m.response_code(), ResponseCode::NoError);
    assert!(m.answers().is_empty());
    assert_eq!(m.name_servers().len(), 1);
    assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA);
    // Names between the zone and a Service exist (empty non-terminals).
    for name in ["default.svc.cluster.local.", "svc.cluster.local."] {
        let m = reply(ask(&snap, name, RecordType::A));
        assert_eq!(m.response_code(), ResponseCode::NoError, "{name}");
        assert!(m.answers().is_empty(), "{name}");
    }
    // Search-path expansions of outside names: NXDOMAIN here, never
    // forwarded.
    for name in [
        "example.com.default.svc.cluster.local.",
        "example.com.svc.cluster.local.",
        "example.com.cluster.local.",
        "missing.default.svc.cluster.local.",
    ] {
        let m = reply(ask(&snap, name, RecordType::A));
        assert_eq!(m.response_code(), ResponseCode::NXDomain, "{name}");
        assert_eq!(m.name_servers()[0].record_type(), RecordType::SOA, "{name}");
    }
}

#[test]
fn headless_services_answer_their_ready_endpoints_and_hostnames() {
    let snap = snapshot();
    let m = reply(ask(&snap, "db.shop.svc.cluster.local.", RecordType::A));
    assert_eq!(a_records(&m), vec![ip("10.244.0.5"), ip("10.244.0.6")]);
    let m = reply(ask(&snap, "db-0.db.shop.svc.cluster.local.", RecordType::A));
    assert_eq!(a_records(&m), vec![ip("10.244.0.5")]);
    // Without a hostname the endpoint is named by its dashed address.
    let m = reply(ask(
        &snap,
        "10-244-0-6.db.shop.svc.cluster.local.",
        RecordType::A,
    ));
    assert_eq!(a_records(&m), vec![ip("10.244.0.6")]);
    // Not ready: not there.
    let m = reply(ask(&snap, "db-2.db.shop.svc.cluster.local.", RecordType::A));
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
    // Unless the Service publishes not-ready addresses.
    let m = reply(ask(
        &snap,
        "p-0.peers.shop.svc.cluster.local.",
        RecordType::A,
    ));
    assert_eq!(a_records(&m), vec![ip("10.244.0.8")]);
}

#[test]
fn named_ports_answer_srv_with_the_targets_addresses() {
    let snap = snapshot();
    let m = reply(ask(
        &snap,
        "_dns._udp.kube-dns.kube-system.svc.cluster.local.",
        RecordType::SRV,
    ));
    let srvs: Vec<&SRV> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::SRV(s) => Some(s),
            _ => None,
        })
        .collect();
    assert_eq!(srvs.len(), 1);
    assert_eq!(srvs[0].port(), 53);
    assert_eq!(
        srvs[0].target().to_ascii(),
        "kube-dns.kube-system.svc.cluster.local."
    );
    assert_eq!(m.additionals().len(), 1);
    // Headless: one per endpoint, aimed at the endpoint's name.
    let m = reply(ask(
        &snap,
        "_pg._tcp.db.shop.svc.cluster.local.",
        RecordType::SRV,
    ));
    let mut targets: Vec<String> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::SRV(s) => Some(format!("{} {}", s.port(), s.target())),
            _ => None,
        })
        .collect();
    targets.sort();
    assert_eq!(
        targets,
        vec![
            "5432 10-244-0-6.db.shop.svc.cluster.local.",
            "5432 db-0.db.shop.svc.cluster.local."
        ]
    );
    assert_eq!(m.additionals().len(), 2);
    // A port the Service does not name: no such name.
    let m = reply(ask(
        &snap,
        "_http._tcp.kubernetes.default.svc.cluster.local.",
        RecordType::SRV,
    ));
    assert_eq!(m.response_code(), ResponseCode::NXDomain);
}

#[test]
fn ptr_for_cluster_ips_and_endpoints_others_go_upstream() {
    let snap = snapshot();
    let m = reply(ask(&snap, "10.0.96.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(
        m.answers()[0].data(),
        &RData::PTR(PTR(Name::from_ascii(
            "kube-dns.kube-system.svc.cluster.local."
        )
        .expect("n")))
    );
    let m = reply(ask(&snap, "5.0.244.10.in-addr.arpa.", RecordType::PTR));
    assert_eq!(
        m.answers()[0].data(),
        &RData::PTR(PTR(
            Name::from_ascii("db-0.db.shop.svc.cluster.local.").expect("n")
        ))
    );
    assert!(matches!(
        ask(&snap, "1.2.0.192.in-addr.arpa.", RecordType::PTR),
        Outcome::Forward
    ));
}

#[test]
fn external_names_answer_a_cname_chased_upstream_when_outside() {
    let snap = snapshot();
    match ask(&snap, "ext.shop.svc.cluster.local.", RecordType::A) {
        Outcome::Chase {
            reply,
            target,
            qtype,
        } => {
            assert_eq!(target.to_ascii(), "db.example.test.");
            assert_eq!(qtype, RecordType::A);
            assert_eq!(
                reply.answers()[0].data(),
                &RData::CNAME(CNAME(Name::from_ascii("db.example.test.").expect("n")))
            );
        }
        other => panic!("expected a chase, got {other:?}"),
    }
    let m = reply(ask(&snap, "ext.shop.svc.cluster.local.", RecordType::CNAME));
    assert_eq!(m.answers().len(), 1);
    // A target inside the zone is answered in place.
    let m = reply(ask(&snap, "alias.shop.svc.cluster.local.", RecordType::A));
    assert_eq!(m.answers().len(), 2);
    assert_eq!(a_records(&m), vec![ip("10.96.0.1")]);
}

#[test]
fn pod_names_spec_version_and_outside_names() {
    let snap = snapshot();
    let m = reply(ask(
        &snap,
        "10-244-0-9.shop.pod.cluster.local.",
        RecordType::A,
    ));
    assert_eq!(a_records(&m), vec![ip("10.244.0.9")]);
    let m = reply(ask(&snap, "dns-version.cluster.local.", RecordType::TXT));
    assert_eq!(
        m.answers()[0].data(),
        &RData::TXT(TXT::new(vec!["1.1.0".to_string()]))
    );
    let m = reply(ask(&snap, "cluster.local.", RecordType::SOA));
    assert_eq!(m.answers()[0].record_type(), RecordType::SOA);
    assert!(matches!(
        ask(&snap, "example.com.", RecordType::A),
        Outcome::Forward
    ));
    assert!(matches!(
        ask(&snap, "local.", RecordType::A),
        Outcome::Forward
    ));
}

#[test]
fn before_the_first_list_cluster_names_fail_and_edns_is_answered() {
    let snap = Snapshot::empty("cluster.local");
    let m = reply(ask(
        &snap,
        "kubernetes.default.svc.cluster.local.",
        RecordType::A,
    ));
    assert_eq!(m.response_code(), ResponseCode::ServFail);
    let snap = snapshot();
    let mut req = Message::new();
    req.set_id(9);
    req.add_query(Query::query(
        Name::from_ascii("kubernetes.default.svc.cluster.local.").expect("n"),
        RecordType::A,
    ));
    let mut edns = Edns::new();
    edns.set_max_payload(4096);
    req.set_edns(edns);
    let m = reply(answer(&req, &snap));
    assert_eq!(
        m.extensions().as_ref().map(|e| e.max_payload()),
        Some(EDNS_PAYLOAD)
    );
}
