//! The storage API through kubectl 1.37 (issue 18): the `local-path`
//! StorageClass rkube creates at start and prints as the default; every
//! storage.k8s.io kind applied, defaulted and printed with kube-apiserver's
//! columns; a claim without a class getting `local-path` and the
//! protection finalizers; bad input refused with kube-apiserver's messages
//! (an unknown reclaim policy, a changed provisioner, a volume without a
//! source, a claim shrunk below its capacity, a claim grown where its class
//! forbids it); `kubectl explain storageclass`; and the official Python
//! client listing the classes. (kubectl words a 422 as `The <Kind> "<name>"
//! is invalid: ...`; the server's own message names `<kind>.<group>`.)

use std::process::Command;
use std::time::Duration;

use rkube_e2e::Cluster;

const T: Duration = Duration::from_secs(30);

/// The whitespace-separated words of each line (kubectl pads columns).
fn words(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect()
}

/// The row of `kubectl get <what>` whose first word is `name`, without
/// the trailing AGE (when `age`).
fn row(c: &Cluster, what: &str, name: &str, age: bool) -> Vec<String> {
    let out = c.ok(&["get", what]);
    let mut r = words(&out)
        .into_iter()
        .find(|w| w.first().map(String::as_str) == Some(name))
        .unwrap_or_else(|| panic!("no {name} in:\n{out}"));
    if age {
        r.pop();
    }
    r
}

fn header(c: &Cluster, what: &str) -> Vec<String> {
    words(&c.ok(&["get", what]))
        .into_iter()
        .next()
        .unwrap_or_default()
}

fn up() -> Cluster {
    let c = Cluster::up_with(&["--sim-nodes", "1"]);
    c.wait_until("the local-path class exists", T, || {
        c.kubectl(&["get", "storageclass", "local-path"])
            .status
            .success()
    });
    c
}

const KINDS: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: fixed
provisioner: example.com/fixed
parameters:
  tier: gold
allowVolumeExpansion: false
---
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata:
  name: csi.example.com
spec:
  podInfoOnMount: true
---
apiVersion: storage.k8s.io/v1
kind: CSINode
metadata:
  name: sim-node-x
spec:
  drivers:
  - name: csi.example.com
    nodeID: node-x
    topologyKeys: [topology.kubernetes.io/zone]
---
apiVersion: storage.k8s.io/v1
kind: CSIStorageCapacity
metadata:
  name: cap-a
storageClassName: fixed
capacity: 10Gi
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttachment
metadata:
  name: va-1
spec:
  attacher: csi.example.com
  nodeName: sim-node-x
  source:
    persistentVolumeName: pv-static
---
apiVersion: storage.k8s.io/v1
kind: VolumeAttributesClass
metadata:
  name: gold
driverName: csi.example.com
parameters:
  iops: "3000"
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-static
spec:
  capacity:
    storage: 2Gi
  accessModes: [ReadWriteOnce]
  storageClassName: fixed
  hostPath:
    path: /srv/rkube-e2e-never-mounted
  claimRef:
    namespace: default
    name: fixed-claim
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: fixed-claim
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: fixed
  volumeName: pv-static
  resources:
    requests:
      storage: 2Gi
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv-grow
spec:
  capacity:
    storage: 1Gi
  accessModes: [ReadWriteOnce]
  storageClassName: local-path
  hostPath:
    path: /srv/rkube-e2e-never-mounted
  claimRef:
    namespace: default
    name: grow-me
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: grow-me
spec:
  accessModes: [ReadWriteOnce]
  volumeName: pv-grow
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: plain
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: no-class
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  resources:
    requests:
      storage: 1Gi
"#;

