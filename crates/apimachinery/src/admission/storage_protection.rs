//! StorageObjectInUseProtection (kube-apiserver's admission plugin of that
//! name): every new PersistentVolumeClaim gets the
//! `kubernetes.io/pvc-protection` finalizer and every new PersistentVolume
//! `kubernetes.io/pv-protection`, once. The pvc-protection and
//! pv-protection controllers remove them when nothing uses the object.

use serde_json::Value;

use crate::storage::{PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER};

fn add_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    let list = meta
        .entry("finalizers")
        .or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    if let Some(items) = list.as_array_mut() {
        if !items.iter().any(|f| f.as_str() == Some(finalizer)) {
            items.push(Value::from(finalizer));
        }
    }
}

/// A new claim: the pvc-protection finalizer.
pub fn protect_claim(claim: &mut Value) {
    add_finalizer(claim, PVC_PROTECTION_FINALIZER);
}

/// A new volume: the pv-protection finalizer.
pub fn protect_volume(volume: &mut Value) {
    add_finalizer(volume, PV_PROTECTION_FINALIZER);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn new_claims_and_volumes_are_protected_once() {
        let mut c = json!({"metadata": {"name": "c", "finalizers": ["example.com/keep"]}});
        protect_claim(&mut c);
        protect_claim(&mut c);
        assert_eq!(
            c["metadata"]["finalizers"],
            json!(["example.com/keep", "kubernetes.io/pvc-protection"])
        );
        let mut v = json!({"metadata": {"name": "v"}});
        protect_volume(&mut v);
        assert_eq!(
            v["metadata"]["finalizers"],
            json!(["kubernetes.io/pv-protection"])
        );
    }
}
