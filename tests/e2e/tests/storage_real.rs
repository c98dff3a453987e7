//! Storage on a real node through kubectl 1.37 (issue 18): claims mounted
//! into runc containers, read-only, `subPath`/`subPathExpr`, data that
//! outlives its pods and a restart of rkube, generic ephemeral volumes,
//! the local-path provisioner's directories (made on first mount, removed
//! with their volume), the node's local-path root and capacity, and
//! StatefulSets whose pods find their own data again.
//!
//! Two groups:
//! - the node's own part (`prebound_*`, `node_*`): volumes and claims the
//!   test binds itself (a hostPath PV under the test's directory, the
//!   statuses written through `/status`), so they hold without the PV
//!   controller, the provisioner or the scheduler's volume binding;
//! - the whole flow (`statefulset_*`, `local_path_*`, `ephemeral_*`,
//!   `wait_for_first_consumer_*`): the default `local-path` class, the PV
//!   controller and provisioner, and the scheduler's selected node.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;
use serde_json::Value;

const T: Duration = Duration::from_secs(90);

fn json(c: &RealCluster, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.cluster.ok(&a)).expect("kubectl printed JSON")
}

fn node_name(c: &RealCluster) -> String {
    c.cluster
        .ok(&["get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"])
        .trim()
        .to_string()
}

fn running(c: &RealCluster, pod: &str) {
    c.wait_for(&["pod", pod], "{.status.phase}", "Running", T);
}

/// `kubectl exec <pod> -- sh -c <script>`, its stdout.
fn exec(c: &RealCluster, pod: &str, script: &str) -> String {
    c.cluster.ok(&["exec", pod, "--", "sh", "-c", script])
}

