//! Policy → rules compilation, fed objects as the API returns them.

use serde_json::json;

use crate::compile::compile;
use crate::objects::Objects;
use crate::ruleset::{Ruleset, LOCAL_PODS};
use crate::script;
use crate::testing::{config, namespace, pod, policy};

fn objects(
    policies: Vec<std::sync::Arc<k8s_openapi::api::networking::v1::NetworkPolicy>>,
) -> Objects {
    Objects {
        policies,
        pods: vec![
            pod(
                "a",
                "server",
                "n1",
                Some("10.1.0.2"),
                json!({"app": "server"}),
                &[("http", "TCP", 8080), ("dns", "UDP", 5353)],
            ),
            pod(
                "a",
                "client",
                "n1",
                Some("10.1.0.3"),
                json!({"role": "client"}),
                &[],
            ),
            pod(
                "a",
                "other",
                "n1",
                Some("10.1.0.4"),
                json!({"role": "other"}),
                &[],
            ),
            pod(
                "b",
                "client",
                "n2",
                Some("10.2.0.5"),
                json!({"role": "client"}),
                &[("http", "TCP", 9090)],
            ),
            pod(
                "c",
                "client",
                "n2",
                Some("10.2.0.6"),
                json!({"role": "client"}),
                &[],
            ),
        ],
        namespaces: vec![
            namespace("a", json!({})),
            namespace("b", json!({"team": "blue"})),
            namespace("c", json!({})),
        ],
    }
}

fn run(policies: Vec<std::sync::Arc<k8s_openapi::api::networking::v1::NetworkPolicy>>) -> Ruleset {
    compile(
        &objects(policies),
        &config("rkube-netpol-t", "br-t", "10.1.0.0/24"),
    )
}

fn elements(r: &Ruleset, prefix: &str) -> Vec<String> {
    let (_, set) = r
        .sets
        .iter()
        .find(|(n, _)| n.starts_with(prefix))
        .unwrap_or_else(|| panic!("no set {prefix}*: {:?}", r.sets.keys()));
    set.elements.iter().cloned().collect()
}

fn chain<'a>(r: &'a Ruleset, name: &str) -> &'a [String] {
    r.chains
        .get(name)
        .unwrap_or_else(|| panic!("no chain {name}: {:?}", r.chains.keys()))
}

#[test]
fn without_policies_nothing_is_isolated() {
    let r = run(vec![]);
    assert!(r.chains.is_empty() && r.ingress.is_empty() && r.egress.is_empty());
    // Only this node's pods are local.
    assert_eq!(
        elements(&r, LOCAL_PODS),
        ["10.1.0.2", "10.1.0.3", "10.1.0.4"]
    );
    assert_eq!(r.forward[0], "ct state established,related accept");
    assert!(!r.forward.iter().any(|l| l.contains("no known address")));
}

#[test]
fn default_deny_ingress_isolates_every_pod_of_the_namespace_for_ingress_only() {
    let r = run(vec![policy(
        "a",
        "deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    )]);
    assert_eq!(r.ingress.len(), 3);
    assert!(r.egress.is_empty());
    let c = chain(&r, "in-10-1-0-2");
    assert_eq!(c.len(), 1);
    assert!(c[0].starts_with("counter drop"), "{c:?}");
    // A policy of another namespace isolates nothing here.
    let r = run(vec![policy("z", "deny", json!({"podSelector": {}}))]);
    assert!(r.ingress.is_empty());
}

#[test]
fn pod_selector_peer_admits_labelled_pods_of_the_policy_namespace_only() {
    let r = run(vec![policy(
        "a",
        "allow",
        json!({
            "podSelector": {"matchLabels": {"app": "server"}},
            "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]
        }),
    )]);
    assert_eq!(
        r.ingress
            .keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["10.1.0.2"]
    );
    assert_eq!(elements(&r, "in-"), ["10.1.0.3"]);
    let c = chain(&r, "in-10-1-0-2");
    assert!(
        c[0].starts_with("ip saddr @in-")
            && c[0].contains(" accept comment \"a/allow ingress[0]\""),
        "{c:?}"
    );
    // Without policyTypes and without egress rules: ingress only.
    assert!(r.egress.is_empty());
}

#[test]
fn namespace_selector_alone_and_with_a_pod_selector() {
    let alone = run(vec![policy(
        "a",
        "ns",
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"team": "blue"}}}]}]}),
    )]);
    assert_eq!(elements(&alone, "in-"), ["10.2.0.5"]);
    let all_ns = run(vec![policy(
        "a",
        "ns",
        json!({"podSelector": {}, "ingress": [{"from": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"role": "client"}}}]}]}),
    )]);
    assert_eq!(
        elements(&all_ns, "in-"),
        ["10.1.0.3", "10.2.0.5", "10.2.0.6"]
    );
    let both = run(vec![policy(
        "a",
        "ns",
        json!({"podSelector": {}, "ingress": [{"from": [{
            "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["c"]}]},
            "podSelector": {"matchLabels": {"role": "client"}}}]}]}),
    )]);
    assert_eq!(elements(&both, "in-"), ["10.2.0.6"]);
    // Two peers are OR-ed.
    let either = run(vec![policy(
        "a",
        "ns",
        json!({"podSelector": {}, "ingress": [{"from": [
            {"namespaceSelector": {"matchLabels": {"team": "blue"}}},
            {"podSelector": {"matchLabels": {"role": "other"}}}]}]}),
    )]);
    assert_eq!(elements(&either, "in-"), ["10.1.0.4", "10.2.0.5"]);
}