#[test]
fn the_default_class_and_every_storage_kind_through_kubectl() {
    let c = up();
    assert_eq!(
        header(&c, "sc"),
        [
            "NAME",
            "PROVISIONER",
            "RECLAIMPOLICY",
            "VOLUMEBINDINGMODE",
            "ALLOWVOLUMEEXPANSION",
            "AGE"
        ]
    );
    assert_eq!(
        row(&c, "sc", "local-path", true),
        [
            "local-path",
            "(default)",
            "rkube.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            "true"
        ]
    );
    assert_eq!(
        header(&c, "csidrivers"),
        [
            "NAME",
            "ATTACHREQUIRED",
            "PODINFOONMOUNT",
            "STORAGECAPACITY",
            "TOKENREQUESTS",
            "REQUIRESREPUBLISH",
            "MODES",
            "AGE"
        ]
    );
    assert_eq!(
        row(&c, "csidrivers", "local-path.rkube.io", true),
        [
            "local-path.rkube.io",
            "false",
            "false",
            "true",
            "<unset>",
            "false",
            "Persistent,Ephemeral"
        ]
    );

    let file = c.file("kinds.yaml", KINDS);
    c.ok(&["apply", "-f", file.to_str().unwrap_or_default()]);
    assert_eq!(
        row(&c, "sc", "fixed", true),
        ["fixed", "example.com/fixed", "Delete", "Immediate", "false"]
    );
    assert_eq!(
        row(&c, "csidrivers", "csi.example.com", true),
        [
            "csi.example.com",
            "true",
            "true",
            "false",
            "<unset>",
            "false",
            "Persistent"
        ]
    );
    assert_eq!(
        c.ok(&[
            "get",
            "csidriver",
            "csi.example.com",
            "-o",
            "jsonpath={.spec.fsGroupPolicy} {.spec.seLinuxMount}"
        ]),
        "ReadWriteOnceWithFSType false"
    );
    assert_eq!(header(&c, "csinodes"), ["NAME", "DRIVERS", "AGE"]);
    assert_eq!(row(&c, "csinodes", "sim-node-x", true), ["sim-node-x", "1"]);
    assert_eq!(
        header(&c, "csistoragecapacities"),
        ["NAME", "STORAGECLASSNAME", "CAPACITY"]
    );
    assert_eq!(
        row(&c, "csistoragecapacities", "cap-a", false),
        ["cap-a", "fixed", "10Gi"]
    );
    assert_eq!(
        header(&c, "volumeattachments"),
        ["NAME", "ATTACHER", "PV", "NODE", "ATTACHED", "AGE"]
    );
    assert_eq!(
        row(&c, "volumeattachments", "va-1", true),
        [
            "va-1",
            "csi.example.com",
            "pv-static",
            "sim-node-x",
            "false"
        ]
    );
    assert_eq!(
        header(&c, "volumeattributesclasses"),
        ["NAME", "DRIVERNAME", "AGE"]
    );
    assert_eq!(
        row(&c, "volumeattributesclasses", "gold", true),
        ["gold", "csi.example.com"]
    );

    // Volumes: defaults, protection, the columns.
    assert_eq!(
        header(&c, "pv"),
        [
            "NAME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "RECLAIM",
            "POLICY",
            "STATUS",
            "CLAIM",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "REASON",
            "AGE"
        ]
    );
    let pv = row(&c, "pv", "pv-static", true);
    assert_eq!(&pv[..3], ["pv-static", "2Gi", "RWO"]);
    assert_eq!(pv[3], "Retain");
    assert!(pv.contains(&"default/fixed-claim".to_string()), "{pv:?}");
    assert!(pv.contains(&"fixed".to_string()), "{pv:?}");
    assert_eq!(
        c.ok(&[
            "get",
            "pv",
            "pv-static",
            "-o",
            "jsonpath={.spec.volumeMode} {.metadata.finalizers}"
        ]),
        "Filesystem [\"kubernetes.io/pv-protection\"]"
    );
    assert_eq!(
        header(&c, "pvc"),
        [
            "NAME",
            "STATUS",
            "VOLUME",
            "CAPACITY",
            "ACCESS",
            "MODES",
            "STORAGECLASS",
            "VOLUMEATTRIBUTESCLASS",
            "AGE"
        ]
    );

    // A claim without a class gets the default one; "" stays "".
    assert_eq!(
        c.ok(&[
            "get",
            "pvc",
            "plain",
            "-o",
            "jsonpath={.spec.storageClassName} {.spec.volumeMode} {.metadata.finalizers}"
        ]),
        "local-path Filesystem [\"kubernetes.io/pvc-protection\"]"
    );
    let plain = row(&c, "pvc", "plain", true);
    assert_eq!(plain, ["plain", "Pending", "local-path", "<unset>"]);
    assert_eq!(
        c.ok(&[
            "get",
            "pvc",
            "no-class",
            "-o",
            "jsonpath={.spec.storageClassName}|"
        ]),
        "|"
    );

    let explained = c.ok(&["explain", "storageclass"]);
    assert!(
        explained.contains("KIND:") && explained.contains("StorageClass"),
        "{explained}"
    );
    assert!(explained.contains("provisioner"), "{explained}");
    let field = c.ok(&["explain", "storageclass.volumeBindingMode"]);
    assert!(
        field.contains("FIELD:") && field.contains("Immediate"),
        "{field}"
    );
}

