//! The volume controllers through kubectl 1.37 against `rkube up
//! --sim-nodes 3`: a static volume binds its claim (Immediate class), is
//! Released and kept under Retain when the claim goes; a local-path claim
//! whose node is selected (set here by hand, as the scheduler does) gets a
//! provisioned volume on that simulated node, deleted with the claim; a
//! claim naming a missing class stays Pending with the event; pvc-protection
//! keeps a used claim Terminating until its pod goes; a generic ephemeral
//! volume's claim is made for its pod and goes with it; a StatefulSet's
//! claim per ordinal outlives its pod and, under `whenScaled: Delete`,
//! goes with a scaled-down pod.

use std::time::Duration;

use rkube_e2e::Cluster;

const T: Duration = Duration::from_secs(30);

fn apply(c: &Cluster, name: &str, yaml: &str) {
    let f = c.file(name, yaml);
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
}

fn get(c: &Cluster, what: &[&str], path: &str) -> String {
    let jp = format!("jsonpath={path}");
    let mut args: Vec<&str> = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", &jp]);
    let out = c.kubectl(&args);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn gone(c: &Cluster, what: &[&str]) -> bool {
    let mut args: Vec<&str> = vec!["get"];
    args.extend_from_slice(what);
    let out = c.kubectl(&args);
    !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("NotFound")
}

fn up() -> Cluster {
    let c = Cluster::up_with(&["--sim-nodes", "3"]);
    c.wait_until("three nodes", T, || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 3
    });
    apply(
        &c,
        "classes.yaml",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: manual}\n\
         provisioner: kubernetes.io/no-provisioner\nvolumeBindingMode: Immediate\n\
         reclaimPolicy: Retain\n---\n\
         apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: local-path}\n\
         provisioner: rkube.io/local-path\nvolumeBindingMode: WaitForFirstConsumer\n\
         reclaimPolicy: Delete\n",
    );
    c
}

fn static_pv(name: &str, policy: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {name}}}\nspec:\n  \
         capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  \
         storageClassName: manual\n  persistentVolumeReclaimPolicy: {policy}\n  \
         hostPath: {{path: /srv/rkube-e2e/{name}}}\n"
    )
}

fn claim(name: &str, class: &str) -> String {
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n  \
         accessModes: [ReadWriteOnce]\n  storageClassName: {class}\n  \
         resources: {{requests: {{storage: 1Gi}}}}\n"
    )
}

fn events_of(c: &Cluster, name: &str) -> String {
    c.ok(&[
        "get",
        "events",
        "--field-selector",
        &format!("involvedObject.name={name}"),
        "-o",
        "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}",
    ])
}

