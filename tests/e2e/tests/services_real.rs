//! Services through rkube-proxy's nftables rules on `rkube up
//! --real-node`, with kubectl 1.37 and busybox pods made by the test
//! (`httpd` servers answering their name, a client pod using `nc`): a pod reaches a ClusterIP and both endpoints answer; a NodePort
//! answers on the node's bridge address from the host; `ClientIP` affinity
//! sticks; a pod that fails its readiness probe stops receiving traffic
//! within 2 s of failing it; a Service without endpoints is refused at
//! once; the `kubernetes` Service is reachable from a pod (TCP connect to
//! its ClusterIP:443, DNATed to the API server's 127.0.0.1).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;

const T: Duration = Duration::from_secs(90);

/// An httpd pod answering `name`, ready while /tmp/ready exists.
fn server(name: &str) -> String {
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
    command: ["sh", "-c", "mkdir -p /www && echo {name} > /www/index.html && touch /tmp/ready && exec httpd -f -p 8080 -h /www"]
    ports: [{{containerPort: 8080}}]
    readinessProbe:
      exec: {{command: [test, -f, /tmp/ready]}}
      periodSeconds: 1
      failureThreshold: 1
"#
    )
}

const CLIENT: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: client
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: IMAGE
    command: ["sleep", "3600"]
"#;

fn services() -> &'static str {
    r#"apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: web-np
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: sticky
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 300}}
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata:
  name: nothing
spec:
  selector: {app: nobody}
  ports: [{name: http, port: 80, targetPort: 8080}]
"#
}

fn get(c: &RealCluster, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let jp = format!("jsonpath={path}");
    args.extend_from_slice(&["-o", &jp]);
    c.cluster.ok(&args)
}

/// `n` requests from the client pod to `url`: who answered (or the error).
fn answers(c: &RealCluster, url: &str, n: usize) -> Vec<String> {
    // busybox-static's wget crashes in this image; nc speaks HTTP/1.0.
    let target = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace(':', " ");
    let target = if target.contains(' ') {
        target
    } else {
        format!("{target} 80")
    };
    let script = format!(
        "for i in $(seq {n}); do printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {target} 2>&1 | tail -n 1; done"
    );
    let out = c
        .cluster
        .kubectl(&["exec", "client", "--", "sh", "-c", &script]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// An HTTP GET from the host.
fn host_get(addr: SocketAddr) -> Result<String, std::io::Error> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(3)))?;
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out
        .rsplit("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .trim()
        .to_string())
}

#[test]
fn services_route_balance_stick_and_reject_through_nftables() {
    let c = RealCluster::up();
    c.apply("web-a", &server("web-a"));
    c.apply("web-b", &server("web-b"));
    c.apply("client", &CLIENT.replace("IMAGE", BUSYBOX));
    c.apply("services", services());
    for pod in ["web-a", "web-b", "client"] {
        c.wait_for(&["pod", pod], "{.status.phase}", "Running", T);
    }
    for pod in ["web-a", "web-b"] {
        c.wait_for(
            &["pod", pod],
            "{.status.conditions[?(@.type==\"Ready\")].status}",
            "True",
            T,
        );
    }
    let web_ip = get(&c, &["service", "web"], "{.spec.clusterIP}");
    let sticky_ip = get(&c, &["service", "sticky"], "{.spec.clusterIP}");
    let nothing_ip = get(&c, &["service", "nothing"], "{.spec.clusterIP}");
    let kubernetes_ip = get(&c, &["service", "kubernetes"], "{.spec.clusterIP}");
    let node_port = get(&c, &["service", "web-np"], "{.spec.ports[0].nodePort}");

    // Pod → ClusterIP: both endpoints answer.
    let both = BTreeSet::from(["web-a".to_string(), "web-b".to_string()]);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let seen: BTreeSet<String> = answers(&c, &format!("http://{web_ip}/"), 20)
            .into_iter()
            .collect();
        if seen == both {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "pod → {web_ip}:80 answered {seen:?}\nserver log:\n{}",
            c.cluster.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // NodePort from the host, on the node's bridge address (not 127.0.0.1).
    let gateway = {
        let net = c.cluster_cidr.split('/').next().expect("cidr");
        let mut parts: Vec<&str> = net.split('.').collect();
        parts[3] = "1";
        parts.join(".")
    };
    let addr: SocketAddr = format!("{gateway}:{node_port}").parse().expect("addr");
    let mut seen = BTreeSet::new();
    for _ in 0..20 {
        match host_get(addr) {
            Ok(body) => {
                seen.insert(body);
            }
            Err(e) => panic!(
                "host → NodePort {addr}: {e}\nserver log:\n{}",
                c.cluster.log()
            ),
        }
    }
    assert_eq!(seen, both, "NodePort {addr} answered {seen:?}");

    // ClientIP affinity: one client, one endpoint.
    let sticky: BTreeSet<String> = answers(&c, &format!("http://{sticky_ip}/"), 12)
        .into_iter()
        .collect();
    assert_eq!(sticky.len(), 1, "affinity did not stick: {sticky:?}");
    assert!(both.is_superset(&sticky), "{sticky:?}");

    // No endpoints: refused at once.
    let started = Instant::now();
    let out = c.cluster.kubectl(&[
        "exec",
        "client",
        "--",
        "sh",
        "-c",
        &format!("nc -w 5 {nothing_ip} 80 -e true; echo rc=$?"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("Connection refused"), "{text}");
    assert!(text.contains("rc=1"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refusal took {:?} (with kubectl exec)",
        started.elapsed()
    );

    // The kubernetes Service from a pod: TCP connect to its ClusterIP:443.
    let out = c.cluster.kubectl(&[
        "exec",
        "client",
        "--",
        "sh",
        "-c",
        &format!("nc -w 3 {kubernetes_ip} 443 -e true; echo rc=$?"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("rc=0"),
        "pod → kubernetes {kubernetes_ip}:443: {text}\nserver log:\n{}",
        c.cluster.log()
    );

    // Readiness: web-b fails its probe; within 2 s of failing it (probe
    // period 1 s) it gets no more traffic.
    c.cluster.ok(&["exec", "web-b", "--", "rm", "/tmp/ready"]);
    let failed_at = Instant::now();
    let deadline = failed_at + Duration::from_secs(20);
    let moved = loop {
        let got = answers(&c, &format!("http://{web_ip}/"), 8);
        if !got.is_empty() && got.iter().all(|a| a == "web-a") {
            break failed_at.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "web-b still answers after failing readiness: {got:?}\nserver log:\n{}",
            c.cluster.log()
        );
    };
    // One probe period to notice, two seconds to stop the traffic (the
    // loop's own kubectl exec adds under a second of slack).
    assert!(
        moved <= Duration::from_secs(4),
        "traffic to the unready pod stopped only after {moved:?}"
    );
    let again: Vec<String> = answers(&c, &format!("http://{web_ip}/"), 10);
    assert!(again.iter().all(|a| a == "web-a"), "{again:?}");
}
