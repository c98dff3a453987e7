//! The pod network on a real host: pods in their own network namespaces,
//! attached to a test bridge, reaching each other and the host; addresses
//! kept across restarts, released by `del` and `gc`; the cluster and service
//! ranges routed to rkube's dummy interface; teardown leaving nothing.
//! Needs root, iproute2, nftables, util-linux and busybox-static.

mod common;

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{ping, sh, stdout, TestNet};
use rkube_cri::NetworkPlugin;
use rkube_net::{veth_name, BridgeNetwork};

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

#[tokio::test]
async fn two_pods_reach_each_other_and_the_host() {
    let mut t = TestNet::new();
    let (ns_a, ns_b) = (t.netns(), t.netns());
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let (sa, sb) = (t.sandbox("a"), t.sandbox("b"));
    let a = net.add(&t.attachment(&sa, &ns_a)).await.expect("test");
    let b = net.add(&t.attachment(&sb, &ns_b)).await.expect("test");
    assert_ne!(a.ip, b.ip);
    let gateway = IpAddr::V4(t.config.pod_cidr.gateway());
    assert_eq!(a.gateway, gateway);
    assert_eq!(a.prefix_len, 24);
    for ip in [a.ip, b.ip] {
        let IpAddr::V4(v4) = ip else { panic!("{ip}") };
        assert!(t.config.pod_cidr.is_pod_address(v4), "{ip}");
    }

    // The pod end is eth0 with the address; the host end is on the bridge
    // with hairpin on.
    let eth0 = stdout(&["ip", "-n", &ns_a, "-4", "addr", "show", "dev", "eth0"]);
    assert!(eth0.contains(&format!("{}/24", a.ip)), "{eth0}");
    let veth = veth_name(&sa);
    let master = std::fs::read_link(format!("/sys/class/net/{veth}/master")).expect("test");
    assert!(master.ends_with(&t.config.bridge), "{master:?}");
    let hairpin = std::fs::read_to_string(format!("/sys/class/net/{veth}/brport/hairpin_mode"));
    assert_eq!(hairpin.expect("test").trim(), "1");

    assert!(ping(&ns_a, &b.ip.to_string()), "pod a cannot ping pod b");
    assert!(ping(&ns_b, &a.ip.to_string()), "pod b cannot ping pod a");
    assert!(
        ping(&ns_a, &gateway.to_string()),
        "pod a cannot ping the bridge"
    );

    // A TCP connection from a to b.
    let mut server = std::process::Command::new("ip")
        .args(["netns", "exec", &ns_b, "busybox", "nc", "-l", "-p", "8080"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("test");
    let mut sent = false;
    for _ in 0..50 {
        let out = sh(&[
            "sh",
            "-c",
            &format!(
                "echo hello-from-a | ip netns exec {ns_a} busybox nc -w 2 {} 8080",
                b.ip
            ),
        ]);
        if out.status.success() {
            sent = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.try_wait().expect("test").is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if server.try_wait().expect("test").is_none() {
        let _ = server.kill();
    }
    let out = server.wait_with_output().expect("test");
    assert!(sent, "no TCP connection from pod a to pod b");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello-from-a");
}

#[tokio::test]
async fn the_same_sandbox_keeps_its_address_across_a_restart() {
    let mut t = TestNet::new();
    let (ns_a, ns_b) = (t.netns(), t.netns());
    let (sa, sb) = (t.sandbox("a"), t.sandbox("b"));
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let a = net.add(&t.attachment(&sa, &ns_a)).await.expect("test");
    // Asked again: the same address, nothing made twice.
    assert_eq!(net.add(&t.attachment(&sa, &ns_a)).await.expect("test"), a);
    drop(net);

    // A restarted agent: start-up again on the same state, nothing lost.
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    assert_eq!(
        net.address_of(&sa).map(IpAddr::V4),
        Some(a.ip),
        "the record was not read back"
    );
    assert_eq!(net.add(&t.attachment(&sa, &ns_a)).await.expect("test"), a);
    let b = net.add(&t.attachment(&sb, &ns_b)).await.expect("test");
    assert_ne!(a.ip, b.ip);
    assert!(
        ping(&ns_b, &a.ip.to_string()),
        "pod a unreachable after the restart"
    );
    let records = std::fs::read_dir(t.ipam_dir())
        .expect("test")
        .filter(|e| e.as_ref().expect("test").file_name() != "last_reserved_ip")
        .count();
    assert_eq!(records, 2);
}

#[tokio::test]
async fn del_and_gc_release_addresses_and_veths() {
    let mut t = TestNet::new();
    let (ns_a, ns_b, ns_c) = (t.netns(), t.netns(), t.netns());
    let (sa, sb, sc) = (t.sandbox("a"), t.sandbox("b"), t.sandbox("c"));
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let a = net.add(&t.attachment(&sa, &ns_a)).await.expect("test");
    net.add(&t.attachment(&sb, &ns_b)).await.expect("test");
    net.add(&t.attachment(&sc, &ns_c)).await.expect("test");

    net.del(&sa).await.expect("test");
    assert!(!link_exists(&veth_name(&sa)), "del left the veth");
    assert!(!t.ipam_dir().join(a.ip.to_string()).exists());
    let eth0 = sh(&["ip", "-n", &ns_a, "link", "show", "eth0"]);
    assert!(!eth0.status.success(), "the pod kept eth0 after del");
    // Absent: nothing to do, no error.
    net.del(&sa).await.expect("test");
    net.del("never-attached").await.expect("test");

    // After a restart, only c is still running: b's address leaked.
    drop(net);
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    net.gc(std::slice::from_ref(&sc)).await.expect("test");
    assert_eq!(net.address_of(&sb), None);
    assert!(!link_exists(&veth_name(&sb)), "gc left b's veth");
    assert!(net.address_of(&sc).is_some());
    assert!(link_exists(&veth_name(&sc)));
    let records: Vec<_> = std::fs::read_dir(t.ipam_dir())
        .expect("test")
        .map(|e| e.expect("test").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "last_reserved_ip")
        .collect();
    assert_eq!(records.len(), 1, "{records:?}");
}

#[tokio::test]
async fn cluster_and_service_ranges_end_on_the_dummy_and_pods_are_masqueraded() {
    let mut t = TestNet::new();
    let ns = t.netns();
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let a = net
        .add(&t.attachment(&t.sandbox("a"), &ns))
        .await
        .expect("test");
    let c = &t.config;

    let routes = stdout(&["ip", "route", "show", "dev", &c.dummy]);
    assert!(routes.contains(&c.cluster_cidr.to_string()), "{routes}");
    assert!(routes.contains(&c.service_cidr.to_string()), "{routes}");
    // A ClusterIP and another node's pod never take the default route.
    for ip in [t.cluster_ip(), t.other_node_ip()] {
        let got = stdout(&["ip", "route", "get", &ip.to_string()]);
        assert!(got.contains(&format!("dev {}", c.dummy)), "{ip}: {got}");
        assert!(
            !got.contains(" via "),
            "{ip} is routed via a gateway: {got}"
        );
    }
    let got = stdout(&["ip", "route", "get", &a.ip.to_string()]);
    assert!(got.contains(&format!("dev {}", c.bridge)), "{got}");

    let table = stdout(&["nft", "list", "table", "ip", &c.nft_table]);
    assert!(
        table.contains(&format!(
            "ip saddr {} ip daddr != {} ip daddr != 224.0.0.0/4 masquerade",
            c.pod_cidr, c.cluster_cidr
        )),
        "{table}"
    );
    assert!(
        table.contains(&format!("iifname \"{}\" accept", c.bridge)),
        "{table}"
    );
    let forward = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").expect("test");
    assert_eq!(forward.trim(), "1");
}

#[tokio::test]
async fn teardown_leaves_nothing_behind() {
    let mut t = TestNet::new();
    let ns = t.netns();
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let sandbox = t.sandbox("a");
    net.add(&t.attachment(&sandbox, &ns)).await.expect("test");
    net.teardown_all().await.expect("test");

    let c = &t.config;
    for link in [&c.bridge, &c.dummy, &veth_name(&sandbox)] {
        assert!(!link_exists(link), "{link} is still there");
    }
    let tables = stdout(&["nft", "list", "tables"]);
    assert!(!tables.contains(&c.nft_table), "{tables}");
    let routes = stdout(&["ip", "route", "show", "table", "all"]);
    for range in [c.pod_cidr, c.cluster_cidr, c.service_cidr] {
        assert!(
            !routes.contains(&range.to_string()),
            "{range} still routed:\n{routes}"
        );
    }
    assert!(!t.ipam_dir().exists());
    // Tearing down twice is fine.
    rkube_net::teardown(c).await.expect("test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_pods_attach_at_once_with_their_own_addresses() {
    let mut t = TestNet::new();
    let namespaces = t.netns_many(100);
    let net = std::sync::Arc::new(BridgeNetwork::start(t.config.clone()).await.expect("test"));
    let attachments: Vec<_> = namespaces
        .iter()
        .enumerate()
        .map(|(i, ns)| t.attachment(&t.sandbox(&format!("p{i}")), ns))
        .collect();
    // All at once, as a node starting many pods does (how fast is
    // `rkube bench node`'s to measure).
    let mut set = tokio::task::JoinSet::new();
    for a in attachments.clone() {
        let net = net.clone();
        set.spawn(async move { net.add(&a).await });
    }
    let mut results = Vec::new();
    while let Some(r) = set.join_next().await {
        results.push(r.expect("test"));
    }
    let mut ips: Vec<IpAddr> = results.into_iter().map(|r| r.expect("test").ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 100, "addresses given twice");
    assert!(ping(&namespaces[99], &ips[0].to_string()));

    // Ten deleted one by one, the other ninety collected at once (an agent
    // restarted after they went).
    for a in &attachments[..10] {
        net.del(&a.sandbox_id).await.expect("del");
    }
    net.gc(&[]).await.expect("gc");
    for a in &attachments {
        assert!(!link_exists(&veth_name(&a.sandbox_id)));
        assert_eq!(net.address_of(&a.sandbox_id), None);
    }
}