/// Wait until `f` holds, polling every 300 ms.
fn until(c: &RealCluster, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + T;
    while !f() {
        assert!(
            Instant::now() < deadline,
            "timed out waiting until {what}\nserver log:\n{}",
            c.cluster.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// The events of `pod` (reason and message).
fn events_of(c: &RealCluster, pod: &str) -> String {
    c.cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={pod}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

/// A pod running `script` with `volumes` and the main container's `mounts`
/// (YAML fragments, indented for their place).
fn pod(name: &str, script: &str, mounts: &str, volumes: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
{extra_spec}  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
    volumeMounts:
{mounts}  volumes:
{volumes}"#
    )
}

/// A hostPath PersistentVolume at `path` and a claim pre-bound to it,
/// both marked Bound through `/status` as the PV controller would. `modes`:
/// one access mode.
fn prebound(c: &RealCluster, name: &str, path: &Path, modes: &str) {
    c.apply(
        &format!("{name}-claim"),
        &format!(
            r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: {name}
spec:
  storageClassName: ""
  volumeName: {name}-pv
  accessModes: [{modes}]
  resources:
    requests:
      storage: 1Gi
"#
        ),
    );
    let uid = c
        .cluster
        .ok(&["get", "pvc", name, "-o", "jsonpath={.metadata.uid}"]);
    c.apply(
        &format!("{name}-pv"),
        &format!(
            r#"apiVersion: v1
kind: PersistentVolume
metadata:
  name: {name}-pv
spec:
  storageClassName: ""
  capacity:
    storage: 1Gi
  accessModes: [{modes}]
  persistentVolumeReclaimPolicy: Retain
  hostPath:
    path: {}
    type: DirectoryOrCreate
  claimRef:
    apiVersion: v1
    kind: PersistentVolumeClaim
    namespace: default
    name: {name}
    uid: {uid}
"#,
            path.display()
        ),
    );
    c.cluster.ok(&[
        "patch",
        "pv",
        &format!("{name}-pv"),
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Bound"}}"#,
    ]);
    c.cluster.ok(&[
        "patch",
        "pvc",
        name,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(
            r#"{{"status":{{"phase":"Bound","accessModes":["{modes}"],"capacity":{{"storage":"1Gi"}}}}}}"#
        ),
    ]);
}

fn claim_volume(claim: &str) -> String {
    format!("  - name: data\n    persistentVolumeClaim:\n      claimName: {claim}\n")
}

#[test]
fn prebound_claim_keeps_its_data_across_pods_and_a_restart_of_rkube() {
    let mut c = RealCluster::up();
    let dir = c.cluster.dir.path().join("pv-data");
    prebound(&c, "data", &dir, "ReadWriteOnce");

    // A writer: the claim, a subPath of it and a subPathExpr of it.
    c.apply(
        "writer",
        &pod(
            "writer",
            "echo hello > /data/f; echo sub > /sub/s; echo expr > /expr/e; sleep 3600",
            "    - name: data\n      mountPath: /data\n    - name: data\n      mountPath: /sub\n      subPath: nested/dir\n    - name: data\n      mountPath: /expr\n      subPathExpr: per-pod/$(POD_NAME)\n",
            &claim_volume("data"),
            "",
        )
        .replace(
            "    volumeMounts:",
            "    env:\n    - name: POD_NAME\n      valueFrom:\n        fieldRef:\n          fieldPath: metadata.name\n    volumeMounts:",
        ),
    );
    running(&c, "writer");
    until(&c, "the writer wrote its files", || {
        dir.join("per-pod/writer/e").is_file()
    });
    assert_eq!(
        std::fs::read_to_string(dir.join("f")).expect("f"),
        "hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("nested/dir/s")).expect("s"),
        "sub\n"
    );
    // The subPath is the volume's own directory, not a copy.
    assert_eq!(exec(&c, "writer", "cat /data/nested/dir/s"), "sub\n");

    // The pod deleted: the data stays.
    c.cluster.ok(&["delete", "pod", "writer", "--wait=true"]);
    assert!(dir.join("f").is_file(), "the data outlives the pod");

    // A reader mounting the claim read-only sees the data and cannot write.
    c.apply(
        "reader",
        &pod(
            "reader",
            "sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            "  - name: data\n    persistentVolumeClaim:\n      claimName: data\n      readOnly: true\n",
            "",
        ),
    );
    running(&c, "reader");
    assert_eq!(exec(&c, "reader", "cat /data/f"), "hello\n");
    assert_eq!(
        exec(
            &c,
            "reader",
            "touch /data/new 2>/dev/null && echo rw || echo ro"
        ),
        "ro\n"
    );
    c.cluster.ok(&["delete", "pod", "reader", "--wait=true"]);

    // rkube restarted: a new pod with the same claim sees the data.
    c.cluster.restart();
    c.apply(
        "after",
        &pod(
            "after",
            "sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            &claim_volume("data"),
            "",
        ),
    );
    running(&c, "after");
    assert_eq!(
        exec(&c, "after", "cat /data/f /data/per-pod/writer/e"),
        "hello\nexpr\n"
    );
    c.cluster.ok(&["delete", "pod", "after", "--wait=true"]);
    assert!(dir.join("f").is_file());
}

#[test]
fn prebound_pods_wait_for_their_claim_and_bad_sub_paths_are_refused() {
    let c = RealCluster::up();
    // A claim that is not bound yet: the pod (put on the node directly, as
    // the scheduler would not place it) waits in ContainerCreating.
    let node = node_name(&c);
    c.apply(
        "waiter",
        &pod(
            "waiter",
            "cat /data/f; sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            &claim_volume("later"),
            &format!("  nodeName: {node}\n"),
        ),
    );
    c.wait_for(
        &["pod", "waiter"],
        "{.status.containerStatuses[0].state.waiting.reason}",
        "ContainerCreating",
        T,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.cluster
            .ok(&["get", "pod", "waiter", "-o", "jsonpath={.status.phase}"]),
        "Pending",
        "not started before its claim is bound"
    );
    let dir = c.cluster.dir.path().join("later-data");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("f"), "there\n").expect("write");
    prebound(&c, "later", &dir, "ReadWriteOnce");
    running(&c, "waiter");

    // subPathExpr that expands to `..`: the container is not started, and
    // nothing outside the volume is made.
    let outside = c.cluster.dir.path().join("escaped");
    c.apply(
        "escape",
        &pod(
            "escape",
            "sleep 3600",
            "    - name: data\n      mountPath: /data\n      subPathExpr: $(WHERE)\n",
            &claim_volume("later"),
            "",
        )
        .replace(
            "    volumeMounts:",
            "    env:\n    - name: WHERE\n      value: ../escaped\n    volumeMounts:",
        ),
    );
    c.wait_for(
        &["pod", "escape"],
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CreateContainerConfigError",
        T,
    );
    let msg = c.cluster.ok(&[
        "get",
        "pod",
        "escape",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.message}",
    ]);
    assert!(
        msg.contains("must be a relative path within the volume"),
        "{msg}"
    );
    assert!(!outside.exists(), "nothing made outside the volume");

    // A symlink in the volume pointing out of it cannot be used as a subPath.
    std::os::unix::fs::symlink(c.cluster.dir.path(), dir.join("link")).expect("symlink");
    c.apply(
        "symlink",
        &pod(
            "symlink",
            "sleep 3600",
            "    - name: data\n      mountPath: /data\n      subPath: link\n",
            &claim_volume("later"),
            "",
        ),
    );
    c.wait_for(
        &["pod", "symlink"],
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CreateContainerConfigError",
        T,
    );
    let msg = c.cluster.ok(&[
        "get",
        "pod",
        "symlink",
        "-o",
        "jsonpath={.status.containerStatuses[0].state.waiting.message}",
    ]);
    assert!(msg.contains("not within volume path"), "{msg}");

    // A PV whose hostPath is a file where a directory is needed.
    let file = c.cluster.dir.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    prebound(&c, "filepv", &file, "ReadWriteOnce");
    c.apply(
        "onfile",
        &pod(
            "onfile",
            "sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            &claim_volume("filepv"),
            "",
        ),
    );
    until(&c, "a FailedMount event for the file", || {
        events_of(&c, "onfile").contains("is not a directory")
    });
    assert_eq!(
        c.cluster
            .ok(&["get", "pod", "onfile", "-o", "jsonpath={.status.phase}"]),
        "Pending"
    );
    for p in ["waiter", "escape", "symlink", "onfile"] {
        c.cluster.ok(&["delete", "pod", p, "--wait=true"]);
    }
}

#[test]
fn node_publishes_its_local_path_root_and_capacity_and_cleans_deleted_volumes() {
    let c = RealCluster::up();
    let node = node_name(&c);
    let root = c.cluster.ok(&[
        "get",
        "node",
        &node,
        "-o",
        "jsonpath={.metadata.annotations.storage\\.rkube\\.io/local-path-root}",
    ]);
    let root = PathBuf::from(root);
    assert_eq!(root, c.data_dir().join("storage/local-path"));
    assert!(root.is_dir(), "the root exists");

    until(&c, "the local-path capacity is published", || {
        c.cluster
            .kubectl(&[
                "get",
                "csistoragecapacity",
                "-n",
                "kube-system",
                &format!("local-path-{node}"),
            ])
            .status
            .success()
    });
    let cap = json(
        &c,
        &[
            "get",
            "csistoragecapacity",
            "-n",
            "kube-system",
            &format!("local-path-{node}"),
        ],
    );
    assert_eq!(cap["storageClassName"], "local-path");
    assert_eq!(
        cap["nodeTopology"]["matchLabels"]["kubernetes.io/hostname"],
        node.as_str()
    );
    assert!(cap["capacity"].as_str().is_some_and(|q| !q.is_empty()));

    // A local-path volume as the provisioner makes it: its directory is
    // made on first mount (0777) and removed when the volume is deleted.
    let pv_dir = root.join("pvc-made-by-hand");
    c.apply(
        "lp-claim",
        r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: lp
spec:
  storageClassName: ""
  volumeName: pvc-made-by-hand
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
"#,
    );
    let uid = c
        .cluster
        .ok(&["get", "pvc", "lp", "-o", "jsonpath={.metadata.uid}"]);
    c.apply(
        "lp-pv",
        &format!(
            r#"apiVersion: v1
kind: PersistentVolume
metadata:
  name: pvc-made-by-hand
  finalizers: [storage.rkube.io/local-path-cleanup]
spec:
  storageClassName: ""
  capacity:
    storage: 1Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Delete
  hostPath:
    path: {}
    type: DirectoryOrCreate
  nodeAffinity:
    required:
      nodeSelectorTerms:
      - matchExpressions:
        - key: kubernetes.io/hostname
          operator: In
          values: [{node}]
  claimRef:
    namespace: default
    name: lp
    uid: {uid}
"#,
            pv_dir.display()
        ),
    );
    c.cluster.ok(&[
        "patch",
        "pv",
        "pvc-made-by-hand",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Bound"}}"#,
    ]);
    c.cluster.ok(&[
        "patch", "pvc", "lp", "--subresource=status", "--type=merge",
        "-p", r#"{"status":{"phase":"Bound","accessModes":["ReadWriteOnce"],"capacity":{"storage":"1Gi"}}}"#,
    ]);
    c.apply(
        "lp-user",
        &pod(
            "lp-user",
            "echo v > /data/v; sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            &claim_volume("lp"),
            "  securityContext:\n    runAsUser: 1000\n",
        ),
    );
    running(&c, "lp-user");
    until(&c, "a non-root container wrote into the volume", || {
        pv_dir.join("v").is_file()
    });
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pv_dir)
            .expect("dir")
            .permissions()
            .mode()
            & 0o777,
        0o777
    );
    c.cluster.ok(&["delete", "pod", "lp-user", "--wait=true"]);
    assert!(pv_dir.join("v").is_file(), "kept after the pod");
    c.cluster.ok(&["delete", "pvc", "lp", "--wait=false"]);
    c.cluster
        .ok(&["delete", "pv", "pvc-made-by-hand", "--wait=false"]);
    until(&c, "the volume's directory and object are gone", || {
        !pv_dir.exists()
            && !c
                .cluster
                .kubectl(&["get", "pv", "pvc-made-by-hand"])
                .status
                .success()
    });
    assert!(root.is_dir(), "the root stays");
}

