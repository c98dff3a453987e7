//! The scheduler's volume plugins through kubectl 1.37 against `rkube up
//! --sim-nodes 3`: a pod whose claim is missing stays Pending with
//! kube-scheduler's reason; a claim bound to a volume with node affinity
//! takes its pod to that node; a WaitForFirstConsumer claim gets the
//! `volume.kubernetes.io/selected-node` of the node chosen for its pod,
//! and the pod is bound only once the claim is; a ReadWriteOncePod claim
//! refuses a second pod until the first is gone.
//!
//! The volumes are made by the test (classes whose provisioner nobody
//! runs), and the claims it binds itself the way the PV controller does
//! (`spec.volumeName` and `pv.kubernetes.io/bind-completed`); with the PV
//! controller running it binds them first, to the same volumes.

use std::time::Duration;

use rkube_e2e::Cluster;

const WAIT: Duration = Duration::from_secs(30);

fn apply(c: &Cluster, name: &str, yaml: &str) {
    let path = c.file(name, yaml);
    c.ok(&["apply", "-f", path.to_str().expect("path")]);
}

fn pod(name: &str, claim: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers: [{{name: c, image: nginx, volumeMounts: [{{name: data, mountPath: /data}}]}}]\n  volumes: [{{name: data, persistentVolumeClaim: {{claimName: {claim}}}}}]\n"
    )
}

fn class(name: &str, mode: &str) -> String {
    format!(
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {{name: {name}}}\nprovisioner: example.com/nobody\nvolumeBindingMode: {mode}\n"
    )
}

fn claim(name: &str, class: &str, mode: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n  storageClassName: '{class}'\n  accessModes: [{mode}]\n  resources: {{requests: {{storage: 1Gi}}}}\n{extra}"
    )
}

/// A volume pre-bound to `claim`, on `node` only when given.
fn volume(name: &str, class: &str, mode: &str, claim: &str, node: Option<&str>) -> String {
    let affinity = node.map_or(String::new(), |n| {
        format!(
            "  nodeAffinity: {{required: {{nodeSelectorTerms: [{{matchExpressions: [{{key: kubernetes.io/hostname, operator: In, values: [{n}]}}]}}]}}}}\n"
        )
    });
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  storageClassName: '{class}'\n  capacity: {{storage: 1Gi}}\n  accessModes: [{mode}]\n  hostPath: {{path: /tmp/{name}}}\n  claimRef: {{name: {claim}, namespace: default}}\n{affinity}"
    )
}

/// Binds `claim` to `volume` as the PV controller does (a no-op if it
/// already has).
fn bind(c: &Cluster, claim: &str, volume: &str) {
    let patch = format!(
        r#"{{"metadata":{{"annotations":{{"pv.kubernetes.io/bind-completed":"yes"}}}},"spec":{{"volumeName":"{volume}"}}}}"#
    );
    c.ok(&["patch", "pvc", claim, "--type", "merge", "-p", &patch]);
}

fn get(c: &Cluster, kind: &str, name: &str, path: &str) -> String {
    c.ok(&["get", kind, name, "-o", &format!("jsonpath={path}")])
        .trim()
        .to_string()
}

fn events(c: &Cluster, name: &str) -> String {
    c.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "jsonpath={.items[*].message}",
    ])
}

fn wait_event(c: &Cluster, name: &str, text: &str) {
    c.wait_until(&format!("{name} has an event {text:?}"), WAIT, || {
        events(c, name).contains(text)
    });
}

