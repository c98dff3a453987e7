//! PersistentVolume and PersistentVolumeClaim validation as kubectl users
//! read it.

use serde_json::{json, Value};

use crate::defaults;
use crate::validate::{create, update};

fn created(kind: &str, mut obj: Value) -> Vec<String> {
    defaults::apply("", kind, &mut obj);
    create("", kind, &obj)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn updated(kind: &str, mut old: Value, mut new: Value) -> Vec<String> {
    defaults::apply("", kind, &mut old);
    defaults::apply("", kind, &mut new);
    update("", kind, &old, &new, false)
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn pv(spec: Value) -> Value {
    let mut base = json!({"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]});
    if let (Some(m), Some(e)) = (base.as_object_mut(), spec.as_object()) {
        m.extend(e.clone());
    }
    json!({"metadata": {"name": "pv1"}, "spec": base})
}

fn claim(spec: Value) -> Value {
    let mut base = json!({"accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}}});
    if let (Some(m), Some(e)) = (base.as_object_mut(), spec.as_object()) {
        m.extend(e.clone());
    }
    json!({"metadata": {"name": "c", "namespace": "default"}, "spec": base})
}

#[test]
fn a_volume_needs_exactly_one_source() {
    assert!(created(
        "PersistentVolume",
        pv(json!({"hostPath": {"path": "/data"}}))
    )
    .is_empty());
    assert_eq!(
        created("PersistentVolume", pv(json!({}))),
        ["spec: Required value: must specify a volume type"]
    );
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"hostPath": {"path": "/a"}, "nfs": {"server": "s", "path": "/b"}}))
        ),
        ["spec.nfs: Forbidden: may not specify more than 1 volume type"]
    );
}

#[test]
fn a_volume_needs_capacity_and_access_modes() {
    let got = created(
        "PersistentVolume",
        json!({"metadata": {"name": "v"}, "spec": {"hostPath": {"path": "/d"}}}),
    );
    assert_eq!(
        got,
        [
            "spec.accessModes: Required value",
            "spec.capacity: Required value",
            "spec.capacity: Unsupported value: map[string]string{}: supported values: \"storage\"",
        ]
    );
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"capacity": {"storage": "0"}, "hostPath": {"path": "/d"},
                "accessModes": ["ReadWriteOncePod", "ReadWriteMany", "WriteSometimes"]}))
        ),
        [
            "spec.accessModes: Unsupported value: \"WriteSometimes\": supported values: \"ReadOnlyMany\", \"ReadWriteMany\", \"ReadWriteOnce\", \"ReadWriteOncePod\"",
            "spec.accessModes: Forbidden: may not use ReadWriteOncePod with other access modes",
            "spec.capacity[storage]: Invalid value: \"0\": must be greater than zero",
        ]
    );
}

#[test]
fn reclaim_policies_and_paths_are_checked() {
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"persistentVolumeReclaimPolicy": "Keep", "hostPath": {"path": "/d"}}))
        ),
        ["spec.persistentVolumeReclaimPolicy: Unsupported value: \"Keep\": supported values: \"Delete\", \"Recycle\", \"Retain\""]
    );
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"hostPath": {"path": "data/../etc", "type": "Pipe"}}))
        ),
        [
            "spec.hostPath.path: Invalid value: \"data/../etc\": must be an absolute path",
            "spec.hostPath.path: Invalid value: \"data/../etc\": must not contain '..'",
            "spec.hostPath.type: Unsupported value: \"Pipe\": supported values: \"\", \"BlockDevice\", \"CharDevice\", \"Directory\", \"DirectoryOrCreate\", \"File\", \"FileOrCreate\", \"Socket\"",
        ]
    );
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"persistentVolumeReclaimPolicy": "Recycle", "hostPath": {"path": "/"}}))
        ),
        ["spec.persistentVolumeReclaimPolicy: Forbidden: may not be 'recycle' for a hostPath mount of '/'"]
    );
}

#[test]
fn local_volumes_need_node_affinity() {
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"local": {"path": "/mnt/disk"}}))
        ),
        ["spec.nodeAffinity: Required value: Local volume requires node affinity"]
    );
    let affinity = json!({"required": {"nodeSelectorTerms": [{"matchExpressions": [
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]}]}]}});
    assert!(created(
        "PersistentVolume",
        pv(json!({"local": {"path": "/mnt/disk"}, "nodeAffinity": affinity}))
    )
    .is_empty());
    assert_eq!(
        created(
            "PersistentVolume",
            pv(json!({"local": {"path": "/mnt/disk"}, "nodeAffinity": {}}))
        ),
        ["spec.nodeAffinity.required: Required value: must specify required node constraints"]
    );
}

#[test]
fn a_volume_source_never_changes() {
    let old = pv(json!({"hostPath": {"path": "/a"}}));
    let mut bound = old.clone();
    bound["spec"]["claimRef"] = json!({"namespace": "default", "name": "c"});
    bound["spec"]["persistentVolumeReclaimPolicy"] = json!("Delete");
    assert!(updated("PersistentVolume", old.clone(), bound).is_empty());
    let got = updated(
        "PersistentVolume",
        old,
        pv(json!({"hostPath": {"path": "/b"}})),
    );
    assert_eq!(got.len(), 1);
    assert!(
        got[0].starts_with("spec.persistentvolumesource: Forbidden: spec.persistentvolumesource is immutable after creation\n"),
        "{got:?}"
    );
}

