//! Node pod ranges from the controller manager (`--cluster-cidr`): Nodes
//! created without `spec.podCIDR` get the next free /24, a Node that has
//! one keeps it, a full cluster range gives a `CIDRNotAvailable` event, a
//! deleted Node's range goes to the next Node, and after a restart the
//! ranges in use are rebuilt from the Nodes (none given twice).

use std::time::Duration;

use rkube_e2e::Cluster;

fn node(name: &str, pod_cidr: Option<&str>) -> String {
    let spec = match pod_cidr {
        Some(c) => format!("spec: {{podCIDR: {c}, podCIDRs: [{c}]}}\n"),
        None => String::new(),
    };
    format!("apiVersion: v1\nkind: Node\nmetadata: {{name: {name}}}\n{spec}")
}

fn create(c: &Cluster, name: &str, pod_cidr: Option<&str>) {
    let f = c.file(&format!("{name}.yaml"), &node(name, pod_cidr));
    c.ok(&["create", "-f", f.to_str().expect("path")]);
}

fn ranges_of(c: &Cluster, name: &str) -> String {
    c.ok(&[
        "get",
        "node",
        name,
        "-o",
        "jsonpath={.spec.podCIDR} {.spec.podCIDRs}",
    ])
}

fn wait_for_range(c: &Cluster, name: &str) -> String {
    let mut got = String::new();
    c.wait_until(
        &format!("node {name} has a podCIDR"),
        Duration::from_secs(20),
        || {
            got = ranges_of(c, name);
            !got.trim().is_empty()
        },
    );
    got.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

fn cidr_not_available(c: &Cluster, name: &str) -> bool {
    let out = c.ok(&[
        "get",
        "events",
        "-A",
        "--field-selector",
        &format!("involvedObject.name={name},reason=CIDRNotAvailable"),
        "-o",
        "jsonpath={.items[*].message}",
    ]);
    out.contains(&format!("Node {name} status is now: CIDRNotAvailable"))
}

#[test]
fn nodes_get_free_ranges_of_the_cluster_cidr() {
    // Two /24s: enough to run out.
    let mut c = Cluster::up_with(&["--cluster-cidr", "10.250.0.0/23"]);

    // A node that set its own range (as simulated nodes do) is left alone.
    create(&c, "pinned", Some("10.64.0.0/24"));
    create(&c, "a", None);
    create(&c, "b", None);
    let a = wait_for_range(&c, "a");
    let b = wait_for_range(&c, "b");
    let mut both = [a.clone(), b.clone()];
    both.sort();
    assert_eq!(both, ["10.250.0.0/24", "10.250.1.0/24"]);
    assert_eq!(ranges_of(&c, "a"), format!("{a} [\"{a}\"]"));
    assert_eq!(ranges_of(&c, "pinned"), "10.64.0.0/24 [\"10.64.0.0/24\"]");

    // Full: the third node waits, with an event saying why.
    create(&c, "c", None);
    c.wait_until(
        "node c has a CIDRNotAvailable event",
        Duration::from_secs(20),
        || cidr_not_available(&c, "c"),
    );
    assert_eq!(ranges_of(&c, "c").trim(), "");

    // a's range is freed with it and given to c.
    c.ok(&["delete", "node", "a"]);
    assert_eq!(wait_for_range(&c, "c"), a);

    // After a restart the ranges of b and c are known: d gets none of them.
    c.restart();
    create(&c, "d", None);
    c.wait_until(
        "node d has a CIDRNotAvailable event",
        Duration::from_secs(20),
        || cidr_not_available(&c, "d"),
    );
    assert_eq!(ranges_of(&c, "d").trim(), "");
    c.ok(&["delete", "node", "b"]);
    assert_eq!(wait_for_range(&c, "d"), b);
    assert_eq!(ranges_of(&c, "pinned"), "10.64.0.0/24 [\"10.64.0.0/24\"]");
}
