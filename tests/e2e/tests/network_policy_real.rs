//! NetworkPolicy enforced on `rkube up --real-node`, every object through
//! kubectl 1.37, with busybox pods made by the test: `httpd` servers,
//! `wget` clients by pod IP (under busybox `timeout`: busybox 1.35's
//! `wget -T` crashes). Default deny blocks and an allow rule admits
//! only the labelled pods — ingress and egress; a pod whose labels change
//! becomes covered (and uncovered); the kubelet's probes keep working
//! under default deny (a pod with a readiness probe stays Ready).

use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;

const T: Duration = Duration::from_secs(60);

fn server(name: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "mkdir -p /www && echo hi-from-{name} > /www/index.html && httpd -f -p 8080 -h /www"]
    ports: [{{name: http, containerPort: 8080}}]
    readinessProbe:
      httpGet: {{path: /index.html, port: 8080}}
      periodSeconds: 1
      failureThreshold: 1
"#
    )
}

fn client(name: &str, role: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    role: {role}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sleep", "3600"]
"#
    )
}

fn ip(c: &RealCluster, pod: &str) -> String {
    c.cluster
        .ok(&["get", "pod", pod, "-o", "jsonpath={.status.podIP}"])
}

/// Whether `from` fetches the page of the server at `to` (by pod IP).
fn reaches(c: &RealCluster, from: &str, to_ip: &str, to_name: &str) -> bool {
    let url = format!("http://{to_ip}:8080/index.html");
    let out = c.cluster.kubectl(&[
        "exec", from, "--", "timeout", "3", "wget", "-q", "-O", "-", &url,
    ]);
    String::from_utf8_lossy(&out.stdout).contains(&format!("hi-from-{to_name}"))
}

/// Wait until `reaches(from, to)` is `want` (rules are programmed
/// asynchronously), then check it stays so once more.
fn until_reach(c: &RealCluster, from: &str, to: (&str, &str), want: bool) {
    let deadline = Instant::now() + T;
    while reaches(c, from, to.0, to.1) != want {
        assert!(
            Instant::now() < deadline,
            "{from} → {} never became {}\nserver log:\n{}",
            to.1,
            if want { "reachable" } else { "blocked" },
            c.cluster.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(
        reaches(c, from, to.0, to.1),
        want,
        "{from} → {} flipped back",
        to.1
    );
}

fn ready(c: &RealCluster, pod: &str) -> String {
    c.cluster.ok(&[
        "get",
        "pod",
        pod,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])
}

#[test]
fn default_deny_and_allow_rules_hold_both_ways_and_follow_labels() {
    let c = RealCluster::up();
    c.apply("web", &server("web"));
    c.apply("db", &server("db"));
    c.apply("allowed", &client("allowed", "client"));
    c.apply("other", &client("other", "other"));
    for p in ["web", "db"] {
        c.wait_for(
            &["pod", p],
            "{.status.containerStatuses[0].ready}",
            "true",
            T,
        );
    }
    for p in ["allowed", "other"] {
        c.wait_for(&["pod", p], "{.status.phase}", "Running", T);
    }
    let web_ip = ip(&c, "web");
    let db_ip = ip(&c, "db");
    let web = (web_ip.as_str(), "web");
    let db = (db_ip.as_str(), "db");

    // Without policies every pod reaches every server.
    if !reaches(&c, "other", web.0, web.1) {
        let url = format!("http://{}:8080/index.html", web.0);
        let out = c.cluster.kubectl(&[
            "exec", "other", "--", "timeout", "3", "wget", "-O", "-", &url,
        ]);
        panic!(
            "no policy yet, but other cannot reach web: {}{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            c.cluster.log()
        );
    }
    assert!(reaches(&c, "allowed", db.0, db.1));

    // Default deny for ingress: nobody reaches web or db.
    c.apply(
        "deny",
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: default-deny-ingress}
spec:
  podSelector: {}
  policyTypes: [Ingress]
"#,
    );
    until_reach(&c, "other", web, false);
    assert!(
        !reaches(&c, "allowed", web.0, web.1),
        "default deny admits allowed"
    );
    assert!(
        !reaches(&c, "allowed", db.0, db.1),
        "default deny admits allowed to db"
    );

    // Allow web from role=client: allowed gets in, other does not, db
    // stays closed.
    c.apply(
        "allow",
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-from-clients}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress:
  - from: [{podSelector: {matchLabels: {role: client}}}]
    ports: [{port: http}]
"#,
    );
    until_reach(&c, "allowed", web, true);
    assert!(
        !reaches(&c, "other", web.0, web.1),
        "the allow rule admits other"
    );
    assert!(
        !reaches(&c, "allowed", db.0, db.1),
        "the allow rule opened db"
    );

    // other gets the label: it is admitted; loses it: blocked again.
    c.cluster
        .ok(&["label", "pod", "other", "role=client", "--overwrite"]);
    until_reach(&c, "other", web, true);
    c.cluster
        .ok(&["label", "pod", "other", "role=other", "--overwrite"]);
    until_reach(&c, "other", web, false);

    // The kubelet's probes come from the node: under default deny, for
    // many probe periods, web and db stayed Ready.
    assert_eq!(
        ready(&c, "web"),
        "True",
        "web lost Ready under default deny"
    );
    assert_eq!(ready(&c, "db"), "True", "db lost Ready under default deny");

    // Egress: role=client may only reach web (ingress open again).
    c.cluster.ok(&["delete", "networkpolicy", "--all"]);
    until_reach(&c, "other", web, true);
    c.apply(
        "egress",
        r#"apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: clients-to-web-only}
spec:
  podSelector: {matchLabels: {role: client}}
  policyTypes: [Egress]
  egress:
  - to: [{podSelector: {matchLabels: {app: web}}}]
    ports: [{protocol: TCP, port: 8080}]
"#,
    );
    until_reach(&c, "allowed", db, false);
    assert!(
        reaches(&c, "allowed", web.0, web.1),
        "egress to web is blocked"
    );
    assert!(
        reaches(&c, "other", db.0, db.1),
        "an unselected pod is held"
    );

    // other gets the label: now it is covered by the egress policy too.
    c.cluster
        .ok(&["label", "pod", "other", "role=client", "--overwrite"]);
    until_reach(&c, "other", db, false);
    assert!(
        reaches(&c, "other", web.0, web.1),
        "other lost web with the label"
    );

    // Without policies, all flows again.
    c.cluster.ok(&["delete", "networkpolicy", "--all"]);
    until_reach(&c, "other", db, true);
    assert_eq!(ready(&c, "web"), "True");
}
