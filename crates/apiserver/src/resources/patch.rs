//! patch and apply: a PATCH (JSON, merge or strategic merge patch)
//! applied to the stored version, or server-side apply (PATCH
//! `application/apply-patch+yaml`) merged into it with field ownership;
//! either way written through the pipeline, read again and retried when
//! another write came first (unless the patch names a resourceVersion).

use rkube_apimachinery::managed;
use rkube_apimachinery::typed;
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::Store;
use serde_json::Value;

use super::field_manager;
use super::object;
use super::options::{PatchType, WriteOptions, Written};
use super::pipeline::{self, Managed};
use super::store_access::read;
use super::strategy;

/// kube-apiserver refuses JSON patches with more operations than this.
const MAX_JSON_PATCH_OPS: usize = 10_000;

/// An RFC 6902 patch as kube-apiserver applies it: a malformed patch is a
/// 400, one that does not apply (a failed `test`, a missing path) a 422.
/// Like kube-apiserver's json-patch library, a `test` for `null` passes when
/// the member is absent (kube-runtime's finalizer helper relies on it).
fn json_patch_apply(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let p: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("the JSON patch is not valid: {e}")))?;
    if p.0.len() > MAX_JSON_PATCH_OPS {
        return Err(ApiError::request_entity_too_large(format!(
            "The allowed maximum operations in a JSON patch is {MAX_JSON_PATCH_OPS}, got {}",
            p.0.len()
        )));
    }
    for op in p.0 {
        if let json_patch::PatchOperation::Test(t) = &op {
            let path = t.path.to_string();
            let parent = path.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            if t.value.is_null() && doc.pointer(&path).is_none() && doc.pointer(parent).is_some() {
                continue;
            }
        }
        json_patch::patch(doc, &[op]).map_err(|e| ApiError::unprocessable(e.to_string()))?;
    }
    Ok(())
}

/// Apply `patch` of type `kind` to `doc`.
pub fn apply_patch(kind: PatchType, doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    match kind {
        PatchType::Json => json_patch_apply(doc, patch),
        PatchType::Strategic => rkube_apimachinery::strategic::apply(doc, patch)
            .map_err(|e| ApiError::bad_request(e.to_string())),
        PatchType::Apply => Err(ApiError::bad_request(
            "an apply patch is applied with its field manager, not merged",
        )),
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("a merge patch must be a JSON object"));
            }
            json_patch::merge(doc, patch);
            Ok(())
        }
    }
}

/// Patch an object: apply the patch to the stored version and write it back
/// if nothing changed meanwhile (retrying, as kube-apiserver does, unless the
/// patch itself names a resourceVersion).
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    kind: PatchType,
    patch: &Value,
    status: bool,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    if kind == PatchType::Apply {
        return apply(store, info, ns, name, patch, status, opts).await;
    }
    if kind == PatchType::Strategic && !strategy::for_resource(info).strategic_merge() {
        // Custom resources have no patch strategies to merge by.
        return Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ]));
    }
    for _ in 0..8 {
        let (old, mod_rev) = read(store, info, ns, name).await?;
        let mut new = old.clone();
        apply_patch(kind, &mut new, patch)?;
        let decoded = pipeline::decode(info, new, Some(&old), opts.field_validation)?;
        let mut warnings = typed::warnings(&decoded);
        let new = decoded.object;
        let wanted_rv = object::meta_str(&new, "resourceVersion");
        let pinned = !wanted_rv.is_empty() && wanted_rv != mod_rev.to_string();
        let written = pipeline::update(
            store,
            info,
            ns,
            name,
            (&old, mod_rev),
            new,
            status,
            opts,
            Managed::Update,
        )
        .await;
        match written {
            Err(ApiError::Conflict { .. }) if !pinned => continue,
            Err(e) => return Err(e),
            Ok(mut w) => {
                warnings.append(&mut w.warnings);
                w.warnings = warnings;
                return Ok(w);
            }
        }
    }
    Err(ApiError::conflict_modified(&info.group, &info.plural, name))
}

