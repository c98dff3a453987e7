//! The compiled rules enforced by a real kernel: a bridge inside a network
//! namespace of the test's own (the "node"), three "pod" namespaces on
//! veths, the policy table loaded inside the node namespace with
//! `ip netns exec … nft -f -`, and real TCP and UDP connections between
//! the pods. Every step applies the difference from the step before, as
//! the enforcer does; nothing leaves the namespaces the test made, and the
//! namespaces (with their links and the table) are deleted in Drop.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use rkube_netpol::testing::{config, namespace, pod, policy};
use rkube_netpol::{compile, script, Objects, PolicyConfig, Ruleset};
use serde_json::json;

const A: &str = "10.77.0.10";
const B: &str = "10.77.0.11";
const C: &str = "10.77.0.12";
const GATEWAY: &str = "10.77.0.1";
const TCP_PORTS: [u16; 8] = [8080, 8081, 8083, 8085, 8086, 8090, 9000, 9001];
const UDP_PORT: u16 = 5353;
const BLOCKED_AFTER: Duration = Duration::from_millis(500);

fn sh(args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let mut child = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e} (install Debian's iproute2 and nftables)", args[0]))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = sh(args, None) {
        panic!("{e}");
    }
}

/// Runs `f` on a thread that entered the namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let file = std::fs::File::open(&path).expect("the namespace exists");
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        f()
    })
}

/// The node namespace, three pods, their servers, and the table.
struct Lab {
    node: String,
    pods: Vec<String>,
    table: String,
    config: PolicyConfig,
    stop: Arc<AtomicBool>,
    servers: Vec<JoinHandle<()>>,
    applied: Option<Ruleset>,
}

