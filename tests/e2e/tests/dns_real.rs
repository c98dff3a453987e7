//! Cluster DNS on `rkube up --real-node`, through kubectl 1.37 and busybox
//! pods: the API server's `kube-system/kube-dns` Service at the tenth
//! address of the service range, the node's EndpointSlice of it (its pod
//! bridge's address), pods' resolv.conf (search path, ndots:5, the
//! Service's address; `dnsPolicy: None` with `dnsConfig`), and names
//! answered to pods: `kubernetes.default`, a Service, a headless
//! Service's StatefulSet pods, an ExternalName's CNAME, a name outside
//! the cluster forwarded to a resolver the test starts on loopback
//! (`--dns-upstream`), so nothing leaves the machine.
//!
//! `names_resolve_through_the_pods_resolv_conf` asks the Service's
//! ClusterIP, which reaches the node's server only through the Service
//! proxy's rules (rkube-proxy); the other test asks the node's server
//! at its own address.

use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;

const T: Duration = Duration::from_secs(90);

/// The address the fake upstream gives every A question.
const UPSTREAM_ANSWER: [u8; 4] = [192, 0, 2, 44];

/// A resolver on loopback answering every A question with
/// [`UPSTREAM_ANSWER`] (other types: NOERROR, no records), in DNS wire
/// format written by hand. Stops on drop.
struct FakeResolver {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn fake_answer(q: &[u8]) -> Option<Vec<u8>> {
    if q.len() < 12 {
        return None;
    }
    // The question's end: labels, the root, type and class.
    let mut i = 12;
    while i < q.len() && q[i] != 0 {
        i += 1 + q[i] as usize;
    }
    let end = i + 5;
    if end > q.len() {
        return None;
    }
    let qtype = u16::from_be_bytes([q[i + 1], q[i + 2]]);
    let mut out = q[..end].to_vec();
    out[2] = 0x81; // QR, RD
    out[3] = 0x80; // RA, NOERROR
    out[4..12].copy_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    if qtype == 1 {
        out[7] = 1;
        out.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        out.extend_from_slice(&UPSTREAM_ANSWER);
    }
    Some(out)
}

impl FakeResolver {
    fn start() -> FakeResolver {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind the fake resolver");
        socket
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        let port = socket.local_addr().expect("addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            while !stopping.load(Ordering::SeqCst) {
                if let Ok((n, peer)) = socket.recv_from(&mut buf) {
                    if let Some(out) = fake_answer(&buf[..n]) {
                        let _ = socket.send_to(&out, peer);
                    }
                }
            }
        });
        FakeResolver {
            port,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeResolver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const WORKLOADS: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Pod
metadata:
  name: custom
spec:
  terminationGracePeriodSeconds: 1
  dnsPolicy: None
  dnsConfig:
    nameservers: ["192.0.2.1"]
    searches: ["my.search.test"]
    options:
    - name: ndots
      value: "2"
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - name: http
    port: 80
---
apiVersion: v1
kind: Service
metadata:
  name: peers
spec:
  clusterIP: None
  selector: {app: peers}
  ports:
  - name: gossip
    port: 7000
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: peers
spec:
  serviceName: peers
  replicas: 2
  selector:
    matchLabels: {app: peers}
  template:
    metadata:
      labels: {app: peers}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: IMAGE
        command: ["sleep", "3600"]
---
apiVersion: v1
kind: Service
metadata:
  name: ext
spec:
  type: ExternalName
  externalName: db.example.test
"#;

/// Wait until `kubectl exec <pod> -- <cmd>` prints something containing
/// every one of `want`; return the output.
fn exec_until(c: &RealCluster, pod: &str, cmd: &[&str], want: &[&str]) -> String {
    let mut args = vec!["exec", pod, "--"];
    args.extend_from_slice(cmd);
    let deadline = Instant::now() + T;
    loop {
        let out = c.cluster.kubectl(&args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if want.iter().all(|w| text.contains(w)) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl {args:?} never printed {want:?}; last:\n{text}\nserver log:\n{}",
            c.cluster.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn get(c: &RealCluster, what: &[&str], path: &str) -> String {
    let jsonpath = format!("jsonpath={path}");
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", &jsonpath]);
    c.cluster.ok(&args)
}

/// The cluster with the test's upstream, the workloads running, and the
/// node's DNS address (its kube-dns endpoint).
fn setup(upstream: &FakeResolver) -> (RealCluster, String) {
    let dns_upstream = format!("127.0.0.1:{}", upstream.port);
    let c = RealCluster::up_with(&["--dns-upstream", &dns_upstream]);
    let tenth = {
        let base = c.service_range.trim_end_matches(".0/24");
        format!("{base}.10")
    };
    c.wait_for(
        &["service", "kube-dns", "-n", "kube-system"],
        "{.spec.clusterIP}",
        &tenth,
        T,
    );
    assert_eq!(
        get(
            &c,
            &["service", "kube-dns", "-n", "kube-system"],
            "{.metadata.labels.k8s-app} {.spec.internalTrafficPolicy} {.spec.ports[*].name}"
        ),
        "kube-dns Local dns dns-tcp metrics"
    );
    let node = get(&c, &["nodes"], "{.items[0].metadata.name}");
    let slice = format!("kube-dns-{node}");
    let gateway = {
        let base = c.cluster_cidr.trim_end_matches(".0/24");
        format!("{base}.1")
    };
    c.wait_for(
        &["endpointslice", &slice, "-n", "kube-system"],
        "{.endpoints[0].addresses[0]}",
        &gateway,
        T,
    );
    c.apply("workloads", &WORKLOADS.replace("IMAGE", BUSYBOX));
    for pod in ["client", "custom", "peers-0", "peers-1"] {
        c.wait_for(&["pod", pod], "{.status.phase}", "Running", T);
    }
    (c, gateway)
}

#[test]
fn pods_resolve_cluster_names_at_the_nodes_dns_address() {
    let upstream = FakeResolver::start();
    let (c, dns) = setup(&upstream);
    let tenth = format!("{}.10", c.service_range.trim_end_matches(".0/24"));

    // The pods' resolv.conf, as the kubelet writes it.
    let conf = c
        .cluster
        .ok(&["exec", "client", "--", "cat", "/etc/resolv.conf"]);
    assert!(conf.contains(&format!("nameserver {tenth}")), "{conf}");
    assert!(
        conf.contains("search default.svc.cluster.local svc.cluster.local cluster.local"),
        "{conf}"
    );
    assert!(conf.contains("options ndots:5"), "{conf}");
    let custom = c
        .cluster
        .ok(&["exec", "custom", "--", "cat", "/etc/resolv.conf"]);
    assert!(custom.contains("nameserver 192.0.2.1"), "{custom}");
    assert!(custom.contains("search my.search.test"), "{custom}");
    assert!(custom.contains("ndots:2"), "{custom}");
    assert!(!custom.contains(&tenth), "{custom}");

    // kubernetes.default and a Service.
    let first = format!("{}.1", c.service_range.trim_end_matches(".0/24"));
    exec_until(
        &c,
        "client",
        &["nslookup", "kubernetes.default.svc.cluster.local", &dns],
        &[&first],
    );
    let web_ip = get(&c, &["service", "web"], "{.spec.clusterIP}");
    exec_until(
        &c,
        "client",
        &["nslookup", "web.default.svc.cluster.local", &dns],
        &[&web_ip],
    );
    exec_until(
        &c,
        "client",
        &["nslookup", "kube-dns.kube-system.svc.cluster.local", &dns],
        &[&tenth],
    );

    // The headless Service: each StatefulSet pod by name, and all of them
    // under the Service's name.
    let ip0 = get(&c, &["pod", "peers-0"], "{.status.podIP}");
    let ip1 = get(&c, &["pod", "peers-1"], "{.status.podIP}");
    exec_until(
        &c,
        "client",
        &["nslookup", "peers-0.peers.default.svc.cluster.local", &dns],
        &[&ip0],
    );
    exec_until(
        &c,
        "client",
        &["nslookup", "peers-1.peers.default.svc.cluster.local", &dns],
        &[&ip1],
    );
    exec_until(
        &c,
        "client",
        &["nslookup", "peers.default.svc.cluster.local", &dns],
        &[&ip0, &ip1],
    );
    // SRV for the named port, one per pod.
    exec_until(
        &c,
        "client",
        &[
            "nslookup",
            "-type=SRV",
            "_gossip._tcp.peers.default.svc.cluster.local",
            &dns,
        ],
        &[
            "peers-0.peers.default.svc.cluster.local",
            "peers-1.peers.default.svc.cluster.local",
        ],
    );

    // ExternalName: the CNAME, and the target's address from upstream.
    exec_until(
        &c,
        "client",
        &["nslookup", "ext.default.svc.cluster.local", &dns],
        &["db.example.test", "192.0.2.44"],
    );
    // A name outside the cluster, forwarded to the test's resolver.
    exec_until(
        &c,
        "client",
        &["nslookup", "www.example.test", &dns],
        &["192.0.2.44"],
    );
    // A name under the cluster domain that does not exist.
    exec_until(
        &c,
        "client",
        &["nslookup", "nothing.default.svc.cluster.local", &dns],
        &["NXDOMAIN"],
    );
}

/// Through the pod's own resolv.conf: the kube-dns ClusterIP, which
/// needs the Service proxy's rules to reach the node's server. busybox's
/// `nslookup` applies the search path only to names without a dot (as in
/// Kubernetes' own DNS debugging notes, `nslookup kubernetes.default` with
/// busybox newer than 1.28 asks for the name as it is): dotted names are
/// asked in full, short ones through the search path.
#[test]
fn names_resolve_through_the_pods_resolv_conf() {
    let upstream = FakeResolver::start();
    let (c, _dns) = setup(&upstream);
    let first = format!("{}.1", c.service_range.trim_end_matches(".0/24"));
    // "Address: IP" and the line's end: the server's own address (the
    // tenth) must not pass for the first.
    let answer = |ip: &str| format!("Address: {ip}\n");
    exec_until(
        &c,
        "client",
        &["nslookup", "kubernetes.default.svc.cluster.local"],
        &[&answer(&first)],
    );
    exec_until(
        &c,
        "client",
        &["nslookup", "kubernetes"],
        &[&answer(&first)],
    );
    let web_ip = get(&c, &["service", "web"], "{.spec.clusterIP}");
    exec_until(&c, "client", &["nslookup", "web"], &[&answer(&web_ip)]);
    let ip0 = get(&c, &["pod", "peers-0"], "{.status.podIP}");
    exec_until(
        &c,
        "client",
        &["nslookup", "peers-0.peers.default.svc.cluster.local"],
        &[&answer(&ip0)],
    );
}
