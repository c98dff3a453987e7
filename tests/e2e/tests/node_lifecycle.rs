//! Nodes that stop heartbeating: two `rkube node` agents (one simulated
//! node each) against `rkube up`; killing one stops its Lease, the node
//! lifecycle controller marks the node Unknown and taints it, its pods are
//! evicted after their tolerationSeconds and the ReplicaSet's replacements
//! run on the other node.

use std::time::Duration;

use rkube_e2e::Cluster;

const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 4
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations:
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 2}
      containers: [{name: c, image: nginx}]
";

fn running_on(c: &Cluster, node: &str) -> usize {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "--field-selector",
        &format!("spec.nodeName={node},status.phase=Running"),
        "-o",
        "jsonpath={range .items[?(@.metadata.deletionTimestamp)]}T{end}{range .items[*]}P{end}",
    ]);
    // P for every running pod, T for those of them being deleted.
    out.matches('P').count() - out.matches('T').count()
}

#[test]
fn a_silent_node_is_tainted_and_its_pods_move() {
    let c = Cluster::up_with(&["--node-monitor-grace-period", "3s"]);
    let mut a = c.spawn_component(
        "node-a",
        &[
            "node",
            "--sim-nodes",
            "1",
            "--sim-node-prefix",
            "a-",
            "--sim-lease-renew",
            "1s",
        ],
    );
    let _b = c.spawn_component(
        "node-b",
        &[
            "node",
            "--sim-nodes",
            "1",
            "--sim-node-prefix",
            "b-",
            "--sim-lease-renew",
            "1s",
        ],
    );
    c.wait_until("both nodes are Ready", Duration::from_secs(20), || {
        let out = c.ok(&["get", "nodes", "--no-headers"]);
        out.lines().filter(|l| l.contains(" Ready ")).count() == 2
    });
    c.ok(&["apply", "-f", c.file("rs.yaml", RS).to_str().expect("path")]);
    c.wait_until(
        "4 pods run, spread over both nodes",
        Duration::from_secs(30),
        || running_on(&c, "a-0") + running_on(&c, "b-0") == 4,
    );
    let on_a = running_on(&c, "a-0");
    assert!(
        on_a >= 1,
        "the scheduler spreads a ReplicaSet's pods: {on_a} on a-0"
    );

    a.kill();
    c.wait_until(
        "a-0 is Unknown and tainted unreachable",
        Duration::from_secs(30),
        || {
            let ready = c.ok(&[
                "get",
                "node",
                "a-0",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]);
            let taints = c.ok(&["get", "node", "a-0", "-o", "jsonpath={.spec.taints[*].key}"]);
            ready.trim() == "Unknown" && taints.contains("node.kubernetes.io/unreachable")
        },
    );
    let reason = c.ok(&[
        "get",
        "node",
        "a-0",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert_eq!(reason.trim(), "Kubelet stopped posting node status.");
    c.wait_until("all 4 replicas run on b-0", Duration::from_secs(40), || {
        running_on(&c, "b-0") == 4
    });
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=TaintManagerEviction",
        "-o",
        "name",
    ]);
    assert_eq!(
        events.lines().count(),
        on_a,
        "one eviction event per pod that was on a-0: {events}"
    );
}
