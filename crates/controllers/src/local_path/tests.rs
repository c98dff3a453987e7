//! The provisioner's decisions: the volume's shape on real and simulated
//! nodes, and its refusals.

use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::{CSIStorageCapacity, StorageClass};
use serde_json::json;

use super::plan::{plan, Plan, SIM_ROOT};

fn class(mode: &str) -> StorageClass {
    serde_json::from_value(json!({
        "metadata": {"name": "local-path"}, "provisioner": "rkube.io/local-path",
        "reclaimPolicy": "Delete", "volumeBindingMode": mode
    }))
    .expect("class")
}

fn claim(modes: &[&str], size: &str) -> PersistentVolumeClaim {
    serde_json::from_value(json!({
        "metadata": {"name": "data", "namespace": "ns", "uid": "abc-123",
            "annotations": {"volume.kubernetes.io/selected-node": "n1"}},
        "spec": {"accessModes": modes, "storageClassName": "local-path",
                 "resources": {"requests": {"storage": size}}}
    }))
    .expect("claim")
}

fn node(root: Option<&str>) -> Node {
    let ann = root.map(|r| json!({"storage.rkube.io/local-path-root": r}));
    serde_json::from_value(json!({
        "metadata": {"name": "n1", "annotations": ann,
            "labels": {"kubernetes.io/hostname": "n1", "zone": "a"}}
    }))
    .expect("node")
}

fn created(p: Plan) -> serde_json::Value {
    match p {
        Plan::Create(pv) => serde_json::to_value(*pv).expect("json"),
        other => panic!("{other:?}"),
    }
}

fn refused(p: Plan) -> String {
    match p {
        Plan::Refuse(why) => why,
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_real_node_gets_a_directory_under_its_root_and_the_cleanup_finalizer() {
    let pv = created(plan(
        &claim(&["ReadWriteOnce"], "1Gi"),
        &class("WaitForFirstConsumer"),
        Some(&node(Some("/data/rkube/local-path/"))),
        &[],
    ));
    assert_eq!(pv["metadata"]["name"], "pvc-abc-123");
    assert_eq!(
        pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"],
        "rkube.io/local-path"
    );
    assert_eq!(
        pv["metadata"]["finalizers"],
        json!(["storage.rkube.io/local-path-cleanup"])
    );
    let spec = &pv["spec"];
    assert_eq!(spec["capacity"]["storage"], "1Gi");
    assert_eq!(spec["accessModes"], json!(["ReadWriteOnce"]));
    assert_eq!(spec["persistentVolumeReclaimPolicy"], "Delete");
    assert_eq!(spec["storageClassName"], "local-path");
    assert_eq!(
        spec["claimRef"],
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
               "namespace": "ns", "name": "data", "uid": "abc-123"})
    );
    assert_eq!(
        spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0],
        json!({"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]})
    );
    assert_eq!(
        spec["hostPath"],
        json!({"path": "/data/rkube/local-path/pvc-abc-123", "type": "DirectoryOrCreate"})
    );
}

#[test]
fn a_simulated_node_gets_a_volume_without_a_directory_or_finalizer() {
    let pv = created(plan(
        &claim(&["ReadWriteOncePod"], "2Gi"),
        &class("WaitForFirstConsumer"),
        Some(&node(None)),
        &[],
    ));
    assert_eq!(pv["metadata"].get("finalizers"), None);
    assert_eq!(
        pv["spec"]["hostPath"]["path"],
        format!("{SIM_ROOT}/pvc-abc-123")
    );
    assert_eq!(pv["spec"]["accessModes"], json!(["ReadWriteOncePod"]));
}

#[test]
fn immediate_classes_and_shared_access_modes_are_refused() {
    let why = refused(plan(
        &claim(&["ReadWriteOnce"], "1Gi"),
        &class("Immediate"),
        Some(&node(None)),
        &[],
    ));
    assert!(why.contains("WaitForFirstConsumer"), "{why}");
    let why = refused(plan(
        &claim(&["ReadWriteMany", "ReadWriteOnce"], "1Gi"),
        &class("WaitForFirstConsumer"),
        Some(&node(None)),
        &[],
    ));
    assert!(why.contains("ReadWriteMany"), "{why}");
    assert!(why.contains("ReadWriteOnce and ReadWriteOncePod"), "{why}");
    // No node selected yet: wait.
    let mut c = claim(&["ReadWriteOnce"], "1Gi");
    c.metadata.annotations = None;
    assert!(matches!(
        plan(&c, &class("WaitForFirstConsumer"), None, &[]),
        Plan::Wait
    ));
}

#[test]
fn a_claim_larger_than_the_nodes_free_space_is_refused_with_both_sizes() {
    let cap = |zone: &str, size: &str| -> CSIStorageCapacity {
        serde_json::from_value(json!({
            "metadata": {"name": format!("cap-{zone}"), "namespace": "kube-system"},
            "storageClassName": "local-path", "capacity": size,
            "nodeTopology": {"matchLabels": {"kubernetes.io/hostname": zone}}
        }))
        .expect("cap")
    };
    let mine = cap("n1", "5Gi");
    let other = cap("n2", "100Gi");
    let why = refused(plan(
        &claim(&["ReadWriteOnce"], "10Gi"),
        &class("WaitForFirstConsumer"),
        Some(&node(None)),
        &[&mine, &other],
    ));
    assert!(
        why.contains("10Gi") && why.contains("5Gi") && why.contains("n1"),
        "{why}"
    );
    // Fits: created.
    created(plan(
        &claim(&["ReadWriteOnce"], "4Gi"),
        &class("WaitForFirstConsumer"),
        Some(&node(None)),
        &[&mine, &other],
    ));
    // Nothing published for the node: no check.
    created(plan(
        &claim(&["ReadWriteOnce"], "1Ti"),
        &class("WaitForFirstConsumer"),
        Some(&node(None)),
        &[&other],
    ));
}
