//! Routes to other nodes' pod ranges, applied in a network namespace the
//! test makes (a veth pair inside it stands for the node network): a real
//! node's range via its InternalIP, changed when the address changes,
//! removed when the Node goes; simulated nodes, nodes on one of the
//! namespace's own addresses and routes not rkube's left alone. Needs
//! root and iproute2.

mod common;

use std::net::Ipv4Addr;

use common::{require, sh, stdout};
use rkube_net::node_routes::{self, LocalNode, PeerNode};
use rkube_net::Ipv4Cidr;

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&["ip", "netns", "del", &self.0]);
    }
}

fn ip_in(ns: &str, args: &str) {
    let mut full = vec!["ip", "-n", ns];
    full.extend(args.split_whitespace());
    let out = sh(&full);
    assert!(out.status.success(), "ip -n {ns} {args}: {out:?}");
}

fn peer(name: &str, cidr: &str, ip: &str, simulated: bool) -> PeerNode {
    PeerNode {
        name: name.into(),
        pod_cidr: Some(cidr.into()),
        internal_ip: Some(ip.into()),
        simulated,
    }
}

#[tokio::test]
async fn routes_follow_the_real_nodes() {
    require("ip", "iproute2");
    let ns = Netns(format!(
        "rkube-rt{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("test")
            .subsec_nanos()
    ));
    let out = sh(&["ip", "netns", "add", &ns.0]);
    assert!(out.status.success(), "ip netns add: {out:?}");
    let n = ns.0.as_str();
    // The "node network": 192.0.2.0/24 on a veth pair inside the namespace.
    ip_in(n, "link add rkn0 type veth peer name rkn1");
    ip_in(n, "addr add 192.0.2.1/24 dev rkn0");
    ip_in(n, "link set rkn0 up");
    ip_in(n, "link set rkn1 up");
    // A route of someone else's inside the cluster range: never touched.
    ip_in(n, "route add 10.244.9.0/24 via 192.0.2.99");

    let cluster: Ipv4Cidr = "10.244.0.0/16".parse().expect("test");
    let local = LocalNode {
        name: "a".into(),
        pod_cidr: "10.244.0.0/24".parse().expect("test"),
        cluster_cidr: cluster,
        addresses: node_routes::local_addresses(Some(n)).await.expect("test"),
    };
    assert!(local.addresses.contains(&Ipv4Addr::new(192, 0, 2, 1)));
    let nodes = vec![
        peer("a", "10.244.0.0/24", "192.0.2.1", false),
        peer("b", "10.244.1.0/24", "192.0.2.2", false),
        peer("c", "10.244.2.0/24", "192.0.2.3", false),
        peer("sim", "10.244.3.0/24", "192.0.2.4", true),
        peer("same-host", "10.244.4.0/24", "192.0.2.1", false),
    ];
    let (want, _) = node_routes::desired(&local, &nodes);
    assert_eq!(want.len(), 2);
    node_routes::apply(Some(n), cluster, &want)
        .await
        .expect("test");
    let routes = stdout(&["ip", "-n", n, "-4", "route", "show"]);
    assert!(
        routes.contains("10.244.1.0/24 via 192.0.2.2 dev rkn0 proto 77"),
        "{routes}"
    );
    assert!(
        routes.contains("10.244.2.0/24 via 192.0.2.3 dev rkn0 proto 77"),
        "{routes}"
    );
    assert!(
        !routes.contains("10.244.3.0"),
        "a simulated node got a route: {routes}"
    );
    assert!(
        !routes.contains("10.244.4.0"),
        "a same-host node got a route: {routes}"
    );
    // The kernel's view: a pod of b goes to b's address.
    let get = stdout(&["ip", "-n", n, "route", "get", "10.244.1.7"]);
    assert!(get.contains("via 192.0.2.2"), "{get}");

    // b moves, c goes.
    let nodes = vec![peer("b", "10.244.1.0/24", "192.0.2.12", false)];
    let (want, _) = node_routes::desired(&local, &nodes);
    let changes = node_routes::apply(Some(n), cluster, &want)
        .await
        .expect("test");
    assert_eq!(changes, 2);
    let routes = stdout(&["ip", "-n", n, "-4", "route", "show"]);
    assert!(
        routes.contains("10.244.1.0/24 via 192.0.2.12 dev rkn0 proto 77"),
        "{routes}"
    );
    assert!(!routes.contains("10.244.2.0"), "{routes}");
    assert!(routes.contains("10.244.9.0/24 via 192.0.2.99"), "{routes}");
    // Nothing to do the second time.
    assert_eq!(
        node_routes::apply(Some(n), cluster, &want)
            .await
            .expect("test"),
        0
    );

    node_routes::remove_all(Some(n), cluster)
        .await
        .expect("test");
    let routes = stdout(&["ip", "-n", n, "-4", "route", "show"]);
    assert!(!routes.contains("proto 77"), "{routes}");
    assert!(routes.contains("10.244.9.0/24 via 192.0.2.99"), "{routes}");
}
