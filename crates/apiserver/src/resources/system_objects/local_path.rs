//! rkube's default storage: the StorageClass `local-path` (marked the
//! cluster's default, WaitForFirstConsumer, Delete, expandable) and the
//! CSIDriver `local-path.rkube.io` that describes its volumes (no attach,
//! capacity-aware, persistent and ephemeral volumes; a CSIDriver's name is
//! a DNS subdomain, so not the provisioner's `rkube.io/local-path`), as k3s ships
//! its `local-path` class. Both are created at every start when missing —
//! so a deleted class comes back on the next start, as k3s's addon does —
//! and never overwritten: a user's changes (say, another default class
//! and this one unmarked) stay.

use rkube_apimachinery::storage::{
    IS_DEFAULT_CLASS, LOCAL_PATH_CLASS, LOCAL_PATH_CSI_DRIVER, LOCAL_PATH_PROVISIONER,
};
use rkube_apimachinery::ApiError;
use serde_json::{json, Value};

use super::super::state::ApiState;
use super::ensure::{ensure, info, Ensured, SystemObjectsConfig};

/// The StorageClass as rkube creates it.
pub fn storage_class() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": LOCAL_PATH_CLASS,
            "annotations": {IS_DEFAULT_CLASS: "true"},
        },
        "provisioner": LOCAL_PATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": true,
    })
}

/// The CSIDriver as rkube creates it.
pub fn csi_driver() -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIDriver",
        "metadata": {"name": LOCAL_PATH_CSI_DRIVER},
        "spec": {
            "attachRequired": false,
            "podInfoOnMount": false,
            "storageCapacity": true,
            "volumeLifecycleModes": ["Persistent", "Ephemeral"],
        },
    })
}

/// One pass: each object created if it is missing.
async fn reconcile(state: &ApiState) -> Result<(), ApiError> {
    for (plural, obj) in [
        ("storageclasses", storage_class()),
        ("csidrivers", csi_driver()),
    ] {
        let ensured = ensure(
            state,
            &info(state, "storage.k8s.io", plural)?,
            None,
            &obj,
            &[],
            false,
        )
        .await?;
        if ensured == Ensured::Created {
            tracing::info!(resource = plural, name = %obj["metadata"]["name"], "created the local-path storage object");
        }
    }
    Ok(())
}

/// Reconcile once at start (again every interval until that succeeded).
pub(super) async fn run(state: &ApiState, config: &SystemObjectsConfig) {
    while let Err(e) = reconcile(state).await {
        tracing::warn!(error = %e, "cannot create the local-path storage class");
        tokio::time::sleep(config.interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_apimachinery::{defaults, validate};

    fn class_meta() -> Value {
        storage_class()
    }

    #[test]
    fn the_objects_are_valid_and_the_class_is_the_default() {
        let mut class = storage_class();
        defaults::apply("storage.k8s.io", "StorageClass", &mut class);
        assert!(validate::create("storage.k8s.io", "StorageClass", &class).is_empty());
        let typed: k8s_openapi::api::storage::v1::StorageClass =
            serde_json::from_value(class).expect("a StorageClass");
        assert!(rkube_apimachinery::storage::is_default_class(&typed));
        let mut driver = csi_driver();
        defaults::apply("storage.k8s.io", "CSIDriver", &mut driver);
        assert!(validate::create("storage.k8s.io", "CSIDriver", &driver).is_empty());
        for (plural, obj) in [("storageclasses", &class_meta()), ("csidrivers", &driver)] {
            let meta = &obj["metadata"];
            assert!(
                rkube_apimachinery::validation::validate_create_meta(
                    "storage.k8s.io",
                    plural,
                    false,
                    meta
                )
                .is_empty(),
                "{plural}: {meta}"
            );
        }
        assert_eq!(driver["spec"]["fsGroupPolicy"], "ReadWriteOnceWithFSType");
    }
}
