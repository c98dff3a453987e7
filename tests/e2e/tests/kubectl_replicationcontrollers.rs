//! The ReplicationController controller through kubectl 1.37 against
//! `rkube up --sim-nodes 2`: an RC adopts a matching orphan pod, creates
//! the rest, reports ready replicas in its status, follows `kubectl scale
//! rc` up and down, and deleting it deletes its pods (the garbage
//! collector follows ownerReferences of kind ReplicationController).

use std::time::Duration;

use rkube_e2e::Cluster;

const RC: &str = "apiVersion: v1
kind: ReplicationController
metadata: {name: web}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: nginx}]
";

/// `name=ownerKind/ownerName` of each pod labelled `app=web`.
fn pods(c: &Cluster) -> Vec<String> {
    let out = c.ok(&[
        "get",
        "pods",
        "-l",
        "app=web",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}{\"\\n\"}{end}",
    ]);
    out.lines().map(str::to_string).collect()
}

fn owned_by_rc(c: &Cluster, n: usize) -> bool {
    let p = pods(c);
    p.len() == n && p.iter().all(|p| p.ends_with("=ReplicationController/web"))
}

#[test]
fn replication_controllers_scale_adopt_and_take_their_pods_with_them() {
    let c = Cluster::up_with(&["--sim-nodes", "2"]);
    c.ok(&["run", "stray", "--image=nginx", "--labels=app=web"]);
    c.ok(&[
        "create",
        "-f",
        c.file("rc.yaml", RC).to_str().expect("path"),
    ]);
    c.wait_until(
        "2 pods owned by the RC, the stray one adopted",
        Duration::from_secs(30),
        || owned_by_rc(&c, 2),
    );
    assert!(
        pods(&c).contains(&"stray=ReplicationController/web".to_string()),
        "{:?}",
        pods(&c)
    );
    c.wait_until("both ready", Duration::from_secs(30), || {
        c.ok(&["get", "rc", "web", "-o", "jsonpath={.status.readyReplicas}"])
            .trim()
            == "2"
    });
    let status = c.ok(&[
        "get",
        "rc",
        "web",
        "-o",
        "jsonpath={.status.replicas} {.status.fullyLabeledReplicas} {.status.observedGeneration}",
    ]);
    assert_eq!(status.trim(), "2 2 1", "{status}");

    c.ok(&["scale", "rc", "web", "--replicas=4"]);
    c.wait_until("scaled up to 4", Duration::from_secs(30), || {
        owned_by_rc(&c, 4)
    });
    c.ok(&["scale", "rc", "web", "--replicas=1"]);
    c.wait_until("scaled down to 1", Duration::from_secs(30), || {
        owned_by_rc(&c, 1)
    });
    let described = c.ok(&["describe", "rc", "web"]);
    assert!(
        described.contains("SuccessfulCreate") && described.contains("Created pod: web-"),
        "{described}"
    );
    assert!(
        described.contains("SuccessfulDelete") && described.contains("Deleted pod: web-"),
        "{described}"
    );

    c.ok(&["delete", "rc", "web"]);
    c.wait_until("its pods deleted", Duration::from_secs(30), || {
        pods(&c).is_empty()
    });
    let left = c.ok(&["get", "rc", "-o", "name"]);
    assert!(left.trim().is_empty(), "{left}");
}
