//! The scheduler through kubectl 1.37 against `rkube up --sim-nodes 2`
//! (small nodes): pods land where their requests, node selectors and
//! tolerations allow; a pod no node fits stays Pending with kube-scheduler's
//! `FailedScheduling` reasons, and is scheduled as soon as a node that fits
//! joins (a second agent, `rkube node`).

use std::time::Duration;

use rkube_e2e::Cluster;

fn pod(name: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: '2'}}}}}}]\n{extra}"
    )
}

fn field(c: &Cluster, name: &str, path: &str) -> String {
    c.ok(&["get", "pod", name, "-o", &format!("jsonpath={path}")])
        .trim()
        .to_string()
}

#[test]
fn pods_go_where_they_fit_and_wait_for_a_node_that_does() {
    let c = Cluster::up_with(&["--sim-nodes", "2", "--sim-node-cpu", "3"]);
    c.wait_until("two nodes", Duration::from_secs(20), || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 2
    });
    c.ok(&["label", "node", "sim-node-1", "disk=ssd"]);
    c.ok(&["taint", "node", "sim-node-0", "dedicated=db:NoSchedule"]);

    // Fits only on sim-node-1 (sim-node-0 is tainted).
    c.ok(&[
        "apply",
        "-f",
        c.file("a.yaml", &pod("a", "")).to_str().expect("path"),
    ]);
    c.wait_until("a runs", Duration::from_secs(20), || {
        field(&c, "a", "{.status.phase}") == "Running"
    });
    assert_eq!(field(&c, "a", "{.spec.nodeName}"), "sim-node-1");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=a",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(
        events.contains("Successfully assigned default/a to sim-node-1"),
        "{events}"
    );

    // Tolerates the taint: goes to sim-node-0 (sim-node-1 has 1 cpu left).
    let tolerant = pod(
        "b",
        "  tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]\n",
    );
    c.ok(&[
        "apply",
        "-f",
        c.file("b.yaml", &tolerant).to_str().expect("path"),
    ]);
    c.wait_until("b runs", Duration::from_secs(20), || {
        field(&c, "b", "{.status.phase}") == "Running"
    });
    assert_eq!(field(&c, "b", "{.spec.nodeName}"), "sim-node-0");

    // Wants an ssd with 2 cpus: sim-node-1 has the label but not the cpu.
    c.ok(&[
        "apply",
        "-f",
        c.file("c.yaml", &pod("c", "  nodeSelector: {disk: ssd}\n"))
            .to_str()
            .expect("path"),
    ]);
    c.wait_until(
        "c is reported unschedulable",
        Duration::from_secs(20),
        || {
            field(
                &c,
                "c",
                "{.status.conditions[?(@.type==\"PodScheduled\")].reason}",
            ) == "Unschedulable"
        },
    );
    assert_eq!(field(&c, "c", "{.status.phase}"), "Pending");
    let described = c.ok(&["describe", "pod", "c"]);
    assert!(
        described.contains("FailedScheduling")
            && described.contains("0/2 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node affinity/selector."),
        "{described}"
    );

    // A node that fits joins: c is scheduled there and runs.
    let _big = c.spawn_component(
        "node-big",
        &[
            "node",
            "--sim-nodes",
            "1",
            "--sim-node-prefix",
            "big-",
            "--sim-node-cpu",
            "8",
        ],
    );
    c.wait_until("big-0 registers", Duration::from_secs(20), || {
        c.kubectl(&["get", "node", "big-0"]).status.success()
    });
    c.ok(&["label", "node", "big-0", "disk=ssd"]);
    c.wait_until("c runs on big-0", Duration::from_secs(30), || {
        field(&c, "c", "{.status.phase}") == "Running"
    });
    assert_eq!(field(&c, "c", "{.spec.nodeName}"), "big-0");

    // A cordoned node takes no new pods.
    c.ok(&["cordon", "big-0"]);
    c.ok(&[
        "apply",
        "-f",
        c.file("d.yaml", &pod("d", "  nodeSelector: {disk: ssd}\n"))
            .to_str()
            .expect("path"),
    ]);
    c.wait_until("d is unschedulable", Duration::from_secs(20), || {
        field(
            &c,
            "d",
            "{.status.conditions[?(@.type==\"PodScheduled\")].message}",
        )
        .contains("node(s) were unschedulable")
    });
    c.ok(&["uncordon", "big-0"]);
    c.wait_until(
        "d runs on big-0 after uncordon",
        Duration::from_secs(30),
        || field(&c, "d", "{.spec.nodeName}") == "big-0",
    );
}

const APART: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: apart}
spec:
  replicas: 3
  selector: {matchLabels: {app: apart}}
  template:
    metadata: {labels: {app: apart}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - topologyKey: kubernetes.io/hostname
            labelSelector: {matchLabels: {app: apart}}
      containers: [{name: c, image: nginx}]
";

const SPREAD: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: spread}
spec:
  replicas: 4
  selector: {matchLabels: {app: spread}}
  template:
    metadata: {labels: {app: spread}}
    spec:
      topologySpreadConstraints:
      - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule, labelSelector: {matchLabels: {app: spread}}}
      containers: [{name: c, image: nginx}]