/// Marks a claim bound with `capacity`, as the PV controller would.
fn bind(c: &Cluster, claim: &str, capacity: &str) {
    let patch = format!(
        r#"{{"status":{{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{{"storage":"{capacity}"}}}}}}"#
    );
    c.ok(&[
        "patch",
        "pvc",
        claim,
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ]);
}

fn resize(c: &Cluster, claim: &str, size: &str) -> std::process::Output {
    let patch = format!(r#"{{"spec":{{"resources":{{"requests":{{"storage":"{size}"}}}}}}}}"#);
    c.kubectl(&["patch", "pvc", claim, "--type=merge", "-p", &patch])
}

#[test]
fn bad_storage_input_is_refused_with_kube_apiservers_messages() {
    let c = up();
    let file = c.file("kinds.yaml", KINDS);
    c.ok(&["apply", "-f", file.to_str().unwrap_or_default()]);

    let bad_policy = c.file(
        "bad.yaml",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: bad}\nprovisioner: example.com/x\nreclaimPolicy: Recycle\n",
    );
    let err = c.fails(&["create", "-f", bad_policy.to_str().unwrap_or_default()]);
    assert!(
        err.contains(r#"The StorageClass "bad" is invalid: reclaimPolicy: Unsupported value: "Recycle": supported values: "Delete", "Retain""#),
        "{err}"
    );

    let err = c.fails(&[
        "patch",
        "sc",
        "fixed",
        "--type=merge",
        "-p",
        r#"{"provisioner":"example.com/other"}"#,
    ]);
    assert!(
        err.contains(r#"The StorageClass "fixed" is invalid: provisioner: Forbidden: updates to provisioner are forbidden."#),
        "{err}"
    );
    // What may change does.
    c.ok(&[
        "patch",
        "sc",
        "fixed",
        "--type=merge",
        "-p",
        r#"{"allowVolumeExpansion":false}"#,
    ]);

    let no_source = c.file(
        "nosource.yaml",
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: empty}\nspec:\n  capacity: {storage: 1Gi}\n  accessModes: [ReadWriteOnce]\n",
    );
    let err = c.fails(&["create", "-f", no_source.to_str().unwrap_or_default()]);
    assert!(
        err.contains(r#"The PersistentVolume "empty" is invalid: spec: Required value: must specify a volume type"#),
        "{err}"
    );

    // A bound claim of a class that forbids expansion: no growing, no
    // shrinking below what the volume has.
    bind(&c, "fixed-claim", "2Gi");
    let shrink = resize(&c, "fixed-claim", "1Gi");
    let err = String::from_utf8_lossy(&shrink.stderr);
    assert!(
        !shrink.status.success()
            && err.contains(r#"The PersistentVolumeClaim "fixed-claim" is invalid: spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"#),
        "{err}"
    );
    let grow = resize(&c, "fixed-claim", "3Gi");
    let err = String::from_utf8_lossy(&grow.stderr);
    assert!(
        !grow.status.success()
            && err.contains(r#"persistentvolumeclaims "fixed-claim" is forbidden: only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"#),
        "{err}"
    );

    // An unbound claim's spec may not change at all.
    let err = String::from_utf8_lossy(&resize(&c, "plain", "2Gi").stderr).to_string();
    assert!(
        err.contains(r#"The PersistentVolumeClaim "plain" is invalid: spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"#),
        "{err}"
    );
    // A bound claim of local-path (expandable) grows.
    assert_eq!(
        c.ok(&[
            "get",
            "pvc",
            "grow-me",
            "-o",
            "jsonpath={.spec.storageClassName}"
        ]),
        "local-path"
    );
    bind(&c, "grow-me", "1Gi");
    let grown = resize(&c, "grow-me", "2Gi");
    assert!(
        grown.status.success(),
        "{}",
        String::from_utf8_lossy(&grown.stderr)
    );
    assert_eq!(
        c.ok(&[
            "get",
            "pvc",
            "grow-me",
            "-o",
            "jsonpath={.spec.resources.requests.storage}"
        ]),
        "2Gi"
    );
}

/// The official Python client lists the classes and sees the default one
/// filled into a new claim (`scripts/python_storage.py`).
#[test]
fn python_client_lists_storage_classes() {
    let has_client = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_client,
        "python3 -c 'import kubernetes' failed: this test needs the Python kubernetes client \
         (Debian package python3-kubernetes, or scripts/setup.sh)"
    );
    let c = up();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/python_storage.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(c.dir.path().join("data/kubeconfig"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python storage failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}
