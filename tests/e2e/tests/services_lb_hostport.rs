//! LoadBalancer Services (as k3s's ServiceLB) and `hostPort`s (as the CNI
//! portmap plugin) through kubectl 1.37 on `rkube up --real-node`:
//! - a LoadBalancer Service gets the real node's InternalIP as its
//!   EXTERNAL-IP (`ipMode: VIP`, the Service's ports), loses it when it
//!   becomes a ClusterIP Service; with simulated nodes only it stays
//!   `<pending>`;
//! - a busybox pod with a `hostPort` answers on the node's addresses at
//!   that port, from the host; a second pod asking for the same port is
//!   not scheduled on the node.
//!
//! The node's address: the tests' nodes default to 127.0.0.1, which
//! neither kube-proxy nor portmap serve. The test gives its node an
//! address of its own instead, a /32 in 10.203.0.0/16 on the host's `lo`
//! (local, never routed anywhere, removed by a guard), with `--node-ip`;
//! the hostPort is also reached on the pod bridge's own address (the
//! gateway of the test's pod range), another local address.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;
use rkube_e2e::Cluster;

const T: Duration = Duration::from_secs(60);

/// A /32 on `lo` for the test's node, removed on drop.
struct NodeAddress(Ipv4Addr);

impl NodeAddress {
    fn new() -> NodeAddress {
        let addrs = Command::new("ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .expect("ip is missing: install the Debian package iproute2");
        let addrs = String::from_utf8_lossy(&addrs.stdout).to_string();
        let seed = std::process::id()
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .subsec_nanos();
        let ip = (0..64u32)
            .map(|i| {
                let x = seed.wrapping_add(i.wrapping_mul(7919));
                Ipv4Addr::new(10, 203, (x % 250) as u8, ((x >> 8) % 250 + 2) as u8)
            })
            .find(|ip| !addrs.contains(&format!("inet {ip}/")))
            .expect("a free address in 10.203.0.0/16");
        let out = Command::new("ip")
            .args(["addr", "add", &format!("{ip}/32"), "dev", "lo"])
            .output()
            .expect("run ip");
        assert!(out.status.success(), "ip addr add {ip}/32 dev lo: {out:?}");
        NodeAddress(ip)
    }
}

impl Drop for NodeAddress {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["addr", "del", &format!("{}/32", self.0), "dev", "lo"])
            .output();
    }
}