#[test]
fn a_claim_needs_access_modes_and_a_storage_request() {
    assert!(created("PersistentVolumeClaim", claim(json!({}))).is_empty());
    assert_eq!(
        created(
            "PersistentVolumeClaim",
            json!({"metadata": {"name": "c", "namespace": "d"}, "spec": {}})
        ),
        [
            "spec.accessModes: Required value: at least 1 access mode is required",
            "spec.resources[storage]: Required value",
        ]
    );
    assert_eq!(
        created(
            "PersistentVolumeClaim",
            claim(json!({"resources": {"requests": {"storage": "0Gi"}}, "volumeMode": "Raw"}))
        ),
        [
            "spec.resources[storage]: Invalid value: \"0Gi\": must be greater than zero",
            "spec.volumeMode: Unsupported value: \"Raw\": supported values: \"Block\", \"Filesystem\"",
        ]
    );
}

#[test]
fn a_claim_selector_and_data_source_are_checked() {
    assert_eq!(
        created(
            "PersistentVolumeClaim",
            claim(json!({"selector": {"matchExpressions": [{"key": "a", "operator": "In"}]},
                "dataSource": {"kind": "Snapshot", "name": "s"}}))
        ),
        [
            "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
            "spec.dataSource: Invalid value: \"Snapshot\": must be 'PersistentVolumeClaim' when referencing the default apiGroup",
        ]
    );
    assert_eq!(
        created(
            "PersistentVolumeClaim",
            claim(
                json!({"dataSource": {"kind": "PersistentVolumeClaim", "name": "a"},
                "dataSourceRef": {"kind": "PersistentVolumeClaim", "name": "b"}})
            )
        ),
        ["spec: Invalid value: \"spec.dataSource\": must match dataSourceRef"]
    );
}

fn bound(spec: Value, capacity: &str) -> Value {
    let mut c = claim(spec);
    c["spec"]["volumeName"] = json!("pv1");
    c["status"] = json!({"phase": "Bound", "capacity": {"storage": capacity}});
    c
}

#[test]
fn a_bound_claim_may_grow_but_not_shrink() {
    let old = bound(json!({}), "1Gi");
    let grown = bound(
        json!({"resources": {"requests": {"storage": "2Gi"}}}),
        "1Gi",
    );
    assert!(updated("PersistentVolumeClaim", old.clone(), grown.clone()).is_empty());
    let shrunk = bound(
        json!({"resources": {"requests": {"storage": "512Mi"}}}),
        "1Gi",
    );
    assert_eq!(
        updated("PersistentVolumeClaim", old, shrunk),
        ["spec.resources.requests.storage: Forbidden: field can not be less than status.capacity"]
    );
    // After a failed expansion the request may go back, but not to the
    // capacity the volume has.
    let back = bound(
        json!({"resources": {"requests": {"storage": "1536Mi"}}}),
        "1Gi",
    );
    assert!(updated("PersistentVolumeClaim", grown, back).is_empty());
}

#[test]
fn a_claim_spec_is_otherwise_immutable() {
    let old = claim(json!({}));
    let got = updated(
        "PersistentVolumeClaim",
        old.clone(),
        claim(json!({"resources": {"requests": {"storage": "2Gi"}}})),
    );
    assert_eq!(got.len(), 1);
    assert!(got[0].starts_with("spec: Forbidden: spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims\n"));
    // volumeName is set once (by the PV controller), a class may be set
    // where none was (the default class assigned later).
    let named = claim(json!({"volumeName": "pv1", "storageClassName": "local-path"}));
    assert!(updated("PersistentVolumeClaim", old, named.clone()).is_empty());
    let renamed = claim(json!({"volumeName": "pv2", "storageClassName": "local-path"}));
    assert_eq!(
        updated("PersistentVolumeClaim", named.clone(), renamed).len(),
        1
    );
    let reclassed = claim(json!({"volumeName": "pv1", "storageClassName": "other"}));
    assert_eq!(updated("PersistentVolumeClaim", named, reclassed).len(), 1);
    let block = claim(json!({"volumeMode": "Block"}));
    let got = updated("PersistentVolumeClaim", claim(json!({})), block);
    assert!(got.contains(&"volumeMode: Invalid value: \"Block\": field is immutable".to_string()));
}

#[test]
fn objects_stored_before_a_default_existed_are_not_taken_for_changed() {
    // A claim stored without volumeMode, updated by a client that sends
    // what it read: the update's defaults add volumeMode, which is no
    // change.
    let stored = claim(json!({}));
    let mut sent = stored.clone();
    sent["metadata"]["labels"] = json!({"a": "b"});
    defaults::apply("", "PersistentVolumeClaim", &mut sent);
    assert!(update("", "PersistentVolumeClaim", &stored, &sent, false).is_empty());
    // A StatefulSet whose claim templates were stored undefaulted can
    // still be scaled.
    let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 1,
        "selector": {"matchLabels": {"app": "db"}},
        "template": {"metadata": {"labels": {"app": "db"}},
            "spec": {"containers": [{"name": "c", "image": "db:1"}]}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}});
    let mut scaled = sts.clone();
    scaled["spec"]["replicas"] = json!(3);
    defaults::apply("apps", "StatefulSet", &mut scaled);
    assert!(update("apps", "StatefulSet", &sts, &scaled, false).is_empty());
}