// ---- The whole flow: needs the default class, the PV controller with the
// local-path provisioner and the scheduler's volume binding. ----

fn statefulset(replicas: u32, when_scaled: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  serviceName: web
  replicas: {replicas}
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy:
    whenDeleted: Retain
    whenScaled: {when_scaled}
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: {BUSYBOX}
        command: ["sh", "-c", "[ -f /data/ordinal ] || echo ${{HOSTNAME##*-}} > /data/ordinal; sleep 3600"]
        volumeMounts:
        - name: data
          mountPath: /data
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 64Mi
"#
    )
}

fn pv_dir_of(c: &RealCluster, claim: &str) -> PathBuf {
    let pv = c
        .cluster
        .ok(&["get", "pvc", claim, "-o", "jsonpath={.spec.volumeName}"]);
    assert!(!pv.is_empty(), "claim {claim} is bound");
    let path = c
        .cluster
        .ok(&["get", "pv", &pv, "-o", "jsonpath={.spec.hostPath.path}"]);
    PathBuf::from(path)
}

fn uid(c: &RealCluster, pod: &str) -> String {
    c.cluster
        .ok(&["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"])
}

#[test]
fn statefulset_pods_find_their_own_data_and_scale_down_deletes_claims() {
    let c = RealCluster::up();
    c.apply("web", &statefulset(3, "Delete"));
    for i in 0..3 {
        running(&c, &format!("web-{i}"));
        c.wait_for(
            &["pvc", &format!("data-web-{i}")],
            "{.status.phase}",
            "Bound",
            T,
        );
    }
    for i in 0..3 {
        let pod = format!("web-{i}");
        until(&c, "the ordinal is written", || {
            exec(&c, &pod, "cat /data/ordinal 2>/dev/null || true") == format!("{i}\n")
        });
    }
    let root = c.data_dir().join("storage/local-path");
    let dirs: Vec<PathBuf> = (0..3)
        .map(|i| pv_dir_of(&c, &format!("data-web-{i}")))
        .collect();
    for d in &dirs {
        assert!(d.starts_with(&root), "{d:?} under the local-path root");
        assert!(d.join("ordinal").is_file());
    }

    // Deleted and recreated: each pod reads back its own ordinal.
    let before: Vec<String> = (0..3).map(|i| uid(&c, &format!("web-{i}"))).collect();
    c.cluster
        .ok(&["delete", "pod", "web-0", "web-1", "web-2", "--wait=false"]);
    for (i, old) in before.iter().enumerate() {
        let pod = format!("web-{i}");
        until(&c, "the pod is recreated and running", || {
            let out = c.cluster.kubectl(&[
                "get",
                "pod",
                &pod,
                "-o",
                "jsonpath={.metadata.uid} {.status.phase}",
            ]);
            let s = String::from_utf8_lossy(&out.stdout).to_string();
            s.ends_with(" Running") && !s.starts_with(old.as_str())
        });
        assert_eq!(exec(&c, &pod, "cat /data/ordinal"), format!("{i}\n"));
    }

    // Scaled down with whenScaled: Delete: the claims of web-1 and web-2 go,
    // and with them their volumes' directories.
    c.cluster
        .ok(&["scale", "statefulset", "web", "--replicas=1"]);
    until(&c, "the claims of the removed ordinals are gone", || {
        !c.cluster
            .kubectl(&["get", "pvc", "data-web-1"])
            .status
            .success()
            && !c
                .cluster
                .kubectl(&["get", "pvc", "data-web-2"])
                .status
                .success()
    });
    until(&c, "their directories are removed", || {
        !dirs[1].exists() && !dirs[2].exists()
    });
    assert!(dirs[0].join("ordinal").is_file(), "web-0 keeps its data");
}

