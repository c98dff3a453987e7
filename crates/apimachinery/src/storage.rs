//! Storage names and rules shared by the API server (admission), the
//! PersistentVolume controller, the local-path provisioner, the scheduler's
//! volume binding and the node: the annotations, finalizers and class rules
//! of Kubernetes' `storage/util` and `volume/util` packages, written once.
//!
//! rkube's own names (the `local-path` provisioner and what the node
//! publishes for it) are here too, so the controller that creates a volume
//! and the node that holds its directory agree on them.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;

use crate::quantity::parse_milli;

/// On a StorageClass: `"true"` makes it the cluster's default.
pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
/// The beta form of [`IS_DEFAULT_CLASS`], still honoured by Kubernetes.
pub const BETA_IS_DEFAULT_CLASS: &str = "storageclass.beta.kubernetes.io/is-default-class";
/// The deprecated class annotation on claims and volumes; it wins over
/// `spec.storageClassName` when set.
pub const BETA_STORAGE_CLASS: &str = "volume.beta.kubernetes.io/storage-class";

/// On a claim: the node the scheduler chose for a WaitForFirstConsumer
/// claim; the provisioner makes the volume there.
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
/// On a claim: the provisioner asked to provision it.
pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
/// The beta form of [`STORAGE_PROVISIONER`], set beside it.
pub const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
/// On a claim and a volume: the PV controller finished binding them.
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
/// On a claim or a volume: the PV controller (not the user) set
/// `volumeName` / `claimRef`.
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
/// On a volume: the provisioner that made it.
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

/// Keeps a claim while a pod uses it.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// Keeps a volume while a claim is bound to it.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

/// rkube's node-local provisioner (as k3s's `rancher.io/local-path`).
pub const LOCAL_PATH_PROVISIONER: &str = "rkube.io/local-path";
/// The CSIDriver object rkube creates to describe its local-path volumes
/// (no attach, persistent and ephemeral). A CSIDriver's name is a DNS
/// subdomain, so it cannot be [`LOCAL_PATH_PROVISIONER`] itself (which has
/// a `/`, like k3s's `rancher.io/local-path`); being another name, its
/// `storageCapacity: true` never makes the scheduler wait for
/// CSIStorageCapacity objects for `local-path` claims.
pub const LOCAL_PATH_CSI_DRIVER: &str = "local-path.rkube.io";
/// The default StorageClass rkube creates, backed by [`LOCAL_PATH_PROVISIONER`].
pub const LOCAL_PATH_CLASS: &str = "local-path";
/// On a real node: the absolute directory under which its local-path
/// volumes live (`<root>/<pv-name>`). Simulated nodes do not set it and
/// get volumes without a directory.
pub const LOCAL_PATH_ROOT: &str = "storage.rkube.io/local-path-root";
/// On a local-path volume of a real node: the node removes the directory
/// and then this finalizer, so the volume object outlives its data by
/// nothing.
pub const LOCAL_PATH_CLEANUP_FINALIZER: &str = "storage.rkube.io/local-path-cleanup";

/// `storage` in a resource list, in bytes (`None`: absent or not a
/// quantity).
pub fn storage_bytes(
    resources: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>,
) -> Option<i128> {
    let q = resources?.get("storage")?;
    parse_milli(&q.0).map(|m| m / 1000)
}

/// The class a claim asks for: the beta annotation, else
/// `spec.storageClassName`, else `""` (Kubernetes'
/// `GetPersistentVolumeClaimClass`). `None` when neither is set (the
/// DefaultStorageClass admission and the PV controller may fill it).
pub fn claim_class(claim: &PersistentVolumeClaim) -> Option<&str> {
    if let Some(c) = annotation(&claim.metadata.annotations, BETA_STORAGE_CLASS) {
        return Some(c);
    }
    claim
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
}

/// The class of a volume: the beta annotation, else
/// `spec.storageClassName`, else `""`.
pub fn volume_class(volume: &PersistentVolume) -> &str {
    if let Some(c) = annotation(&volume.metadata.annotations, BETA_STORAGE_CLASS) {
        return c;
    }
    volume
        .spec
        .as_ref()
        .and_then(|s| s.storage_class_name.as_deref())
        .unwrap_or("")
}

/// Whether `class` is marked default (either annotation, value `"true"`).
pub fn is_default_class(class: &StorageClass) -> bool {
    [IS_DEFAULT_CLASS, BETA_IS_DEFAULT_CLASS]
        .iter()
        .any(|k| annotation(&class.metadata.annotations, k) == Some("true"))
}

/// The default class among `classes`, as kube-apiserver's
/// DefaultStorageClass admission picks it when several are marked: the
/// newest, and of equally new ones the first by name.
pub fn default_class<'a>(
    classes: impl IntoIterator<Item = &'a StorageClass>,
) -> Option<&'a StorageClass> {
    let mut defaults: Vec<&StorageClass> = classes
        .into_iter()
        .filter(|c| is_default_class(c))
        .collect();
    defaults.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_ref().map(|t| t.0);
        let tb = b.metadata.creation_timestamp.as_ref().map(|t| t.0);
        tb.cmp(&ta)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    defaults.first().copied()
}

/// `volumeBindingMode: WaitForFirstConsumer` on `class`.
pub fn waits_for_first_consumer(class: &StorageClass) -> bool {
    class.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer")
}

fn annotation<'a>(annotations: &'a Option<BTreeMap<String, String>>, key: &str) -> Option<&'a str> {
    annotations.as_ref()?.get(key).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(v: serde_json::Value) -> StorageClass {
        serde_json::from_value(v).expect("test class")
    }

    #[test]
    fn the_beta_annotation_wins_over_the_field() {
        let c: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "c", "annotations": {BETA_STORAGE_CLASS: "old"}},
            "spec": {"storageClassName": "new"}
        }))
        .expect("test");
        assert_eq!(claim_class(&c), Some("old"));
        let unset: PersistentVolumeClaim =
            serde_json::from_value(json!({"metadata": {"name": "c"}, "spec": {}})).expect("test");
        assert_eq!(claim_class(&unset), None);
        let pv: PersistentVolume =
            serde_json::from_value(json!({"metadata": {"name": "v"}, "spec": {}})).expect("test");
        assert_eq!(volume_class(&pv), "");
    }

    #[test]
    fn the_newest_default_class_wins() {
        let a = class(
            json!({"metadata": {"name": "a", "creationTimestamp": "2026-01-01T00:00:00Z",
            "annotations": {IS_DEFAULT_CLASS: "true"}}, "provisioner": "x"}),
        );
        let b = class(
            json!({"metadata": {"name": "b", "creationTimestamp": "2026-02-01T00:00:00Z",
            "annotations": {BETA_IS_DEFAULT_CLASS: "true"}}, "provisioner": "x"}),
        );
        let c = class(
            json!({"metadata": {"name": "c", "creationTimestamp": "2026-03-01T00:00:00Z",
            "annotations": {IS_DEFAULT_CLASS: "false"}}, "provisioner": "x"}),
        );
        let all = [a, b, c];
        assert_eq!(
            default_class(all.iter()).and_then(|c| c.metadata.name.as_deref()),
            Some("b")
        );
        assert!(default_class(all[2..].iter()).is_none());
    }

    #[test]
    fn storage_is_read_in_bytes() {
        let mut r = BTreeMap::new();
        r.insert(
            "storage".to_string(),
            k8s_openapi::apimachinery::pkg::api::resource::Quantity("1Gi".into()),
        );
        assert_eq!(storage_bytes(Some(&r)), Some(1 << 30));
        assert_eq!(storage_bytes(None), None);
    }
}
