//! The proxy's rules in the kernel, in network namespaces this test makes:
//! a "node" namespace holding the table, a client and two servers behind
//! routed veths (all in the cluster's pod range), a dummy-like `ifb` the
//! service range is routed to (as `rkube-net` does on a node). Services and
//! EndpointSlices are plain objects fed to the proxier, no API server.
//! Real TCP and UDP connections prove: traffic reaches both endpoints,
//! `ClientIP` affinity sticks, a Service without endpoints is refused at
//! once, an incremental update rewrites only what changed (the other
//! chains keep their rule handles), and a gone UDP endpoint's conntrack
//! entries are deleted so the client moves on.
//!
//! Runs as root with `ip` (iproute2), `nft` (nftables) and `conntrack`
//! (conntrack); fails naming the package if one is missing.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use rkube_proxy::{Host, Proxier, ProxyConfig};

const TABLE: &str = "rkube-proxy-test";

fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn preflight() {
    for (tool, arg, package) in [
        ("ip", "-V", "iproute2"),
        ("nft", "--version", "nftables"),
        ("conntrack", "--version", "conntrack"),
    ] {
        assert!(
            Command::new(tool).arg(arg).output().is_ok(),
            "{tool} is missing: install Debian's {package}"
        );
    }
    let uid = sh(&["id", "-u"]);
    assert_eq!(
        uid.trim(),
        "0",
        "this test makes network namespaces: run it as root"
    );
}

/// The namespaces; removed (with their interfaces and the table) on drop.
struct Lab {
    node: String,
    client: String,
    servers: [String; 2],
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        for ns in [&self.node, &self.client, &self.servers[0], &self.servers[1]] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{}-{:04x}", std::process::id(), h.finish() & 0xffff)
}

/// Runs `f` on a thread inside the namespace `ns`.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("open netns");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

impl Lab {
    fn new() -> Lab {
        preflight();
        let s = suffix();
        let lab = Lab {
            node: format!("rkp-{s}-n"),
            client: format!("rkp-{s}-c"),
            servers: [format!("rkp-{s}-s1"), format!("rkp-{s}-s2")],
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
        };
        for ns in [&lab.node, &lab.client, &lab.servers[0], &lab.servers[1]] {
            sh(&["ip", "netns", "add", ns]);
        }
        let n = lab.node.as_str();
        sh(&[
            "ip",
            "netns",
            "exec",
            n,
            "sysctl",
            "-q",
            "-w",
            "net.ipv4.ip_forward=1",
        ]);
        sh(&["ip", "-n", n, "link", "set", "lo", "up"]);
        // Client 10.244.3.2, servers 10.244.1.2 and 10.244.2.2, each behind a
        // /24 whose .1 is the node's end.
        for (i, (ns, net)) in [
            (lab.client.as_str(), 3),
            (lab.servers[0].as_str(), 1),
            (lab.servers[1].as_str(), 2),
        ]
        .into_iter()
        .enumerate()
        {
            let host_end = format!("v{i}");
            sh(&[
                "ip", "-n", n, "link", "add", &host_end, "type", "veth", "peer", "name", "eth0",
                "netns", ns,
            ]);
            sh(&[
                "ip",
                "-n",
                n,
                "addr",
                "add",
                &format!("10.244.{net}.1/24"),
                "dev",
                &host_end,
            ]);
            sh(&["ip", "-n", n, "link", "set", &host_end, "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("10.244.{net}.2/24"),
                "dev",
                "eth0",
            ]);
            sh(&["ip", "-n", ns, "link", "set", "eth0", "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&[
                "ip",
                "-n",
                ns,
                "route",
                "add",
                "default",
                "via",
                &format!("10.244.{net}.1"),
            ]);
        }
        // The service range ends on an interface that drops what reaches it.
        sh(&["ip", "-n", n, "link", "add", "svc0", "type", "ifb"]);
        sh(&["ip", "-n", n, "link", "set", "svc0", "up"]);
        sh(&["ip", "-n", n, "route", "add", "10.96.0.0/12", "dev", "svc0"]);
        lab
    }

