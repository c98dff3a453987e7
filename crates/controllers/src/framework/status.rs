//! [`merge_status`]: the one way the controllers write part of an object's
//! status — a JSON merge patch of `{"status": …}` through the `status`
//! subresource, as kube-controller-manager's controllers do.

use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use serde_json::{json, Value};

use crate::framework::error::ControllerError;

/// Merge `status` (the fields to set) into the status of `name`.
pub async fn merge_status<K>(api: &Api<K>, name: &str, status: Value) -> Result<(), ControllerError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({ "status": status })),
    )
    .await?;
    Ok(())
}