impl Lab {
    fn new() -> Lab {
        let uid = sh(&["id", "-u"], None).expect("id runs");
        assert_eq!(
            uid.trim(),
            "0",
            "this test makes network namespaces: run it as root"
        );
        for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
            assert!(
                Command::new(tool).arg("-V").output().is_ok(),
                "{tool} is missing: install Debian's {package}"
            );
        }
        let suffix = format!("{}-{:04x}", std::process::id(), rand_u16());
        let node = format!("npn-{suffix}");
        let pods: Vec<String> = ["a", "b", "c"]
            .iter()
            .map(|p| format!("np{p}-{suffix}"))
            .collect();
        let bridge = "br-np";
        let table = format!("rkube-netpol-t{}", std::process::id());
        let mut lab = Lab {
            node: node.clone(),
            pods: Vec::new(),
            table: table.clone(),
            config: config(&table, bridge, "10.77.0.0/24"),
            stop: Arc::new(AtomicBool::new(false)),
            servers: Vec::new(),
            applied: None,
        };
        must(&["ip", "netns", "add", &node]);
        let n = |args: &[&str]| {
            let mut full = vec!["ip", "-n", node.as_str()];
            full.extend_from_slice(args);
            must(&full);
        };
        n(&["link", "set", "lo", "up"]);
        n(&["link", "add", bridge, "type", "bridge"]);
        n(&["addr", "add", &format!("{GATEWAY}/24"), "dev", bridge]);
        n(&["link", "set", bridge, "up"]);
        for (i, (ns, ip)) in pods.iter().zip([A, B, C]).enumerate() {
            must(&["ip", "netns", "add", ns]);
            lab.pods.push(ns.clone());
            let veth = format!("v{i}");
            n(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ]);
            n(&["link", "set", &veth, "master", bridge, "up"]);
            for args in [
                vec!["link", "set", "lo", "up"],
                vec!["addr", "add", &format!("{ip}/24"), "dev", "eth0"],
                vec!["link", "set", "eth0", "up"],
                vec!["route", "add", "default", "via", GATEWAY],
            ] {
                let mut full = vec!["ip", "-n", ns.as_str()];
                full.extend_from_slice(&args);
                must(&full);
            }
            lab.serve(ns);
        }
        lab
    }

    /// TCP servers answering `hi` on [`TCP_PORTS`], a UDP echo on
    /// [`UDP_PORT`].
    fn serve(&mut self, ns: &str) {
        let stop = self.stop.clone();
        let (ready, bound) = mpsc::channel();
        self.servers.push(in_ns(ns, move || {
            let listeners: Vec<TcpListener> = TCP_PORTS
                .iter()
                .map(|p| {
                    let l = TcpListener::bind(("0.0.0.0", *p)).expect("bind");
                    l.set_nonblocking(true).expect("nonblocking");
                    l
                })
                .collect();
            let udp = UdpSocket::bind(("0.0.0.0", UDP_PORT)).expect("bind udp");
            udp.set_nonblocking(true).expect("nonblocking");
            ready.send(()).expect("ready");
            let mut buf = [0u8; 64];
            while !stop.load(Ordering::Relaxed) {
                for l in &listeners {
                    if let Ok((mut s, _)) = l.accept() {
                        let _ = s.set_nonblocking(false);
                        let _ = s.write_all(b"hi\n");
                    }
                }
                if let Ok((n, from)) = udp.recv_from(&mut buf) {
                    let _ = udp.send_to(&buf[..n], from);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        }));
        bound
            .recv_timeout(Duration::from_secs(5))
            .expect("the servers bound");
    }

    fn ns_of(&self, pod: char) -> String {
        let i = match pod {
            'a' => 0,
            'b' => 1,
            _ => 2,
        };
        self.pods[i].clone()
    }

    /// Whether `from` opens a TCP connection to `to:port` and reads the
    /// server's reply (so the reply direction passes too).
    fn tcp(&self, from: &str, to: &str, port: u16) -> bool {
        let to: Ipv4Addr = to.parse().expect("an address");
        in_ns(from, move || {
            let addr = SocketAddr::from((to, port));
            let Ok(mut s) = TcpStream::connect_timeout(&addr, BLOCKED_AFTER) else {
                return false;
            };
            s.set_read_timeout(Some(BLOCKED_AFTER)).expect("timeout");
            let mut reply = String::new();
            s.read_to_string(&mut reply).is_ok() && reply == "hi\n"
        })
        .join()
        .expect("client thread")
    }

    fn udp(&self, from: &str, to: &str) -> bool {
        let to: Ipv4Addr = to.parse().expect("an address");
        in_ns(from, move || {
            let s = UdpSocket::bind(("0.0.0.0", 0)).expect("bind");
            s.set_read_timeout(Some(BLOCKED_AFTER)).expect("timeout");
            let _ = s.send_to(b"ping", (to, UDP_PORT));
            let mut buf = [0u8; 16];
            matches!(s.recv_from(&mut buf), Ok((4, _)))
        })
        .join()
        .expect("client thread")
    }

    fn nft(&self, text: &str) -> Result<String, String> {
        sh(
            &["ip", "netns", "exec", &self.node, "nft", "-f", "-"],
            Some(text),
        )
    }

    /// Compile `objects` and apply the difference from the last step (the
    /// whole table the first time); returns the script applied.
    fn apply(&mut self, objects: &Objects) -> String {
        let desired = compile(objects, &self.config);
        let text = match &self.applied {
            Some(old) => script::diff(&self.table, old, &desired),
            None => script::full(&self.table, &desired),
        };
        if let Err(e) = self.nft(&text) {
            panic!("nft rejected the script: {e}\n{text}");
        }
        self.applied = Some(desired);
        text
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in self.servers.drain(..) {
            let _ = s.join();
        }
        let _ = self.nft(&script::remove(&self.table));
        for ns in self.pods.iter().chain([&self.node]) {
            let _ = sh(&["ip", "netns", "del", ns], None);
        }
    }
}

fn rand_u16() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u16
}

fn pods(c_labels: serde_json::Value) -> Vec<Arc<k8s_openapi::api::core::v1::Pod>> {
    vec![
        pod(
            "x",
            "a",
            "n1",
            Some(A),
            json!({"app": "server"}),
            &[("http", "TCP", 8080)],
        ),
        pod("x", "b", "n1", Some(B), json!({"role": "client"}), &[]),
        pod("x", "c", "n1", Some(C), c_labels, &[]),
    ]
}