    /// A server answering its name on TCP 8080 and UDP 5353.
    fn serve(&mut self, i: usize) {
        let name = format!("server-{}", i + 1);
        let stop = self.stop.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        self.threads.push(in_netns(&self.servers[i], move || {
            let tcp = TcpListener::bind("0.0.0.0:8080").expect("bind tcp");
            tcp.set_nonblocking(true).expect("nonblocking");
            let udp = UdpSocket::bind("0.0.0.0:5353").expect("bind udp");
            udp.set_read_timeout(Some(Duration::from_millis(5)))
                .expect("timeout");
            tx.send(()).expect("ready");
            let mut buf = [0u8; 512];
            while !stop.load(Ordering::SeqCst) {
                if let Ok((mut s, _)) = tcp.accept() {
                    let _ = s.set_nonblocking(false);
                    let _ = s.write_all(format!("{name}\n").as_bytes());
                }
                if let Ok((_, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(name.as_bytes(), from);
                }
            }
        }));
        rx.recv_timeout(Duration::from_secs(5))
            .expect("server ready");
    }

    /// One TCP connection from the client: what the server said, or the error.
    fn tcp(&self, addr: &str) -> Result<String, std::io::Error> {
        let addr: SocketAddr = addr.parse().expect("addr");
        in_netns(&self.client, move || {
            let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out.trim().to_string())
        })
        .join()
        .expect("client thread")
    }

    /// Who answers `n` TCP connections.
    fn tcp_answers(&self, addr: &str, n: usize) -> Vec<String> {
        (0..n)
            .map(|_| {
                self.tcp(addr)
                    .unwrap_or_else(|e| panic!("connect {addr}: {e}"))
            })
            .collect()
    }

    /// Datagrams from one client socket (one UDP flow): the answers.
    fn udp_flow(&self, addr: &str, socket: Arc<UdpSocket>, n: usize) -> Vec<String> {
        let addr: SocketAddr = addr.parse().expect("addr");
        let _ = &self.client;
        (0..n)
            .map(|_| {
                socket.send_to(b"hi", addr).expect("send");
                let mut buf = [0u8; 64];
                match socket.recv_from(&mut buf) {
                    Ok((len, _)) => String::from_utf8_lossy(&buf[..len]).to_string(),
                    Err(e) => format!("error: {e}"),
                }
            })
            .collect()
    }

    fn client_udp_socket(&self) -> Arc<UdpSocket> {
        in_netns(&self.client, || {
            let s = UdpSocket::bind("0.0.0.0:0").expect("bind");
            s.set_read_timeout(Some(Duration::from_secs(1)))
                .expect("timeout");
            Arc::new(s)
        })
        .join()
        .expect("socket")
    }

    fn list_table(&self) -> String {
        sh(&[
            "ip", "netns", "exec", &self.node, "nft", "-a", "list", "table", "ip", TABLE,
        ])
    }
}

