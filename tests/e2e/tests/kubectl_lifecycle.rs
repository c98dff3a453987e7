//! Object lifecycle through kubectl: finalizers hold a deleted object until
//! the last one goes, `--dry-run=server` writes nothing, `delete --all`
//! (deletecollection) with a selector, and a deleted namespace takes its
//! objects with it.

use std::time::Duration;

use rkube_e2e::Cluster;

#[test]
fn finalizers_dry_run_deletecollection_and_namespaces() {
    let c = Cluster::up();
    let create = |name: &str, yaml: &str| {
        let f = c.file(name, yaml);
        c.ok(&["create", "-f", f.to_str().expect("path")])
    };

    // A finalizer keeps the object, marked for deletion, until it is removed.
    create(
        "held.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n",
    );
    c.ok(&["delete", "cm", "held", "--wait=false"]);
    let ts = c.ok(&[
        "get",
        "cm",
        "held",
        "-o",
        "jsonpath={.metadata.deletionTimestamp}",
    ]);
    assert!(ts.ends_with('Z'), "deletionTimestamp set: {ts:?}");
    c.ok(&[
        "patch",
        "cm",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    let err = c.fails(&["get", "cm", "held"]);
    assert!(err.contains(r#"configmaps "held" not found"#), "{err}");

    // Server-side dry run validates but writes nothing.
    let f = c.file(
        "dry.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dry\n",
    );
    let out = c.ok(&[
        "create",
        "--dry-run=server",
        "-f",
        f.to_str().expect("path"),
    ]);
    assert_eq!(out.trim(), "configmap/dry created (server dry run)");
    assert!(c.fails(&["get", "cm", "dry"]).contains("not found"));

    // deletecollection with a label selector.
    for (name, tier) in [("a", "front"), ("b", "front"), ("c", "back")] {
        create(
            &format!("{name}.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  labels: {{tier: {tier}}}\n"),
        );
    }
    c.ok(&["delete", "cm", "-l", "tier=front"]);
    assert_eq!(c.ok(&["get", "cm", "-o", "name"]).trim(), "configmap/c");

    // A namespace and what is in it.
    create(
        "ns.yaml",
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
    );
    assert_eq!(
        c.ok(&["get", "ns", "team", "-o", "jsonpath={.status.phase}"]),
        "Active"
    );
    create(
        "in-ns.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: inside\n  namespace: team\n",
    );
    let err = c.fails(&[
        "create",
        "-n",
        "nowhere",
        "-f",
        c.file(
            "x.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n",
        )
        .to_str()
        .expect("path"),
    ]);
    assert!(err.contains(r#"namespaces "nowhere" not found"#), "{err}");
    c.ok(&["delete", "ns", "team", "--wait=false"]);
    c.wait_until("the namespace is gone", Duration::from_secs(10), || {
        !c.kubectl(&["get", "ns", "team"]).status.success()
    });
    assert_eq!(c.ok(&["get", "cm", "-n", "team", "-o", "name"]).trim(), "");
}