";

#[test]
fn anti_affinity_and_topology_spread_place_replicas() {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    c.wait_until("three nodes", Duration::from_secs(20), || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 3
    });
    c.ok(&["label", "node", "sim-node-0", "zone=a"]);
    c.ok(&["label", "node", "sim-node-1", "zone=a"]);
    c.ok(&["label", "node", "sim-node-2", "zone=b"]);
    c.ok(&[
        "apply",
        "-f",
        c.file("apart.yaml", APART).to_str().expect("path"),
    ]);
    c.wait_until("3 apart pods run", Duration::from_secs(30), || {
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=apart",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "name",
        ])
        .lines()
        .count()
            == 3
    });
    let nodes = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=apart",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let mut nodes: Vec<&str> = nodes.split_whitespace().collect();
    nodes.sort();
    assert_eq!(
        nodes,
        ["sim-node-0", "sim-node-1", "sim-node-2"],
        "one per node"
    );
    c.ok(&["scale", "rs", "apart", "--replicas=4"]);
    c.wait_until(
        "the fourth is refused by anti-affinity",
        Duration::from_secs(20),
        || {
            c.ok(&[
                "get",
                "pods",
                "-l",
                "app=apart",
                "-o",
                "jsonpath={.items[*].status.conditions[?(@.type==\"PodScheduled\")].message}",
            ])
            .contains("3 node(s) didn't match pod anti-affinity rules")
        },
    );

    c.ok(&[
        "apply",
        "-f",
        c.file("spread.yaml", SPREAD).to_str().expect("path"),
    ]);
    c.wait_until("4 spread pods are bound", Duration::from_secs(30), || {
        c.ok(&[
            "get",
            "pods",
            "-l",
            "app=spread",
            "-o",
            "jsonpath={.items[*].spec.nodeName}",
        ])
        .split_whitespace()
        .count()
            == 4
    });
    let placed = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=spread",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    let in_b = placed
        .split_whitespace()
        .filter(|n| *n == "sim-node-2")
        .count();
    assert_eq!(
        in_b, 2,
        "zone b (one node) takes half of the replicas: {placed}"
    );
}

#[test]
fn priority_classes_and_preemption() {
    // 4 cpus: two low pods of 1.5 leave 1, the important pod needs 2.
    let c = Cluster::up_with(&["--sim-nodes", "1", "--sim-node-cpu", "4"]);
    c.wait_until("the node", Duration::from_secs(20), || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 1
    });
    c.ok(&[
        "create",
        "priorityclass",
        "high",
        "--value=1000",
        "--description=important",
    ]);
    let err = c.fails(&[
        "run",
        "x",
        "--image=nginx",
        "--overrides",
        r#"{"spec":{"priorityClassName":"nope"}}"#,
    ]);
    assert!(
        err.contains("pods \"x\" is forbidden: no PriorityClass with name nope was found"),
        "{err}"
    );
    let low = |name: &str| {
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: c, image: nginx, resources: {{requests: {{cpu: 1500m}}}}}}]\n")
    };
    for name in ["low-1", "low-2"] {
        c.ok(&[
            "apply",
            "-f",
            c.file(&format!("{name}.yaml"), &low(name))
                .to_str()
                .expect("path"),
        ]);
    }
    c.wait_until("the low pods run", Duration::from_secs(20), || {
        c.ok(&[
            "get",
            "pods",
            "--field-selector",
            "status.phase=Running",
            "-o",
            "name",
        ])
        .lines()
        .count()
            == 2
    });
    assert_eq!(field(&c, "low-1", "{.spec.priority}"), "0");
    let high = "apiVersion: v1\nkind: Pod\nmetadata: {name: vip}\nspec:\n  priorityClassName: high\n  containers: [{name: c, image: nginx, resources: {requests: {cpu: '2'}}}]\n";
    c.ok(&[
        "apply",
        "-f",
        c.file("vip.yaml", high).to_str().expect("path"),
    ]);
    assert_eq!(field(&c, "vip", "{.spec.priority}"), "1000");
    assert_eq!(
        field(&c, "vip", "{.spec.preemptionPolicy}"),
        "PreemptLowerPriority"
    );
    c.wait_until(
        "vip runs after preempting a low pod",
        Duration::from_secs(30),
        || field(&c, "vip", "{.status.phase}") == "Running",
    );
    let left = c.ok(&["get", "pods", "-o", "name"]);
    assert_eq!(left.lines().count(), 2, "one low pod was preempted: {left}");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "reason=Preempted",
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    assert!(events.contains("Preempted by pod"), "{events}");
}