#[test]
fn local_path_retain_volume_survives_its_claim() {
    let c = RealCluster::up();
    c.apply(
        "retain",
        r#"apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-retain
provisioner: rkube.io/local-path
reclaimPolicy: Retain
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: keep
spec:
  storageClassName: local-retain
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 64Mi
"#,
    );
    c.apply(
        "keeper",
        &pod(
            "keeper",
            "echo kept > /data/f; sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            &claim_volume("keep"),
            "",
        ),
    );
    running(&c, "keeper");
    let dir = pv_dir_of(&c, "keep");
    let pv = c
        .cluster
        .ok(&["get", "pvc", "keep", "-o", "jsonpath={.spec.volumeName}"]);
    until(&c, "the file is written", || dir.join("f").is_file());
    c.cluster.ok(&["delete", "pod", "keeper", "--wait=true"]);
    c.cluster.ok(&["delete", "pvc", "keep", "--wait=true"]);
    c.wait_for(&["pv", &pv], "{.status.phase}", "Released", T);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        std::fs::read_to_string(dir.join("f")).expect("kept"),
        "kept\n",
        "a Retain volume's data outlives its claim"
    );
}

#[test]
fn wait_for_first_consumer_claim_binds_on_the_node_of_its_pod() {
    let c = RealCluster::up();
    let node = node_name(&c);
    c.apply(
        "wffc",
        r#"apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: wffc
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 64Mi
"#,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        c.cluster
            .ok(&["get", "pvc", "wffc", "-o", "jsonpath={.status.phase}"]),
        "Pending",
        "the default class waits for a consumer"
    );
    c.apply(
        "consumer",
        &pod(
            "consumer",
            "sleep 3600",
            "    - name: data\n      mountPath: /data\n",
            &claim_volume("wffc"),
            "",
        ),
    );
    running(&c, "consumer");
    c.wait_for(&["pvc", "wffc"], "{.status.phase}", "Bound", T);
    let claim = json(&c, &["get", "pvc", "wffc"]);
    assert_eq!(
        claim["metadata"]["annotations"]["volume.kubernetes.io/selected-node"],
        node.as_str()
    );
    let pv = json(
        &c,
        &[
            "get",
            "pv",
            claim["spec"]["volumeName"].as_str().expect("bound"),
        ],
    );
    assert_eq!(
        pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
            ["values"][0],
        node.as_str()
    );
    assert_eq!(
        c.cluster
            .ok(&["get", "pod", "consumer", "-o", "jsonpath={.spec.nodeName}"]),
        node
    );
}

