//! DefaultStorageClass (kube-apiserver's `DefaultStorageClass` admission
//! plugin): a new claim that names no class — neither
//! `spec.storageClassName` nor the beta annotation — gets the cluster's
//! default class ([`crate::storage::default_class`]: the newest marked
//! one). An explicit `""` asks for no class and is kept; with no default
//! class the claim is left without one (the PV controller may assign one
//! later).

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::Value;

use crate::storage::{default_class, BETA_STORAGE_CLASS};

/// Whether `claim` already names a class (even `""`).
pub fn has_class(claim: &Value) -> bool {
    let annotated = claim
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .is_some();
    let named = claim
        .pointer("/spec/storageClassName")
        .is_some_and(|c| !c.is_null());
    annotated || named
}

/// Fills the default class into a new claim that names none; `classes`
/// are the cluster's StorageClasses. Returns the class it chose.
pub fn admit(claim: &mut Value, classes: &[StorageClass]) -> Option<String> {
    if has_class(claim) {
        return None;
    }
    let name = default_class(classes.iter())?.metadata.name.clone()?;
    let spec = claim
        .as_object_mut()?
        .entry("spec")
        .or_insert_with(|| Value::Object(Default::default()));
    spec.as_object_mut()?
        .insert("storageClassName".into(), Value::from(name.clone()));
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class(name: &str, created: &str, default: bool) -> StorageClass {
        serde_json::from_value(
            json!({"metadata": {"name": name, "creationTimestamp": created,
            "annotations": {"storageclass.kubernetes.io/is-default-class": default.to_string()}},
            "provisioner": "x"}),
        )
        .expect("class")
    }

    #[test]
    fn a_claim_without_a_class_gets_the_default() {
        let classes = [
            class("local-path", "2026-01-01T00:00:00Z", true),
            class("fast", "2026-02-01T00:00:00Z", false),
        ];
        let mut c = json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"]}});
        assert_eq!(admit(&mut c, &classes).as_deref(), Some("local-path"));
        assert_eq!(c["spec"]["storageClassName"], "local-path");
        // The newest default wins.
        let two = [
            class("local-path", "2026-01-01T00:00:00Z", true),
            class("newer", "2026-03-01T00:00:00Z", true),
        ];
        let mut c = json!({"spec": {}});
        admit(&mut c, &two);
        assert_eq!(c["spec"]["storageClassName"], "newer");
    }

    #[test]
    fn a_named_or_empty_class_is_kept_and_no_default_means_none() {
        let classes = [class("local-path", "2026-01-01T00:00:00Z", true)];
        let mut empty = json!({"spec": {"storageClassName": ""}});
        assert_eq!(admit(&mut empty, &classes), None);
        assert_eq!(empty["spec"]["storageClassName"], "");
        let mut named = json!({"spec": {"storageClassName": "fast"}});
        admit(&mut named, &classes);
        assert_eq!(named["spec"]["storageClassName"], "fast");
        let mut beta = json!({"metadata": {"annotations":
            {"volume.beta.kubernetes.io/storage-class": "old"}}, "spec": {}});
        admit(&mut beta, &classes);
        assert!(beta["spec"].get("storageClassName").is_none());
        let mut none = json!({"spec": {}});
        assert_eq!(
            admit(&mut none, &[class("fast", "2026-01-01T00:00:00Z", false)]),
            None
        );
        assert!(none["spec"].get("storageClassName").is_none());
    }
}