fn objects(
    policies: Vec<Arc<k8s_openapi::api::networking::v1::NetworkPolicy>>,
    c_labels: serde_json::Value,
) -> Objects {
    Objects {
        policies,
        pods: pods(c_labels),
        namespaces: vec![namespace("x", json!({}))],
    }
}

#[test]
fn policies_hold_for_real_tcp_and_udp_connections() {
    let mut lab = Lab::new();
    let (a, b, c) = (lab.ns_of('a'), lab.ns_of('b'), lab.ns_of('c'));
    let other = json!({"role": "other"});

    // No policy: everything flows (and the servers work).
    lab.apply(&objects(vec![], other.clone()));
    assert!(lab.tcp(&b, A, 8080) && lab.tcp(&c, A, 8080) && lab.tcp(&a, B, 8080));
    assert!(lab.udp(&b, C));

    // Default deny ingress for the namespace.
    let deny = policy(
        "x",
        "deny",
        json!({"podSelector": {}, "policyTypes": ["Ingress"]}),
    );
    lab.apply(&objects(vec![deny.clone()], other.clone()));
    assert!(!lab.tcp(&b, A, 8080), "default deny lets b reach a");
    assert!(!lab.tcp(&c, A, 8080), "default deny lets c reach a");
    assert!(!lab.udp(&b, C), "default deny lets UDP through");
    // The node itself (the kubelet's probes) still reaches the pods.
    assert!(
        lab.tcp(&lab.node.clone(), A, 8080),
        "the node cannot reach a pod"
    );

    // Allow app=server from role=client on 8080: only b, only that port;
    // a's reply to b passes although b is isolated (established).
    let allow = policy(
        "x",
        "allow",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}],
                            "ports": [{"port": 8080}]}]}),
    );
    lab.apply(&objects(vec![deny.clone(), allow.clone()], other.clone()));
    assert!(
        lab.tcp(&b, A, 8080),
        "the allow rule does not admit b (or a's reply)"
    );
    assert!(!lab.tcp(&b, A, 8081), "the allow rule admits another port");
    assert!(
        !lab.tcp(&c, A, 8080),
        "the allow rule admits an unlabelled pod"
    );
    assert!(!lab.tcp(&a, B, 8080), "b is isolated but a reaches it");

    // c gets the label: only set elements change, and c is admitted.
    let text = lab.apply(&objects(
        vec![deny.clone(), allow.clone()],
        json!({"role": "client"}),
    ));
    assert!(
        text.lines()
            .all(|l| l.starts_with("add element ") && !l.contains("-pods ")),
        "a label change rewrote more than a set:\n{text}"
    );
    assert!(
        lab.tcp(&c, A, 8080),
        "the newly labelled pod is not admitted"
    );
    lab.apply(&objects(vec![deny.clone(), allow], other.clone()));
    assert!(
        !lab.tcp(&c, A, 8080),
        "the unlabelled pod is still admitted"
    );

    // Egress: b may reach only a (TCP 8080 and UDP 5353).
    let egress = policy(
        "x",
        "egress",
        json!({"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "server"}}}],
                           "ports": [{"port": 8080}, {"protocol": "UDP", "port": 5353}]}]}),
    );
    lab.apply(&objects(vec![egress], other.clone()));
    assert!(
        lab.tcp(&b, A, 8080),
        "egress to the allowed peer is blocked"
    );
    assert!(lab.udp(&b, A), "UDP egress to the allowed peer is blocked");
    assert!(!lab.tcp(&b, C, 8080), "egress to another pod passes");
    assert!(!lab.udp(&b, C), "UDP egress to another pod passes");
    assert!(!lab.tcp(&b, A, 9000), "egress to another port passes");
    assert!(
        lab.tcp(&c, A, 8080) && lab.tcp(&a, B, 8080),
        "unselected pods are held"
    );

    // The node itself (its DNS, its API server) is egress like any other:
    // b may not reach the node; a ports-only rule lets it.
    let node_ns = lab.node.clone();
    lab.serve(&node_ns);
    assert!(
        !lab.tcp(&b, GATEWAY, 9001),
        "an egress-isolated pod reaches the node"
    );
    assert!(
        lab.tcp(&c, GATEWAY, 9001),
        "an unselected pod cannot reach the node"
    );
    let to_node = policy(
        "x",
        "to-node",
        json!({"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
               "egress": [{"ports": [{"port": 9001}]}]}),
    );
    lab.apply(&objects(vec![to_node], other.clone()));
    assert!(
        lab.tcp(&b, GATEWAY, 9001),
        "a ports-only egress rule does not admit the node"
    );

    // ipBlock with except (pod addresses are matched as addresses).
    let block = policy(
        "x",
        "block",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
               "ingress": [{"from": [{"ipBlock": {"cidr": "10.77.0.0/24", "except": [format!("{C}/32")]}}]}]}),
    );
    lab.apply(&objects(vec![block], other.clone()));
    assert!(lab.tcp(&b, A, 9000), "the ipBlock does not admit b");
    assert!(!lab.tcp(&c, A, 9000), "the ipBlock's except admits c");

    // Named ports: ingress resolved on a's own ports, egress on the peers'.
    let named = policy(
        "x",
        "named",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
               "ingress": [{"ports": [{"port": "http"}]}]}),
    );
    let named_out = policy(
        "x",
        "named-out",
        json!({"podSelector": {"matchLabels": {"role": "client"}}, "policyTypes": ["Egress"],
               "egress": [{"ports": [{"port": "http"}]}]}),
    );
    lab.apply(&objects(vec![named, named_out], other.clone()));
    assert!(lab.tcp(&b, A, 8080), "the named port is not admitted");
    assert!(
        !lab.tcp(&c, A, 8081),
        "another port passes a named-port rule"
    );
    assert!(
        !lab.tcp(&b, C, 8080),
        "egress by name reaches a pod without that port name"
    );

    // endPort range.
    let range = policy(
        "x",
        "range",
        json!({"podSelector": {"matchLabels": {"app": "server"}},
               "ingress": [{"ports": [{"port": 8081, "endPort": 8085}]}]}),
    );
    lab.apply(&objects(vec![range.clone()], other.clone()));
    assert!(lab.tcp(&b, A, 8081) && lab.tcp(&b, A, 8083) && lab.tcp(&b, A, 8085));
    assert!(
        !lab.tcp(&b, A, 8080) && !lab.tcp(&b, A, 8086),
        "a port outside the range passes"
    );

    // A pod a policy isolates, before its address reaches the API: the
    // node's unknown addresses are closed in that direction until it does.
    let starting = policy(
        "x",
        "starting",
        json!({"podSelector": {"matchLabels": {"role": "starting"}},
               "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "client"}}}]}]}),
    );
    let mut pending = objects(vec![starting.clone()], other.clone());
    pending.pods[2] = pod("x", "c", "n1", None, json!({"role": "starting"}), &[]);
    lab.apply(&pending);
    assert!(
        !lab.tcp(&b, C, 8080),
        "a starting pod's unknown address is reachable"
    );
    assert!(
        lab.tcp(&b, A, 8080),
        "a known pod no policy isolates is held"
    );
    lab.apply(&objects(vec![starting], json!({"role": "starting"})));
    assert!(
        lab.tcp(&b, C, 8080),
        "the pod's own rule does not admit b once its address is known"
    );
    assert!(!lab.tcp(&a, C, 8080), "the pod's own rule admits a");

    // A restarted enforcer replaces the table whole; same behaviour.
    lab.applied = None;
    lab.apply(&objects(vec![range], other.clone()));
    assert!(lab.tcp(&b, A, 8083) && !lab.tcp(&b, A, 8086));

    // Without the table everything flows again.
    lab.nft(&script::remove(&lab.table))
        .expect("remove the table");
    assert!(lab.tcp(&c, A, 8080) && lab.tcp(&b, A, 8086));
    let listed = sh(
        &["ip", "netns", "exec", &lab.node, "nft", "list", "tables"],
        None,
    )
    .expect("nft list tables");
    assert!(
        !listed.contains(&lab.table),
        "the table is still there: {listed}"
    );
}
