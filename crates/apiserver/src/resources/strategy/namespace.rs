//! Namespaces: a new one is `Active`, carries the `kubernetes` finalizer
//! and its `kubernetes.io/metadata.name` label; an update through the main
//! resource keeps `spec.finalizers` (only `finalize` changes them); a
//! deleting namespace turns `Terminating` and stays while
//! `spec.finalizers` hold it; `default`, `kube-system` and `kube-public`
//! may not be deleted (kube-apiserver's NamespaceLifecycle).

use rkube_apimachinery::{ApiError, ResourceInfo};
use serde_json::{json, Value};

use super::hooks::Strategy;

/// The strategy of `namespaces`.
pub struct NamespaceStrategy;

/// Namespaces kube-apiserver refuses to delete.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

impl Strategy for NamespaceStrategy {
    fn prepare_for_create(&self, _info: &ResourceInfo, obj: &mut Value) {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(map) = obj.as_object_mut() else {
            return;
        };
        map.insert("status".into(), json!({"phase": "Active"}));
        let spec = map.entry("spec").or_insert_with(|| json!({}));
        if let Some(spec) = spec.as_object_mut() {
            spec.entry("finalizers")
                .or_insert_with(|| json!(["kubernetes"]));
        }
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            let labels = meta.entry("labels").or_insert_with(|| json!({}));
            if let Some(labels) = labels.as_object_mut() {
                labels.insert("kubernetes.io/metadata.name".into(), Value::String(name));
            }
        }
    }

    fn prepare_for_update(&self, _info: &ResourceInfo, old: &Value, new: &mut Value, status: bool) {
        if status {
            return;
        }
        // As kube-apiserver: a namespace's spec.finalizers change only
        // through its `finalize` subresource.
        if let (Some(spec), Some(map)) = (old.get("spec").cloned(), new.as_object_mut()) {
            map.insert("spec".into(), spec);
        }
    }

    fn check_delete(&self, info: &ResourceInfo, name: &str) -> Result<(), ApiError> {
        if IMMORTAL_NAMESPACES.contains(&name) {
            return Err(ApiError::forbidden(
                &info.group,
                &info.plural,
                name,
                "this namespace may not be deleted",
            ));
        }
        Ok(())
    }

    fn deletion_held(&self, obj: &Value) -> bool {
        obj.pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
    }

    fn begin_delete(&self, obj: &mut Value) {
        obj["status"]["phase"] = Value::String("Terminating".into());
    }
}