/// Server-side apply of `config` (PATCH `application/apply-patch+yaml`):
/// merged into the live object with field ownership, or creating it. A
/// config without a name applies to the object on the URL when it exists;
/// one that would create it must carry the URL's name.
async fn apply(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    config: &Value,
    status: bool,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if version != info.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {}",
            info.api_version()
        )));
    }
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}, Kind={kind}",
            info.api_version()
        )));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let decoded = pipeline::decode(info, config.clone(), None, opts.field_validation)?;
    let warnings = typed::warnings(&decoded);
    let mut config = decoded.object;
    object::set_namespace(info, &mut config, ns)?;
    let given_name = object::meta_str(&config, "name").to_string();
    let name_mismatch = || {
        ApiError::bad_request(format!(
            "the name of the object ({given_name}) does not match the name on the URL ({name})"
        ))
    };
    if !given_name.is_empty() && given_name != name {
        return Err(name_mismatch());
    }
    let now = object::now_rfc3339();
    let api_version = info.api_version();
    let w = managed::Writer {
        manager: &opts.field_manager,
        api_version: &api_version,
        subresource: if status { "status" } else { "" },
        has_status: object::has_status_subresource(info),
        now: &now,
    };
    let shape = field_manager::shape(info);
    for _ in 0..8 {
        let (old, mod_rev) = match read(store, info, ns, name).await {
            Ok(found) => found,
            Err(ApiError::NotFound { .. }) if !status => {
                if given_name.is_empty() {
                    return Err(name_mismatch());
                }
                let (obj, entries) =
                    managed::apply(None, &config, &shape, &w, Vec::new(), opts.force)?;
                let created =
                    pipeline::create(store, info, ns, obj, opts, Managed::Applied(entries)).await;
                match created {
                    Err(ApiError::AlreadyExists { .. }) => continue,
                    other => {
                        return other.map(|mut o| {
                            o.warnings.splice(0..0, warnings);
                            o
                        })
                    }
                }
            }
            Err(e) => return Err(e),
        };
        // Applied to the object on the URL: it keeps its name.
        let mut config = config.clone();
        object::meta_mut(&mut config)?.insert("name".into(), Value::from(name));
        let entries = managed::read(&old);
        let (new, entries) = managed::apply(Some(&old), &config, &shape, &w, entries, opts.force)?;
        let written = pipeline::update(
            store,
            info,
            ns,
            name,
            (&old, mod_rev),
            new,
            status,
            opts,
            Managed::Applied(entries),
        )
        .await;
        match written {
            Err(ApiError::Conflict { .. }) => continue,
            Err(e) => return Err(e),
            Ok(mut o) => {
                o.warnings.splice(0..0, warnings);
                return Ok(o);
            }
        }
    }
    Err(ApiError::conflict_modified(&info.group, &info.plural, name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patches_apply_as_kube_apiserver_applies_them() {
        let mut doc = json!({"metadata": {"name": "a", "resourceVersion": "5"}});
        // `test` for null passes on an absent member (kube-runtime's finalizer add).
        let add = json!([
            {"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}
        ]);
        apply_patch(PatchType::Json, &mut doc, &add).expect("applies");
        assert_eq!(doc["metadata"]["finalizers"], json!(["x"]));
        // A failed test is a 422 and leaves nothing half-done to the caller.
        let stale = json!([{"op": "test", "path": "/metadata/resourceVersion", "value": "4"}]);
        let e = apply_patch(PatchType::Json, &mut doc, &stale).expect_err("test fails");
        assert_eq!((e.code(), e.reason()), (422, "Invalid"));
        // Not a patch: 400. Too many operations: 413.
        let e = apply_patch(PatchType::Json, &mut doc, &json!({"op": "add"})).expect_err("bad");
        assert_eq!(e.code(), 400);
        let many = Value::Array(vec![
            json!({"op": "test", "path": "/metadata/name", "value": "a"});
            10_001
        ]);
        let e = apply_patch(PatchType::Json, &mut doc, &many).expect_err("too many");
        assert_eq!(e.code(), 413);
    }
}
