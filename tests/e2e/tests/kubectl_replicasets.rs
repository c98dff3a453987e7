//! The ReplicaSet controller through kubectl 1.37 against `rkube up
//! --sim-nodes 2`: it adopts a matching orphan pod instead of creating one,
//! releases a pod relabelled out of its selector and replaces it, deletes
//! surplus pods on scale-down, and tells the story in events.

use std::time::Duration;

use rkube_e2e::Cluster;

const RS: &str = "apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
";

fn owned(c: &Cluster) -> Vec<String> {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.ownerReferences[0].name}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

#[test]
fn replica_sets_adopt_release_and_record_events() {
    let c = Cluster::up_with(&["--sim-nodes", "2"]);
    c.ok(&["run", "stray", "--image=nginx", "--labels=app=web"]);
    c.ok(&["apply", "-f", c.file("rs.yaml", RS).to_str().expect("path")]);
    c.wait_until(
        "2 pods, the stray one adopted",
        Duration::from_secs(30),
        || {
            let pods = owned(&c);
            pods.len() == 2 && pods.iter().all(|p| p.ends_with("=web"))
        },
    );
    assert!(
        owned(&c).contains(&"stray=web".to_string()),
        "{:?}",
        owned(&c)
    );
    c.wait_until("both ready", Duration::from_secs(30), || {
        c.ok(&["get", "rs", "web", "-o", "jsonpath={.status.readyReplicas}"])
            .trim()
            == "2"
    });
    // Who wrote what, by the names a real cluster shows.
    let managers = c.ok(&[
        "get",
        "rs",
        "web",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(managers.contains("kube-controller-manager"), "{managers}");
    let managers = c.ok(&[
        "get",
        "pod",
        "stray",
        "-o",
        "jsonpath={.metadata.managedFields[*].manager}",
    ]);
    assert!(
        managers.contains("kubelet") && managers.contains("kube-controller-manager"),
        "the node wrote status, the controller adopted it: {managers}"
    );

    // Relabelled out of the selector: released, and replaced.
    c.ok(&["label", "pod", "stray", "app=other", "--overwrite"]);
    c.wait_until(
        "stray released and replaced",
        Duration::from_secs(30),
        || {
            let refs = c.ok(&[
                "get",
                "pod",
                "stray",
                "-o",
                "jsonpath={.metadata.ownerReferences}",
            ]);
            let pods = owned(&c);
            (refs.trim().is_empty() || refs.trim() == "[]")
                && pods.len() == 2
                && !pods.iter().any(|p| p.starts_with("stray="))
        },
    );

    c.ok(&["scale", "rs", "web", "--replicas=1"]);
    c.wait_until("one left", Duration::from_secs(30), || owned(&c).len() == 1);
    let described = c.ok(&["describe", "rs", "web"]);
    assert!(
        described.contains("SuccessfulCreate") && described.contains("Created pod: web-"),
        "{described}"
    );
    assert!(
        described.contains("SuccessfulDelete") && described.contains("Deleted pod: web-"),
        "{described}"
    );
    assert!(described.contains("1 current / 1 desired"), "{described}");
}