fn until_prints(c: &Cluster, args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let out = c.kubectl(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl {args:?} never printed {want:?}; last:\n{text}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            c.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

const LB: &str = r#"apiVersion: v1
kind: Service
metadata:
  name: web-lb
spec:
  type: LoadBalancer
  selector:
    app: web
  ports:
  - name: http
    port: 8081
    targetPort: 8080
  - name: dns
    port: 53
    protocol: UDP
"#;

/// `GET /` on `to`; the body, once it answers (within `T`).
fn http_get(to: SocketAddr) -> Option<String> {
    let deadline = Instant::now() + T;
    while Instant::now() < deadline {
        if let Ok(mut s) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(3)));
            if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_ok() {
                let mut body = String::new();
                if s.read_to_string(&mut body).is_ok() && body.contains("200 OK") {
                    return Some(body);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

fn web_pod(name: &str, host_port: u16) -> String {
    let script = format!(
        "mkdir -p /www && echo hostport-{name} > /www/index.html && exec httpd -f -p 8080 -h /www"
    );
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: web
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
    ports:
    - containerPort: 8080
      hostPort: {host_port}
"#
    )
}

#[test]
fn load_balancer_gets_the_node_address_and_host_ports_answer() {
    let addr = NodeAddress::new();
    let node_ip = addr.0.to_string();
    let c = RealCluster::up_with(&["--node-ip", &node_ip]);

    // LoadBalancer: the node's address, VIP, the Service's ports.
    c.apply("web-lb", LB);
    c.wait_for(
        &["svc", "web-lb"],
        "{.status.loadBalancer.ingress[*].ip} {.status.loadBalancer.ingress[0].ipMode} {.status.loadBalancer.ingress[0].ports[*].port}",
        &format!("{node_ip} VIP 8081 53"),
        T,
    );
    let table = c.cluster.ok(&["get", "svc", "web-lb"]);
    let row = table.lines().nth(1).unwrap_or_default();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols.get(1), Some(&"LoadBalancer"), "{table}");
    assert_eq!(
        cols.get(3),
        Some(&node_ip.as_str()),
        "EXTERNAL-IP:\n{table}"
    );

    // No longer a LoadBalancer: the status is cleared.
    c.cluster.ok(&[
        "patch",
        "svc",
        "web-lb",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"type":"ClusterIP","ports":[{"name":"http","port":8081,"targetPort":8080,"protocol":"TCP"}]}}"#,
    ]);
    c.wait_for(&["svc", "web-lb"], "{.status.loadBalancer.ingress}", "", T);
    let table = c.cluster.ok(&["get", "svc", "web-lb"]);
    assert!(
        table.lines().nth(1).is_some_and(|r| r.contains("<none>")),
        "{table}"
    );

    // hostPort: the pod's httpd on the node's addresses.
    let host_port = 20000 + (std::process::id() % 9000) as u16;
    c.apply("web-a", &web_pod("web-a", host_port));
    c.wait_for(&["pod", "web-a"], "{.status.phase}", "Running", T);
    let body = http_get(SocketAddr::from((addr.0, host_port)));
    assert!(
        body.as_deref()
            .is_some_and(|b| b.contains("hostport-web-a")),
        "no answer on the node's address {node_ip}:{host_port}: {body:?}\n{}",
        c.cluster.log()
    );
    let range: Ipv4Addr = c
        .cluster_cidr
        .split('/')
        .next()
        .and_then(|a| a.parse().ok())
        .expect("the test's pod range");
    let gateway = Ipv4Addr::from(u32::from(range) + 1);
    let body = http_get(SocketAddr::from((gateway, host_port)));
    assert!(
        body.as_deref()
            .is_some_and(|b| b.contains("hostport-web-a")),
        "no answer on the bridge's address {gateway}:{host_port}: {body:?}"
    );

    // The same hostPort again: not on this (the only) node.
    c.apply("web-b", &web_pod("web-b", host_port));
    until_prints(
        &c.cluster,
        &[
            "get",
            "events",
            "--field-selector",
            "involvedObject.name=web-b",
        ],
        "didn't have free ports",
    );
    assert_eq!(
        c.cluster
            .ok(&["get", "pod", "web-b", "-o", "jsonpath={.status.phase}"]),
        "Pending"
    );

    // The pod gone, the port answers no more.
    c.cluster
        .ok(&["delete", "pod", "web-a", "--wait=true", "--timeout=60s"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let refused = TcpStream::connect_timeout(
            &SocketAddr::from((addr.0, host_port)),
            Duration::from_secs(1),
        )
        .is_err();
        if refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{node_ip}:{host_port} still answers after the pod is gone"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn load_balancer_stays_pending_without_a_real_node() {
    let c = Cluster::up_with(&["--sim-nodes", "2"]);
    let f = c.file("web-lb.yaml", LB);
    c.ok(&["apply", "-f", f.to_str().expect("utf-8 path")]);
    until_prints(&c, &["get", "svc", "web-lb"], "<pending>");
    // Given time, still nothing: simulated nodes' addresses are made up.
    std::thread::sleep(Duration::from_secs(3));
    let table = c.ok(&["get", "svc", "web-lb"]);
    assert!(table.contains("<pending>"), "{table}");
    assert_eq!(
        c.ok(&[
            "get",
            "svc",
            "web-lb",
            "-o",
            "jsonpath={.status.loadBalancer.ingress}"
        ]),
        ""
    );
}