#[test]
fn ip_block_with_except_ports_ranges_and_named_ports() {
    let r = run(vec![policy(
        "a",
        "mixed",
        json!({"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{
        "from": [{"ipBlock": {"cidr": "192.168.0.7/16", "except": ["192.168.1.0/24", "fd00::/8"]}}],
        "ports": [
            {"port": 80},
            {"protocol": "UDP", "port": 7000, "endPort": 7010},
            {"port": "http"},
            {"protocol": "UDP", "port": "dns"},
            {"port": "nope"},
            {"protocol": "SCTP"}
        ]}]}),
    )]);
    let c = chain(&r, "in-10-1-0-2");
    let block = "ip saddr 192.168.0.0/16 ip saddr != { 192.168.1.0/24 }";
    let want: Vec<String> = [
        "tcp dport 80",
        "udp dport 7000-7010",
        "tcp dport 8080",
        "udp dport 5353",
        "meta l4proto sctp",
    ]
    .iter()
    .map(|p| format!("{block} {p} accept comment \"a/mixed ingress[0]\""))
    .collect();
    assert_eq!(&c[..c.len() - 1], &want[..]);
}

#[test]
fn allow_all_rule_and_union_of_policies() {
    let r = run(vec![
        policy(
            "a",
            "deny",
            json!({"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        ),
        policy(
            "a",
            "all",
            json!({"podSelector": {"matchLabels": {"app": "server"}}, "ingress": [{}]}),
        ),
    ]);
    let c = chain(&r, "in-10-1-0-2");
    assert_eq!(c[0], "accept comment \"a/all ingress[0]\"");
    assert_eq!(chain(&r, "in-10-1-0-3").len(), 1);
    // Egress isolated by the deny policy alone: every egress chain drops.
    assert_eq!(r.egress.len(), 3);
    assert_eq!(chain(&r, "out-10-1-0-2").len(), 1);
}

#[test]
fn egress_rules_default_the_policy_type_and_return_to_the_base_chain() {
    let r = run(vec![policy(
        "a",
        "out",
        json!({"podSelector": {"matchLabels": {"role": "client"}}, "egress": [
            {"to": [{"podSelector": {"matchLabels": {"app": "server"}}}], "ports": [{"port": 8080}]},
            {"to": [{"namespaceSelector": {}}], "ports": [{"port": "http"}]}
        ]}),
    )]);
    // Ingress is a type too (always, without policyTypes): no ingress rules.
    assert_eq!(chain(&r, "in-10-1-0-3").len(), 1);
    let c = chain(&r, "out-10-1-0-3");
    assert!(
        c[0].starts_with("ip daddr @out-") && c[0].contains("tcp dport 8080 return"),
        "{c:?}"
    );
    assert!(
        c[1].starts_with("ip daddr . meta l4proto . th dport @out-")
            && c[1].ends_with("return comment \"a/out egress[1]\""),
        "{c:?}"
    );
    // The named port as each peer names it.
    let tuples = elements(
        &r,
        c[1].split('@')
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("a set name"),
    );
    assert_eq!(tuples, ["10.1.0.2 . tcp . 8080", "10.2.0.5 . tcp . 9090"]);
}

#[test]
fn a_starting_pod_a_policy_isolates_closes_unknown_addresses() {
    let mut o = objects(vec![policy(
        "a",
        "deny",
        json!({"podSelector": {"matchLabels": {"app": "new"}}, "policyTypes": ["Ingress"]}),
    )]);
    let cfg = config("t", "br-t", "10.1.0.0/24");
    assert!(!compile(&o, &cfg)
        .forward
        .iter()
        .any(|l| l.contains("no known address")));
    o.pods
        .push(pod("a", "new", "n1", None, json!({"app": "new"}), &[]));
    let r = compile(&o, &cfg);
    let guards: Vec<&String> = r
        .forward
        .iter()
        .filter(|l| l.contains("no known address"))
        .collect();
    assert_eq!(guards.len(), 1, "{:?}", r.forward);
    assert!(
        guards[0].starts_with("ip daddr 10.1.0.0/24 ip daddr != 10.1.0.1 ip daddr != @local-pods")
    );
    // Once its address is known it has its own chain and the guard goes.
    o.pods.pop();
    o.pods.push(pod(
        "a",
        "new",
        "n1",
        Some("10.1.0.9"),
        json!({"app": "new"}),
        &[],
    ));
    let r = compile(&o, &cfg);
    assert!(r
        .ingress
        .contains_key(&"10.1.0.9".parse().expect("an address")));
    assert!(!r.forward.iter().any(|l| l.contains("no known address")));
}

#[test]
fn a_label_change_changes_only_set_elements() {
    let allow = policy(
        "a",
        "allow",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]}),
    );
    let cfg = config("t", "br-t", "10.1.0.0/24");
    let mut o = objects(vec![allow]);
    let before = compile(&o, &cfg);
    o.pods[2] = pod(
        "a",
        "other",
        "n1",
        Some("10.1.0.4"),
        json!({"role": "client"}),
        &[],
    );
    let after = compile(&o, &cfg);
    let text = script::diff("t", &before, &after);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].starts_with("add element ip t in-") && lines[0].ends_with("{ 10.1.0.4 }"));
    assert_eq!(script::diff("t", &after, &after), "");
    let back = script::diff("t", &after, &before);
    assert!(back.starts_with("delete element ip t in-"), "{back}");
}

