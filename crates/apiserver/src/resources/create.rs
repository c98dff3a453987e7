//! create: `POST` of a new object, through the write pipeline; and the
//! namespaces every cluster starts with.

use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::Store;
use serde_json::{json, Value};

use super::options::{WriteOptions, Written};
use super::pipeline::{self, Managed};

/// Create an object; returns it as stored.
pub async fn create(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    obj: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    pipeline::create(store, info, ns, obj, opts, Managed::Update).await
}

/// Create the namespaces every cluster starts with, if missing.
pub async fn ensure_namespaces(
    store: &dyn Store,
    registry: &rkube_apimachinery::Registry,
) -> Result<(), ApiError> {
    let Some(info) = registry.get("", "v1", "namespaces") else {
        return Ok(());
    };
    for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let obj = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        match create(
            store,
            info,
            None,
            obj,
            &WriteOptions::internal("kube-apiserver"),
        )
        .await
        {
            Ok(_) | Err(ApiError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
