//! `kubectl top` (kubectl 1.37) against `rkube up --sim-nodes 1`, with no
//! metrics-server: the API server serves `metrics.k8s.io` itself, the
//! simulated node and its pods report the synthetic usage their
//! `rkube.io/sim-usage` annotation (or half their requests) gives, and the
//! APIService `v1beta1.metrics.k8s.io` shows as `Local` and available.

use std::time::Duration;

use rkube_e2e::Cluster;

const PODS: &str = "apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  namespace: shop
  annotations: {rkube.io/sim-usage: 'cpu=250m,memory=64Mi,sidecar.cpu=20m,sidecar.memory=8Mi'}
spec:
  containers:
  - {name: app, image: nginx}
  - {name: sidecar, image: envoy}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: shop}
spec:
  containers:
  - name: pg
    image: postgres
    resources: {requests: {cpu: 100m, memory: 32Mi}}
";

/// The table kubectl printed, as (header → cell) rows.
fn rows(out: &str) -> Vec<Vec<(String, String)>> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<String> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split_whitespace().map(str::to_string))
                .collect()
        })
        .collect()
}

fn cell<'a>(row: &'a [(String, String)], column: &str) -> &'a str {
    row.iter()
        .find(|(h, _)| h == column)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no column {column} in {row:?}"))
}

fn row<'a>(rows: &'a [Vec<(String, String)>], first: &str) -> &'a [(String, String)] {
    rows.iter()
        .find(|r| r.first().is_some_and(|(_, v)| v == first))
        .unwrap_or_else(|| panic!("no row {first} in {rows:?}"))
}

#[test]
fn kubectl_top_shows_the_simulated_usage_without_metrics_server() {
    let c = Cluster::up_with(&["--sim-nodes", "1"]);
    c.wait_until("the node", Duration::from_secs(20), || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 1
    });
    let node = c
        .ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"])
        .trim()
        .to_string();
    let file = c.file("pods.yaml", PODS);
    c.ok(&["apply", "-f", file.to_str().expect("path")]);
    c.wait_until("both pods run", Duration::from_secs(30), || {
        c.ok(&[
            "get",
            "pods",
            "-n",
            "shop",
            "-o",
            "jsonpath={.items[*].status.phase}",
        ])
        .trim()
            == "Running Running"
    });

    // 250m + 20m for web, half of db's 100m/32Mi; the node adds 50m/128Mi.
    let pods = rows(&c.ok(&["top", "pods", "-n", "shop"]));
    assert_eq!(pods.len(), 2, "{pods:?}");
    let web = row(&pods, "web");
    assert_eq!(cell(web, "CPU(cores)"), "270m");
    assert_eq!(cell(web, "MEMORY(bytes)"), "72Mi");
    let db = row(&pods, "db");
    assert_eq!(cell(db, "CPU(cores)"), "50m");
    assert_eq!(cell(db, "MEMORY(bytes)"), "16Mi");

    let containers = rows(&c.ok(&["top", "pod", "web", "-n", "shop", "--containers"]));
    let sidecar = containers
        .iter()
        .find(|r| cell(r, "NAME") == "sidecar")
        .unwrap_or_else(|| panic!("no sidecar in {containers:?}"));
    assert_eq!(cell(sidecar, "CPU(cores)"), "20m");
    assert_eq!(cell(sidecar, "MEMORY(bytes)"), "8Mi");

    let nodes = rows(&c.ok(&["top", "nodes"]));
    let n = row(&nodes, &node);
    assert_eq!(cell(n, "CPU(cores)"), "370m");
    assert_eq!(cell(n, "MEMORY(bytes)"), "216Mi");
    assert!(cell(n, "CPU(%)").ends_with('%'), "{n:?}");

    // A selector, and a pod without figures.
    let selected = rows(&c.ok(&["top", "pods", "-A", "--field-selector", "metadata.name=db"]));
    assert_eq!(selected.len(), 1, "{selected:?}");
    c.ok(&[
        "run",
        "later",
        "-n",
        "shop",
        "--image",
        "busybox",
        "--overrides",
        r#"{"spec": {"nodeName": "does-not-exist"}}"#,
    ]);
    let err = c.fails(&["top", "pod", "later", "-n", "shop"]);
    assert!(
        err.contains(r#"podmetrics.metrics.k8s.io "shop/later" not found"#),
        "{err}"
    );

    let apiservice = rows(&c.ok(&["get", "apiservice", "v1beta1.metrics.k8s.io"]));
    let a = row(&apiservice, "v1beta1.metrics.k8s.io");
    assert_eq!(cell(a, "SERVICE"), "Local");
    assert_eq!(cell(a, "AVAILABLE"), "True");
}