#[test]
fn volumes_bind_are_released_kept_or_deleted_and_a_missing_class_waits() {
    let c = up();

    // A static volume and a claim of an Immediate class bind both ways.
    apply(&c, "pv.yaml", &static_pv("kept", "Retain"));
    apply(&c, "pvc.yaml", &claim("data", "manual"));
    c.wait_until("claim and volume Bound", T, || {
        get(&c, &["pvc", "data"], "{.status.phase}") == "Bound"
            && get(&c, &["pv", "kept"], "{.status.phase}") == "Bound"
    });
    let shown = c.ok(&[
        "get",
        "pvc",
        "data",
        "-o",
        "custom-columns=STATUS:.status.phase,VOLUME:.spec.volumeName,CAPACITY:.status.capacity.storage",
    ]);
    assert!(
        shown.contains("Bound") && shown.contains("kept") && shown.contains("1Gi"),
        "{shown}"
    );
    assert_eq!(
        get(
            &c,
            &["pv", "kept"],
            "{.spec.claimRef.namespace}/{.spec.claimRef.name}"
        ),
        "default/data"
    );
    let ann = get(&c, &["pvc", "data"], "{.metadata.annotations}");
    assert!(
        ann.contains("\"pv.kubernetes.io/bind-completed\":\"yes\""),
        "{ann}"
    );
    assert!(
        ann.contains("\"pv.kubernetes.io/bound-by-controller\":\"yes\""),
        "{ann}"
    );
    assert_eq!(
        get(&c, &["pvc", "data"], "{.status.accessModes[0]}"),
        "ReadWriteOnce"
    );

    // The claim goes: the Retain volume is Released and stays.
    c.ok(&["delete", "pvc", "data", "--wait=false"]);
    c.wait_until("the volume Released", T, || {
        get(&c, &["pv", "kept"], "{.status.phase}") == "Released"
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(get(&c, &["pv", "kept"], "{.status.phase}"), "Released");

    // A local-path claim whose node is selected gets its volume there.
    apply(&c, "lp.yaml", &claim("fast", "local-path"));
    c.wait_until("waiting for a consumer", T, || {
        events_of(&c, "fast").contains("WaitForFirstConsumer")
    });
    assert_eq!(get(&c, &["pvc", "fast"], "{.status.phase}"), "Pending");
    c.ok(&[
        "annotate",
        "pvc",
        "fast",
        "volume.kubernetes.io/selected-node=sim-node-1",
    ]);
    c.wait_until("the local-path claim Bound", T, || {
        get(&c, &["pvc", "fast"], "{.status.phase}") == "Bound"
    });
    let uid = get(&c, &["pvc", "fast"], "{.metadata.uid}");
    let pv = format!("pvc-{uid}");
    assert_eq!(get(&c, &["pvc", "fast"], "{.spec.volumeName}"), pv);
    assert_eq!(
        get(&c, &["pv", &pv], "{.spec.hostPath.path}"),
        format!("/var/lib/rkube/sim-local-path/{pv}")
    );
    assert_eq!(
        get(
            &c,
            &["pv", &pv],
            "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"
        ),
        "sim-node-1"
    );
    let ev = events_of(&c, "fast");
    assert!(ev.contains("ProvisioningSucceeded"), "{ev}");
    assert!(ev.contains("ExternalProvisioning"), "{ev}");

    // Its claim goes: the Delete volume goes too.
    c.ok(&["delete", "pvc", "fast"]);
    c.wait_until("the local-path volume deleted", T, || {
        gone(&c, &["pv", &pv])
    });

    // A class that does not exist: Pending, with the reason.
    apply(&c, "nope.yaml", &claim("lost", "nope"));
    c.wait_until("the missing class reported", T, || {
        c.ok(&["describe", "pvc", "lost"])
            .contains("storageclass.storage.k8s.io \"nope\" not found")
    });
    assert_eq!(get(&c, &["pvc", "lost"], "{.status.phase}"), "Pending");
    let ev = events_of(&c, "lost");
    assert!(ev.contains("ProvisioningFailed"), "{ev}");
}

#[test]
fn a_used_claim_stays_until_its_pod_goes_and_ephemeral_claims_follow_their_pod() {
    let c = up();
    apply(&c, "pv.yaml", &static_pv("disk", "Retain"));
    apply(&c, "pvc.yaml", &claim("used", "manual"));
    c.wait_until("claim Bound", T, || {
        get(&c, &["pvc", "used"], "{.status.phase}") == "Bound"
    });
    apply(
        &c,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: user}\nspec:\n  \
         containers: [{name: c, image: busybox, volumeMounts: [{name: d, mountPath: /d}]}]\n  \
         volumes: [{name: d, persistentVolumeClaim: {claimName: used}}]\n",
    );
    c.wait_until("the pod scheduled and the claim protected", T, || {
        !get(&c, &["pod", "user"], "{.spec.nodeName}").is_empty()
            && get(&c, &["pvc", "used"], "{.metadata.finalizers}")
                .contains("kubernetes.io/pvc-protection")
    });
    c.ok(&["delete", "pvc", "used", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        !get(&c, &["pvc", "used"], "{.metadata.deletionTimestamp}").is_empty(),
        "the claim is Terminating"
    );
    c.ok(&["delete", "pod", "user", "--grace-period=0", "--force"]);
    c.wait_until("the claim gone after its pod", T, || {
        gone(&c, &["pvc", "used"])
    });
    c.wait_until("its volume Released", T, || {
        get(&c, &["pv", "disk"], "{.status.phase}") == "Released"
    });

    // A generic ephemeral volume: its claim is made for the pod, owned by it.
    apply(
        &c,
        "eph.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: eph}\nspec:\n  \
         containers: [{name: c, image: busybox, volumeMounts: [{name: scratch, mountPath: /s}]}]\n  \
         volumes:\n  - name: scratch\n    ephemeral:\n      volumeClaimTemplate:\n        \
         metadata: {labels: {kind: scratch}}\n        spec:\n          \
         accessModes: [ReadWriteOnce]\n          storageClassName: local-path\n          \
         resources: {requests: {storage: 1Gi}}\n",
    );
    c.wait_until("the ephemeral claim made", T, || {
        get(
            &c,
            &["pvc", "eph-scratch"],
            "{.metadata.ownerReferences[0].name}",
        ) == "eph"
    });
    let pod_uid = get(&c, &["pod", "eph"], "{.metadata.uid}");
    assert_eq!(
        get(
            &c,
            &["pvc", "eph-scratch"],
            "{.metadata.ownerReferences[0].uid} {.metadata.ownerReferences[0].controller} {.metadata.labels.kind}"
        ),
        format!("{pod_uid} true scratch")
    );
    c.ok(&["delete", "pod", "eph", "--grace-period=0", "--force"]);
    c.wait_until("the ephemeral claim gone with its pod", T, || {
        gone(&c, &["pvc", "eph-scratch"])
    });
}

#[test]
fn a_statefulset_keeps_claims_per_ordinal_and_deletes_a_scaled_down_ones_claim() {
    let c = up();
    apply(&c, "pv0.yaml", &static_pv("disk-a", "Retain"));
    apply(&c, "pv1.yaml", &static_pv("disk-b", "Retain"));
    apply(
        &c,
        "sts.yaml",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  \
         replicas: 2\n  serviceName: web\n  podManagementPolicy: Parallel\n  \
         selector: {matchLabels: {app: web}}\n  \
         persistentVolumeClaimRetentionPolicy: {whenDeleted: Delete, whenScaled: Delete}\n  \
         template:\n    metadata: {labels: {app: web}}\n    spec:\n      \
         containers: [{name: c, image: busybox, volumeMounts: [{name: data, mountPath: /d}]}]\n  \
         volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      \
         accessModes: [ReadWriteOnce]\n      storageClassName: manual\n      \
         resources: {requests: {storage: 1Gi}}\n",
    );
    c.wait_until("both claims Bound and both pods scheduled", T, || {
        get(&c, &["pvc", "data-web-0"], "{.status.phase}") == "Bound"
            && get(&c, &["pvc", "data-web-1"], "{.status.phase}") == "Bound"
            && !get(&c, &["pod", "web-1"], "{.spec.nodeName}").is_empty()
    });
    let set_uid = get(&c, &["statefulset", "web"], "{.metadata.uid}");
    assert_eq!(
        get(
            &c,
            &["pvc", "data-web-1"],
            "{.metadata.ownerReferences[0].kind} {.metadata.ownerReferences[0].uid} {.metadata.ownerReferences[0].controller}"
        ),
        format!("StatefulSet {set_uid} true")
    );
    // A pod deleted comes back to the same claim.
    let volume = get(&c, &["pvc", "data-web-0"], "{.spec.volumeName}");
    let old = get(&c, &["pod", "web-0"], "{.metadata.uid}");
    c.ok(&["delete", "pod", "web-0", "--grace-period=0", "--force"]);
    c.wait_until("web-0 made again", T, || {
        let uid = get(&c, &["pod", "web-0"], "{.metadata.uid}");
        !uid.is_empty() && uid != old
    });
    assert_eq!(
        get(
            &c,
            &["pod", "web-0"],
            "{.spec.volumes[0].persistentVolumeClaim.claimName}"
        ),
        "data-web-0"
    );
    assert_eq!(
        get(&c, &["pvc", "data-web-0"], "{.spec.volumeName}"),
        volume
    );
    // Scaled down: the condemned pod's claim goes with it, the other stays.
    c.ok(&["scale", "statefulset", "web", "--replicas=1"]);
    c.wait_until("data-web-1 deleted after web-1", T, || {
        gone(&c, &["pvc", "data-web-1"]) && gone(&c, &["pod", "web-1"])
    });
    assert_eq!(get(&c, &["pvc", "data-web-0"], "{.status.phase}"), "Bound");
}

/// The StatefulSet on 100 simulated nodes: every pod's claim (of
/// the default class, which the API server fills in) is provisioned by
/// local-path on the node the scheduler chose for the pod, and bound.
#[test]
fn a_statefulset_on_a_hundred_simulated_nodes_binds_every_claim() {
    let c = Cluster::up_with(&["--sim-nodes", "100"]);
    c.wait_until("a hundred nodes", Duration::from_secs(60), || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 100
    });
    apply(
        &c,
        "web.yaml",
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: web}\nspec:\n  \
         replicas: 3\n  serviceName: web\n  selector: {matchLabels: {app: web}}\n  \
         template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      \
         - name: c\n        image: busybox\n        volumeMounts: [{name: data, mountPath: /data}]\n  \
         volumeClaimTemplates:\n  - metadata: {name: data}\n    spec:\n      \
         accessModes: [ReadWriteOnce]\n      resources: {requests: {storage: 1Gi}}\n",
    );
    c.wait_until("three Ready replicas", Duration::from_secs(90), || {
        get(&c, &["statefulset", "web"], "{.status.readyReplicas}") == "3"
    });
    for ordinal in 0..3 {
        let claim = format!("data-web-{ordinal}");
        assert_eq!(
            get(&c, &["pvc", &claim], "{.spec.storageClassName}"),
            "local-path",
            "the default class is filled in"
        );
        assert_eq!(get(&c, &["pvc", &claim], "{.status.phase}"), "Bound");
        let volume = get(&c, &["pvc", &claim], "{.spec.volumeName}");
        let node = get(&c, &["pod", &format!("web-{ordinal}")], "{.spec.nodeName}");
        assert_eq!(
            get(
                &c,
                &["pvc", &claim],
                "{.metadata.annotations.volume\\.kubernetes\\.io/selected-node}"
            ),
            node
        );
        assert_eq!(
            get(
                &c,
                &["pv", &volume],
                "{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}"
            ),
            node,
            "the volume is on its pod's node"
        );
        assert_eq!(get(&c, &["pv", &volume], "{.status.phase}"), "Bound");
    }
}