#[test]
fn ephemeral_volume_lives_and_dies_with_its_pod() {
    let c = RealCluster::up();
    c.apply(
        "eph",
        &pod(
            "eph",
            "echo scratch > /scratch/f; sleep 3600",
            "    - name: scratch\n      mountPath: /scratch\n",
            "  - name: scratch\n    ephemeral:\n      volumeClaimTemplate:\n        spec:\n          accessModes: [ReadWriteOnce]\n          resources:\n            requests:\n              storage: 64Mi\n",
            "",
        ),
    );
    running(&c, "eph");
    let claim = json(&c, &["get", "pvc", "eph-scratch"]);
    assert_eq!(claim["metadata"]["ownerReferences"][0]["kind"], "Pod");
    assert_eq!(claim["metadata"]["ownerReferences"][0]["name"], "eph");
    let dir = pv_dir_of(&c, "eph-scratch");
    until(&c, "the file is written", || dir.join("f").is_file());
    c.cluster.ok(&["delete", "pod", "eph", "--wait=true"]);
    until(
        &c,
        "the claim and its directory are gone with the pod",
        || {
            !c.cluster
                .kubectl(&["get", "pvc", "eph-scratch"])
                .status
                .success()
                && !dir.exists()
        },
    );
}

#[test]
fn local_path_data_survives_a_restart_of_rkube() {
    let mut c = RealCluster::up();
    c.apply("web", &statefulset(1, "Retain"));
    running(&c, "web-0");
    until(&c, "the ordinal is written", || {
        exec(&c, "web-0", "cat /data/ordinal 2>/dev/null || true") == "0\n"
    });
    exec(&c, "web-0", "echo before-restart > /data/mark");
    let dir = pv_dir_of(&c, "data-web-0");
    c.cluster.restart();
    let before = uid(&c, "web-0");
    c.cluster.ok(&["delete", "pod", "web-0", "--wait=false"]);
    until(&c, "web-0 is recreated and running", || {
        let out = c.cluster.kubectl(&[
            "get",
            "pod",
            "web-0",
            "-o",
            "jsonpath={.metadata.uid} {.status.phase}",
        ]);
        let s = String::from_utf8_lossy(&out.stdout).to_string();
        s.ends_with(" Running") && !s.starts_with(&before)
    });
    assert_eq!(exec(&c, "web-0", "cat /data/mark"), "before-restart\n");
    assert!(dir.join("mark").is_file());
}