fn service(name: &str, ip: &str, proto: &str, port: u16, extra: serde_json::Value) -> Service {
    let mut spec = serde_json::json!({"clusterIP": ip, "ports": [{"name": "p", "port": port, "protocol": proto}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        s.extend(e.clone());
    }
    serde_json::from_value(
        serde_json::json!({"metadata": {"namespace": "t", "name": name}, "spec": spec}),
    )
    .expect("service")
}

fn slice(svc: &str, ips: &[&str], proto: &str, port: u16) -> EndpointSlice {
    let eps: Vec<serde_json::Value> = ips
        .iter()
        .map(|ip| serde_json::json!({"addresses": [ip], "conditions": {"ready": true, "serving": true, "terminating": false}, "nodeName": "node"}))
        .collect();
    serde_json::from_value(serde_json::json!({
        "metadata": {"namespace": "t", "name": format!("{svc}-1"), "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4",
        "ports": [{"name": "p", "port": port, "protocol": proto}],
        "endpoints": eps
    }))
    .expect("slice")
}

/// Handles of the rules in every chain whose name contains `part`.
fn handles_of(listing: &str, part: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in listing.lines() {
        let l = line.trim();
        if l.starts_with("chain ") {
            inside = l.contains(part);
        } else if inside {
            if let Some(h) = l.rsplit_once("# handle ") {
                out.insert(h.1.to_string());
            }
        }
    }
    out
}

const S1: &str = "10.244.1.2";
const S2: &str = "10.244.2.2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ip_balances_sticks_rejects_and_updates_incrementally() {
    let mut lab = Lab::new();
    lab.serve(0);
    lab.serve(1);
    let config = ProxyConfig {
        node_name: "node".into(),
        node_ip: IpAddr::V4(Ipv4Addr::new(10, 244, 3, 1)),
        bridge: "v0".into(),
        pod_cidr: "10.244.3.0/24".parse().expect("cidr"),
        cluster_cidr: "10.244.0.0/16".parse().expect("cidr"),
        service_cidr: "10.96.0.0/12".parse().expect("cidr"),
        table: TABLE.into(),
    };
    let mut proxier = Proxier::new(
        &config,
        Host::netns(&lab.node),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    let t = proxier.tracker();
    t.update_service(&service(
        "web",
        "10.96.0.10",
        "TCP",
        80,
        serde_json::json!({}),
    ));
    t.update_slice(&slice("web", &[S1, S2], "TCP", 8080));
    t.update_service(&service(
        "sticky",
        "10.96.0.11",
        "TCP",
        80,
        serde_json::json!({"sessionAffinity": "ClientIP", "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 60}}}),
    ));
    t.update_slice(&slice("sticky", &[S1, S2], "TCP", 8080));
    t.update_service(&service(
        "dns",
        "10.96.0.12",
        "UDP",
        53,
        serde_json::json!({}),
    ));
    t.update_slice(&slice("dns", &[S1, S2], "UDP", 5353));
    t.update_service(&service(
        "empty",
        "10.96.0.13",
        "TCP",
        80,
        serde_json::json!({}),
    ));
    let first = proxier.sync().await.expect("first sync");
    assert!(first.full, "the first sync rebuilds the table");

    // Both endpoints get connections.
    let answers: BTreeSet<String> = lab.tcp_answers("10.96.0.10:80", 40).into_iter().collect();
    assert_eq!(
        answers,
        BTreeSet::from(["server-1".to_string(), "server-2".to_string()])
    );

    // UDP too: each new client socket is a new flow, balanced.
    let mut udp_seen = BTreeSet::new();
    for _ in 0..30 {
        let sock = lab.client_udp_socket();
        udp_seen.extend(lab.udp_flow("10.96.0.12:53", sock, 1));
    }
    assert_eq!(
        udp_seen,
        BTreeSet::from(["server-1".to_string(), "server-2".to_string()])
    );

    // ClientIP affinity: every connection from the client goes to one server.
    let sticky: BTreeSet<String> = lab.tcp_answers("10.96.0.11:80", 20).into_iter().collect();
    assert_eq!(sticky.len(), 1, "affinity did not stick: {sticky:?}");

    // No endpoints: refused at once (REJECT), not a timeout.
    let started = Instant::now();
    let err = lab
        .tcp("10.96.0.13:80")
        .expect_err("a Service without endpoints refuses");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    // A port the ClusterIP does not have: refused too.
    let err = lab.tcp("10.96.0.10:81").expect_err("no such port");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");

    // A UDP flow pinned to one server.
    let flow = lab.client_udp_socket();
    let pinned = lab.udp_flow("10.96.0.12:53", flow.clone(), 3);
    assert!(pinned.iter().all(|a| a == &pinned[0]), "{pinned:?}");

    // Incremental: web loses server-2; only web's objects are written.
    let before = lab.list_table();
    proxier
        .tracker()
        .update_slice(&slice("web", &[S1], "TCP", 8080));
    let report = proxier.sync().await.expect("incremental sync");
    assert!(!report.full);
    assert!(report.script.contains("t/web/"), "{}", report.script);
    for other in ["t/sticky/", "t/dns/", "t/empty/"] {
        assert!(
            !report.script.contains(other),
            "{other} rewritten:\n{}",
            report.script
        );
    }
    assert!(!report.script.contains("delete table"), "{}", report.script);
    let after = lab.list_table();
    for other in ["t/sticky/", "t/dns/"] {
        let h = handles_of(&before, other);
        assert!(!h.is_empty(), "no rules of {other} in\n{before}");
        assert_eq!(
            h,
            handles_of(&after, other),
            "{other}'s rules were rewritten"
        );
    }
    assert_ne!(handles_of(&before, "t/web/"), handles_of(&after, "t/web/"));
    let answers: BTreeSet<String> = lab.tcp_answers("10.96.0.10:80", 15).into_iter().collect();
    assert_eq!(answers, BTreeSet::from(["server-1".to_string()]));
    // Affinity survived the other Service's update.
    let still: BTreeSet<String> = lab.tcp_answers("10.96.0.11:80", 5).into_iter().collect();
    assert_eq!(still, sticky);

    // The UDP flow's endpoint goes: its conntrack entry is deleted, so the
    // same client socket reaches the remaining server.
    let remaining = if pinned[0] == "server-1" { S2 } else { S1 };
    let remaining_name = if pinned[0] == "server-1" {
        "server-2"
    } else {
        "server-1"
    };
    proxier
        .tracker()
        .update_slice(&slice("dns", &[remaining], "UDP", 5353));
    proxier.sync().await.expect("udp endpoint removal");
    let moved = lab.udp_flow("10.96.0.12:53", flow, 2);
    assert_eq!(moved, vec![remaining_name.to_string(); 2]);

    // Endpoints come to the empty Service: connections go through.
    proxier
        .tracker()
        .update_slice(&slice("empty", &[S2], "TCP", 8080));
    proxier.sync().await.expect("endpoints for empty");
    assert_eq!(
        lab.tcp_answers("10.96.0.13:80", 3),
        vec!["server-2".to_string(); 3]
    );

    // A Service that goes: its chain is flushed at once and deleted a
    // second later, in a transaction of its own.
    proxier.tracker().delete_service("t", "dns");
    let report = proxier.sync().await.expect("service removal");
    assert!(report.script.contains("flush chain"), "{}", report.script);
    assert!(lab.list_table().contains("t/dns/"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        proxier.delete_stale_chains().await.expect("delete stale"),
        1
    );
    assert!(
        !lab.list_table().contains("t/dns/"),
        "the gone Service's chain was deleted"
    );

    // A restarted proxy (a new Proxier, same objects) rebuilds the table in
    // one transaction; established work goes on.
    let mut again = Proxier::new(
        &config,
        Host::netns(&lab.node),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    );
    again.tracker().update_service(&service(
        "web",
        "10.96.0.10",
        "TCP",
        80,
        serde_json::json!({}),
    ));
    again
        .tracker()
        .update_slice(&slice("web", &[S1, S2], "TCP", 8080));
    assert!(again.sync().await.expect("restart").full);
    let answers: BTreeSet<String> = lab.tcp_answers("10.96.0.10:80", 30).into_iter().collect();
    assert_eq!(answers.len(), 2);
    assert!(
        !lab.list_table().contains("t/sticky/"),
        "the old run's objects were replaced"
    );

    Host::netns(&lab.node)
        .delete_table(TABLE)
        .await
        .expect("teardown");
    let gone = Command::new("ip")
        .args([
            "netns", "exec", &lab.node, "nft", "list", "table", "ip", TABLE,
        ])
        .output()
        .expect("nft");
    assert!(!gone.status.success(), "the table is gone after teardown");
}
