//! `PUT namespaces/{name}/finalize`, the subresource only namespaces
//! have: what the namespace controller calls once a deleting namespace
//! is empty.

use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::Store;
use serde_json::Value;

use super::object;
use super::store_access::{read, write_if_unchanged};

/// `PUT namespaces/{name}/finalize`: replaces `spec.finalizers` only
/// (what the namespace controller calls once the namespace is empty); a
/// deleting namespace left with no finalizer of either kind goes.
pub async fn finalize_namespace(
    store: &dyn Store,
    info: &ResourceInfo,
    name: &str,
    body: &Value,
    dry_run: bool,
) -> Result<Value, ApiError> {
    let (mut obj, mod_rev) = read(store, info, None, name).await?;
    let given_rv = object::meta_str(body, "resourceVersion");
    if !given_rv.is_empty() && given_rv != mod_rev.to_string() {
        return Err(ApiError::conflict_modified(&info.group, &info.plural, name));
    }
    let given_name = object::meta_str(body, "name");
    if !given_name.is_empty() && given_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({given_name}) does not match the name on the URL ({name})"
        )));
    }
    let finalizers = body
        .pointer("/spec/finalizers")
        .cloned()
        .unwrap_or(Value::Array(Vec::new()));
    let Some(list) = finalizers.as_array() else {
        return Err(ApiError::bad_request("spec.finalizers must be a list"));
    };
    let causes: Vec<rkube_apimachinery::Cause> = list
        .iter()
        .enumerate()
        .flat_map(|(i, f)| {
            rkube_apimachinery::validation::validate_finalizers(
                Some(&Value::Array(vec![f.clone()])),
                &format!("spec.finalizers[{i}]"),
            )
        })
        .collect();
    if !causes.is_empty() {
        return Err(ApiError::invalid(&info.group, &info.kind, name, causes));
    }
    obj["spec"]["finalizers"] = finalizers;
    if dry_run {
        object::set_resource_version(&mut obj, mod_rev);
        return Ok(obj);
    }
    write_if_unchanged(store, info, None, name, mod_rev, obj).await
}
