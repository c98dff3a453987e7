//! `hostPort`s on a real host (as the CNI portmap plugin): a pod's port
//! reached on the node's own address (the test bridge's gateway, a local
//! non-loopback address) from the host, from another pod and from the pod
//! itself (hairpin), over TCP and UDP; a second pod asking for the same
//! port refused; the rules gone with the pod, rebuilt by a restarted agent
//! from its records and dropped by `gc`. Needs root, iproute2, nftables,
//! util-linux and busybox-static.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{sh, stdout, TestNet};
use rkube_cri::{NetworkPlugin, PortMapping, Protocol};
use rkube_net::{portmap, BridgeNetwork};

/// Removes the test's hostPort table even when the test fails.
struct TableGuard(String);

impl Drop for TableGuard {
    fn drop(&mut self) {
        let _ = Command::new("nft")
            .args(["delete", "table", "ip", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

/// A busybox `nc` listening once in `ns`, writing what it receives to a
/// file; killed on drop.
struct Server {
    child: Child,
    out: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(ns: &str, port: u16) -> Server {
        let dir = tempfile::tempdir().expect("test");
        let out = dir.path().join("received");
        let file = std::fs::File::create(&out).expect("test");
        let port = port.to_string();
        let args = ["netns", "exec", ns, "busybox", "nc", "-l", "-p", &port];
        let child = Command::new("ip")
            .args(args)
            .stdout(file)
            .stderr(Stdio::null())
            .spawn()
            .expect("test");
        Server {
            child,
            out,
            _dir: dir,
        }
    }

    fn received(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends `msg` from `ns` (`None`: the host) to `ip:port` until `server`
/// received it (3 s at most).
fn delivered(server: &Server, from: Option<&str>, ip: &str, port: u16, msg: &str) -> bool {
    let prefix = from.map_or(String::new(), |ns| format!("ip netns exec {ns} "));
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        let _ = sh(&[
            "sh",
            "-c",
            &format!("echo {msg} | {prefix}busybox nc -w 1 {ip} {port}"),
        ]);
        if server.received().contains(msg) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A UDP echo server in `ns` (a thread that entered the namespace) for
/// 10 s.
fn udp_echo(ns: &str, port: u16) -> std::thread::JoinHandle<()> {
    let path = format!("/run/netns/{ns}");
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let handle = std::thread::spawn(move || {
        let f = std::fs::File::open(&path).expect("test");
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        let sock = std::net::UdpSocket::bind(("0.0.0.0", port)).expect("bind");
        sock.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("test");
        let _ = ready_tx.send(());
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 512];
        while Instant::now() < deadline {
            if let Ok((n, from)) = sock.recv_from(&mut buf) {
                let _ = sock.send_to(&buf[..n], from);
            }
        }
    });
    ready_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the UDP echo server did not start");
    handle
}

/// Sends `msg` to `to` from the host until an answer comes (3 s).
fn udp_ask(to: &str, msg: &str) -> Option<String> {
    let sock = std::net::UdpSocket::bind("0.0.0.0:0").expect("test");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("test");
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        let _ = sock.send_to(msg.as_bytes(), to);
        if let Ok(n) = sock.recv(&mut buf) {
            return Some(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    None
}

fn port_seed(t: &TestNet) -> u16 {
    20000 + (u32::from_str_radix(&t.suffix, 16).expect("test") % 9000) as u16
}

#[tokio::test]
async fn host_ports_reach_the_pod_from_the_host_other_pods_and_itself() {
    let mut t = TestNet::new();
    let _table = TableGuard(portmap::table_name(&t.config));
    let (ns_a, ns_b, ns_c) = (t.netns(), t.netns(), t.netns());
    let gateway = t.config.pod_cidr.gateway().to_string();
    let tcp_port = port_seed(&t);
    let udp_port = tcp_port + 1;
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let (sa, sb, sc) = (t.sandbox("a"), t.sandbox("b"), t.sandbox("c"));
    let mut att = t.attachment(&sa, &ns_a);
    att.port_mappings = vec![
        PortMapping {
            protocol: Protocol::Tcp,
            container_port: 8080,
            host_port: tcp_port,
            host_ip: String::new(),
        },
        PortMapping {
            protocol: Protocol::Udp,
            container_port: 5353,
            host_port: udp_port,
            host_ip: gateway.clone(),
        },
    ];
    let a = net.add(&att).await.expect("test");
    let b = net.add(&t.attachment(&sb, &ns_b)).await.expect("test");
    assert_ne!(a.ip, b.ip);

    let table = portmap::table_name(&t.config);
    let rules = stdout(&["nft", "list", "table", "ip", &table]);
    assert!(
        rules.contains(&format!("tcp . {tcp_port} : jump hp-")),
        "{rules}"
    );
    assert!(
        rules.contains(&format!("{gateway} . udp . {udp_port} : jump hp-")),
        "{rules}"
    );
    assert!(rules.contains(&format!("dnat to {}:8080", a.ip)), "{rules}");

    // From the host, to the node's (the bridge's) address.
    let server = Server::start(&ns_a, 8080);
    assert!(
        delivered(&server, None, &gateway, tcp_port, "from-host"),
        "no TCP connection from the host to {gateway}:{tcp_port}"
    );
    drop(server);
    // From another pod (its replies come back through the node: hairpin
    // masquerade).
    let server = Server::start(&ns_a, 8080);
    assert!(
        delivered(&server, Some(&ns_b), &gateway, tcp_port, "from-b"),
        "no TCP connection from pod b through the hostPort"
    );
    drop(server);
    // From the pod itself.
    let server = Server::start(&ns_a, 8080);
    assert!(
        delivered(&server, Some(&ns_a), &gateway, tcp_port, "from-a"),
        "no hairpin TCP connection from pod a to its own hostPort"
    );
    drop(server);
    // UDP on the hostIP, and the reply back.
    let echo = udp_echo(&ns_a, 5353);
    let reply = udp_ask(&format!("{gateway}:{udp_port}"), "udp-from-host");
    assert_eq!(
        reply.as_deref(),
        Some("udp-from-host"),
        "no UDP reply from the pod through {gateway}:{udp_port}"
    );
    drop(echo);

    // Another pod on the same port: refused, its address released.
    let mut clash = t.attachment(&sc, &ns_c);
    clash.port_mappings = vec![PortMapping {
        protocol: Protocol::Tcp,
        container_port: 80,
        host_port: tcp_port,
        host_ip: gateway.clone(),
    }];
    let err = net.add(&clash).await.expect_err("the port is taken");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!(
            "hostPort {tcp_port}/TCP on {gateway} is already in use by pod default/pod-{sa}"
        )),
        "{msg}"
    );
    assert_eq!(
        net.address_of(&sc),
        None,
        "the refused sandbox kept its address"
    );

    // A restarted agent rebuilds the table from its records.
    drop(net);
    sh(&["nft", "delete", "table", "ip", &table]);
    let net = BridgeNetwork::start(t.config.clone()).await.expect("test");
    let rules = stdout(&["nft", "list", "table", "ip", &table]);
    assert!(
        rules.contains(&format!("tcp . {tcp_port} : jump hp-")),
        "{rules}"
    );
    let server = Server::start(&ns_a, 8080);
    assert!(
        delivered(&server, None, &gateway, tcp_port, "after-restart"),
        "the hostPort does not work after a restart"
    );
    drop(server);

    // del removes the mapping; the port is free for another pod.
    net.del(&sa).await.expect("test");
    let rules = stdout(&["nft", "list", "table", "ip", &table]);
    assert!(!rules.contains("jump hp-"), "{rules}");
    assert!(!rules.contains("dnat to"), "{rules}");
    let server = Server::start(&ns_a, 8080);
    assert!(
        !delivered(&server, None, &gateway, tcp_port, "after-del"),
        "the hostPort still reaches the pod after del"
    );
    drop(server);
    net.add(&clash).await.expect("the port is free again");
    let rules = stdout(&["nft", "list", "table", "ip", &table]);
    assert!(
        rules.contains(&format!("{gateway} . tcp . {tcp_port} : jump hp-")),
        "{rules}"
    );

    // gc with no live sandbox: nothing mapped, no record left.
    net.gc(&[]).await.expect("test");
    let rules = stdout(&["nft", "list", "table", "ip", &table]);
    assert!(!rules.contains("jump hp-"), "{rules}");
    assert!(net.hostports().records().await.is_empty());

    // Teardown removes the table.
    net.teardown_all().await.expect("test");
    let out = sh(&["nft", "list", "table", "ip", &table]);
    assert!(!out.status.success(), "the hostPort table is left");
}