#[test]
fn claims_decide_where_pods_go() {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    c.wait_until("three nodes", WAIT, || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 3
    });

    // A claim that does not exist: Pending, with the reason.
    apply(&c, "orphan.yaml", &pod("orphan", "nosuch"));
    wait_event(
        &c,
        "orphan",
        "0/3 nodes are available: persistentvolumeclaim \"nosuch\" not found.",
    );
    let described = c.ok(&["describe", "pod", "orphan"]);
    assert!(
        described.contains("FailedScheduling")
            && described.contains("persistentvolumeclaim \"nosuch\" not found"),
        "{described}"
    );
    assert_eq!(get(&c, "pod", "orphan", "{.status.phase}"), "Pending");
    assert_eq!(
        get(
            &c,
            "pod",
            "orphan",
            "{.status.conditions[?(@.type==\"PodScheduled\")].reason}"
        ),
        "Unschedulable"
    );

    // An Immediate claim not bound yet holds its pod; once bound to a
    // volume of sim-node-2, the pod goes there.
    apply(&c, "instant.yaml", &class("instant", "Immediate"));
    apply(
        &c,
        "fixed.yaml",
        &claim("fixed", "instant", "ReadWriteOnce", ""),
    );
    apply(&c, "pinned.yaml", &pod("pinned", "fixed"));
    wait_event(
        &c,
        "pinned",
        "pod has unbound immediate PersistentVolumeClaims",
    );
    assert_eq!(get(&c, "pod", "pinned", "{.spec.nodeName}"), "");
    apply(
        &c,
        "fixed-pv.yaml",
        &volume(
            "fixed-pv",
            "instant",
            "ReadWriteOnce",
            "fixed",
            Some("sim-node-2"),
        ),
    );
    bind(&c, "fixed", "fixed-pv");
    c.wait_until("pinned is bound", WAIT, || {
        !get(&c, "pod", "pinned", "{.spec.nodeName}").is_empty()
    });
    assert_eq!(get(&c, "pod", "pinned", "{.spec.nodeName}"), "sim-node-2");

    // A WaitForFirstConsumer claim: the scheduler picks the node and says
    // so on the claim; the pod waits for the claim to be bound.
    apply(&c, "later.yaml", &class("later", "WaitForFirstConsumer"));
    apply(
        &c,
        "late-data.yaml",
        &claim("late-data", "later", "ReadWriteOnce", ""),
    );
    apply(&c, "late.yaml", &pod("late", "late-data"));
    let selected = "{.metadata.annotations.volume\\.kubernetes\\.io/selected-node}";
    c.wait_until("the claim has a selected node", WAIT, || {
        !get(&c, "pvc", "late-data", selected).is_empty()
    });
    let node = get(&c, "pvc", "late-data", selected);
    assert!(node.starts_with("sim-node-"), "{node}");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        get(&c, "pod", "late", "{.spec.nodeName}"),
        "",
        "the pod must wait for its claim"
    );
    apply(
        &c,
        "late-pv.yaml",
        &volume(
            "late-pv",
            "later",
            "ReadWriteOnce",
            "late-data",
            Some(&node),
        ),
    );
    bind(&c, "late-data", "late-pv");
    c.wait_until("late is bound", WAIT, || {
        !get(&c, "pod", "late", "{.spec.nodeName}").is_empty()
    });
    assert_eq!(get(&c, "pod", "late", "{.spec.nodeName}"), node);

    // ReadWriteOncePod: one pod at a time.
    apply(
        &c,
        "solo-pv.yaml",
        &volume("solo-pv", "", "ReadWriteOncePod", "solo", None),
    );
    apply(
        &c,
        "solo.yaml",
        &claim("solo", "", "ReadWriteOncePod", "  volumeName: solo-pv\n"),
    );
    bind(&c, "solo", "solo-pv");
    apply(&c, "first.yaml", &pod("first", "solo"));
    c.wait_until("first is bound", WAIT, || {
        !get(&c, "pod", "first", "{.spec.nodeName}").is_empty()
    });
    apply(&c, "second.yaml", &pod("second", "solo"));
    wait_event(
        &c,
        "second",
        "0/3 nodes are available: 3 node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode.",
    );
    assert_eq!(get(&c, "pod", "second", "{.spec.nodeName}"), "");
    c.ok(&["delete", "pod", "first", "--grace-period=1", "--wait=false"]);
    c.wait_until("second is bound once first is gone", WAIT, || {
        !get(&c, "pod", "second", "{.spec.nodeName}").is_empty()
    });
}
