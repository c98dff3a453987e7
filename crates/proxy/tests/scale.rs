//! Rule programming at the benchmark's size — 1,000 Services × 10
//! endpoints (simulated endpoints in the cluster range) — in a network
//! namespace this test makes: after the full sync, a change to one
//! Service's endpoints is an incremental transaction that writes only that
//! Service's objects, and the kernel's table then holds its new endpoints.
//! How fast that is, is `rkube bench net`'s to measure (target: p99 ≤
//! 100 ms), not this test's.
//!
//! Runs as root with `ip` (iproute2) and `nft` (nftables).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rkube_proxy::{Host, Proxier, ProxyConfig};

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

fn service(i: u32) -> Service {
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "bench", "name": format!("svc-{i}")},
        "spec": {"clusterIP": format!("10.96.{}.{}", i / 250, i % 250 + 1),
            "ports": [{"name": "http", "port": 80}]}
    }))
    .expect("service")
}

fn slice(i: u32, generation: u32) -> EndpointSlice {
    let eps: Vec<serde_json::Value> = (0..10)
        .map(|e| {
            let n = i * 10 + e + generation;
            serde_json::json!({
                "addresses": [format!("10.244.{}.{}", 10 + n / 250, n % 250 + 2)],
                "conditions": {"ready": true}, "nodeName": format!("sim-{}", e)
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "bench", "name": format!("svc-{i}-1"),
            "labels": {"kubernetes.io/service-name": format!("svc-{i}")}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": eps
    }))
    .expect("slice")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_change_among_1000_services_writes_only_that_service() {
    assert!(
        Command::new("nft").arg("--version").output().is_ok(),
        "nft is missing: install Debian's nftables"
    );
    let ns = Netns(format!("rkp-scale-{}", std::process::id()));
    let out = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .output()
        .expect("ip (iproute2)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let config = ProxyConfig {
        node_name: "node".into(),
        node_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 0, 1)),
        bridge: "rkube0".into(),
        pod_cidr: "10.244.0.0/24".parse().expect("cidr"),
        cluster_cidr: "10.244.0.0/16".parse().expect("cidr"),
        service_cidr: "10.96.0.0/12".parse().expect("cidr"),
        table: "rkube-proxy-scale".into(),
    };
    let mut p = Proxier::new(&config, Host::netns(&ns.0), IpAddr::V4(Ipv4Addr::LOCALHOST));
    for i in 0..1000 {
        p.tracker().update_service(&service(i));
        p.tracker().update_slice(&slice(i, 0));
    }
    let full = p.sync().await.expect("full sync");
    if let Ok(path) = std::env::var("RKP_DUMP") {
        std::fs::write(path, &full.script).expect("dump");
    }
    eprintln!(
        "full sync of 1000 Services x 10 endpoints: {:?}",
        full.duration
    );
    let mut times = Vec::new();
    for k in 0..50u32 {
        let i = (k * 37) % 1000;
        let generation = 1 + k % 2;
        p.tracker().update_slice(&slice(i, generation));
        let r = p.sync().await.expect("incremental sync");
        assert!(!r.full, "one changed slice is not a full rewrite");
        // Only this Service's objects are written.
        let services: std::collections::BTreeSet<&str> = r
            .script
            .match_indices("bench/svc-")
            .map(|(at, _)| {
                let rest = &r.script[at + "bench/".len()..];
                &rest[..rest.find('/').unwrap_or(rest.len())]
            })
            .collect();
        assert_eq!(
            services.into_iter().collect::<Vec<_>>(),
            vec![format!("svc-{i}")],
            "{}",
            r.script
        );
        times.push(r.duration);
        if k % 10 == 9 {
            p.delete_stale_chains().await.expect("stale chains");
        }
    }
    // The kernel holds the last change: the new endpoint addresses of the
    // last Service changed.
    let i = (49 * 37) % 1000;
    let n = i * 10 + 9 + (1 + 49 % 2);
    let address = format!("10.244.{}.{}", 10 + n / 250, n % 250 + 2);
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "nft",
            "list",
            "table",
            "ip",
            "rkube-proxy-scale",
        ])
        .output()
        .expect("nft list table");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&address), "{address} is not in the table");
    times.sort();
    eprintln!(
        "incremental sync (informational; rkube bench net measures it): p50 {:?}, max {:?}",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
