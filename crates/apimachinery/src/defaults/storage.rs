//! Storage defaults: `SetDefaults_StorageClass` and `SetDefaults_CSIDriver`
//! (`pkg/apis/storage/v1/defaults.go`), `SetDefaults_PersistentVolume` and
//! `SetDefaults_PersistentVolumeClaimSpec` (`pkg/apis/core/v1`). A claim
//! spec is defaulted wherever it appears: claims, a StatefulSet's
//! `volumeClaimTemplates` (which, being whole claims, also get their
//! `status.phase: Pending`) and a pod's ephemeral volume templates. The
//! `status.phase: Pending` of volumes and claims is in `status.rs`.

use serde_json::{json, Value};

use super::{obj, set};

/// A StorageClass: `reclaimPolicy: Delete`, `volumeBindingMode: Immediate`.
pub fn storage_class(class: &mut Value) {
    if let Some(m) = class.as_object_mut() {
        set(m, "reclaimPolicy", json!("Delete"));
        set(m, "volumeBindingMode", json!("Immediate"));
    }
}

/// A CSIDriver's spec: attach required, no pod info, no capacity, the
/// ReadWriteOnceWithFSType fsGroup policy, `Persistent` volumes only, no
/// republish, no SELinux mounts.
pub fn csi_driver(driver: &mut Value) {
    let Some(spec) = obj(driver, "spec") else {
        return;
    };
    set(spec, "attachRequired", json!(true));
    set(spec, "podInfoOnMount", json!(false));
    set(spec, "storageCapacity", json!(false));
    set(spec, "fsGroupPolicy", json!("ReadWriteOnceWithFSType"));
    let no_modes = spec
        .get("volumeLifecycleModes")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if no_modes {
        spec.insert("volumeLifecycleModes".into(), json!(["Persistent"]));
    }
    set(spec, "requiresRepublish", json!(false));
    set(spec, "seLinuxMount", json!(false));
}

/// A PersistentVolume: `persistentVolumeReclaimPolicy: Retain`,
/// `volumeMode: Filesystem`.
pub fn persistent_volume(volume: &mut Value) {
    let Some(spec) = obj(volume, "spec") else {
        return;
    };
    let empty = spec
        .get("persistentVolumeReclaimPolicy")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    if empty {
        spec.insert("persistentVolumeReclaimPolicy".into(), json!("Retain"));
    }
    set(spec, "volumeMode", json!("Filesystem"));
}

/// A claim spec at `spec`: `volumeMode: Filesystem`.
fn claim_spec(spec: Option<&mut Value>) {
    if let Some(m) = spec.and_then(Value::as_object_mut) {
        set(m, "volumeMode", json!("Filesystem"));
    }
}

/// A PersistentVolumeClaim.
pub fn persistent_volume_claim(claim: &mut Value) {
    if claim.get("spec").is_none_or(Value::is_null) {
        // The decoded object always has a spec (a struct in Go).
        let _ = obj(claim, "spec");
    }
    claim_spec(claim.get_mut("spec"));
}

/// The claim templates of a StatefulSet: each a whole claim (spec defaults
/// and `status.phase: Pending`).
pub fn stateful_set_claims(sts: &mut Value) {
    let Some(templates) = sts
        .pointer_mut("/spec/volumeClaimTemplates")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for t in templates {
        claim_spec(t.get_mut("spec"));
        if let Some(status) = obj(t, "status") {
            set(status, "phase", json!("Pending"));
        }
    }
}

/// The ephemeral volume claim templates of a pod spec.
pub fn pod_spec_claims(spec: &mut Value) {
    let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) else {
        return;
    };
    for v in volumes {
        claim_spec(v.pointer_mut("/ephemeral/volumeClaimTemplate/spec"));
    }
}

#[cfg(test)]
mod tests {
    use super::super::apply;
    use serde_json::json;

    #[test]
    fn storage_classes_delete_and_bind_immediately() {
        let mut c = json!({"provisioner": "x"});
        apply("storage.k8s.io", "StorageClass", &mut c);
        assert_eq!(c["reclaimPolicy"], "Delete");
        assert_eq!(c["volumeBindingMode"], "Immediate");
        let mut kept =
            json!({"reclaimPolicy": "Retain", "volumeBindingMode": "WaitForFirstConsumer"});
        apply("storage.k8s.io", "StorageClass", &mut kept);
        assert_eq!(kept["reclaimPolicy"], "Retain");
        assert_eq!(kept["volumeBindingMode"], "WaitForFirstConsumer");
    }

    #[test]
    fn csi_drivers_get_every_default() {
        let mut d = json!({"metadata": {"name": "d"}});
        apply("storage.k8s.io", "CSIDriver", &mut d);
        assert_eq!(
            d["spec"],
            json!({"attachRequired": true, "podInfoOnMount": false, "storageCapacity": false,
                "fsGroupPolicy": "ReadWriteOnceWithFSType", "volumeLifecycleModes": ["Persistent"],
                "requiresRepublish": false, "seLinuxMount": false})
        );
        let mut set =
            json!({"spec": {"attachRequired": false, "volumeLifecycleModes": ["Ephemeral"]}});
        apply("storage.k8s.io", "CSIDriver", &mut set);
        assert_eq!(set["spec"]["attachRequired"], false);
        assert_eq!(set["spec"]["volumeLifecycleModes"], json!(["Ephemeral"]));
    }

    #[test]
    fn volumes_and_claims_are_pending_filesystems() {
        let mut pv = json!({"spec": {"hostPath": {"path": "/d"}}});
        apply("", "PersistentVolume", &mut pv);
        assert_eq!(pv["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(pv["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pv["status"]["phase"], "Pending");
        let mut pvc = json!({"spec": {"accessModes": ["ReadWriteOnce"]}});
        apply("", "PersistentVolumeClaim", &mut pvc);
        assert_eq!(pvc["spec"]["volumeMode"], "Filesystem");
        assert_eq!(pvc["status"]["phase"], "Pending");
        let mut block = json!({"spec": {"volumeMode": "Block"}});
        apply("", "PersistentVolumeClaim", &mut block);
        assert_eq!(block["spec"]["volumeMode"], "Block");
    }

    #[test]
    fn claim_templates_are_defaulted_too() {
        let mut sts = json!({"spec": {"template": {"spec": {"containers": []}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]}});
        apply("apps", "StatefulSet", &mut sts);
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
            "Filesystem"
        );
        assert_eq!(
            sts["spec"]["volumeClaimTemplates"][0]["status"],
            json!({"phase": "Pending"})
        );
        let mut pod = json!({"spec": {"containers": [], "volumes": [
            {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]}});
        apply("", "Pod", &mut pod);
        assert_eq!(
            pod["spec"]["volumes"][0]["ephemeral"]["volumeClaimTemplate"]["spec"]["volumeMode"],
            "Filesystem"
        );
    }
}