#[test]
fn full_script_replaces_the_table_in_one_transaction() {
    let r = run(vec![policy("a", "deny", json!({"podSelector": {}}))]);
    let text = script::full("rkube-netpol-t", &r);
    assert!(text.starts_with("add table ip rkube-netpol-t\ndelete table ip rkube-netpol-t\nadd table ip rkube-netpol-t\n"));
    assert!(text.contains("add chain ip rkube-netpol-t forward { type filter hook forward priority filter; policy accept; }"));
    assert!(
        text.contains("add element ip rkube-netpol-t ingress-pods { 10.1.0.2 : jump in-10-1-0-2")
    );
    // A pod that goes loses its chain after its map element.
    let fewer = compile(
        &Objects {
            pods: objects(vec![]).pods[1..].to_vec(),
            ..objects(vec![policy("a", "deny", json!({"podSelector": {}}))])
        },
        &config("rkube-netpol-t", "br-t", "10.1.0.0/24"),
    );
    let d = script::diff("rkube-netpol-t", &r, &fewer);
    let del_elem = d
        .find("delete element ip rkube-netpol-t ingress-pods { 10.1.0.2 }")
        .expect(&d);
    let del_chain = d
        .find("delete chain ip rkube-netpol-t in-10-1-0-2")
        .expect(&d);
    assert!(del_elem < del_chain, "{d}");
}

#[test]
fn the_usual_allow_dns_rule_admits_the_nodes_dns_server() {
    let r = run(vec![policy(
        "a",
        "dns-only",
        json!({"podSelector": {}, "policyTypes": ["Egress"], "egress": [
            {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                     "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
             "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": "dns-tcp"}]}
        ]}),
    )]);
    // The node's DNS server answers on the bridge's address, 10.1.0.1.
    let c = chain(&r, "out-10-1-0-3");
    assert!(c[0].contains("udp dport 53 return"), "{c:?}");
    let peers = elements(
        &r,
        c[0].split('@')
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("a set name"),
    );
    assert_eq!(peers, ["10.1.0.1"]);
    let named = c
        .iter()
        .find(|l| l.contains(". th dport @out-"))
        .expect("the named port's rule");
    let tuples = elements(
        &r,
        named
            .split('@')
            .nth(1)
            .and_then(|rest| rest.split(' ').next())
            .expect("a set name"),
    );
    assert_eq!(tuples, ["10.1.0.1 . tcp . 53"]);
}
