//! Metadata rules applied to an object on its way into the store, as
//! kube-apiserver's generic registry does: system fields are the server's
//! (uid, creationTimestamp, generation, resourceVersion), `generation`
//! moves only when the spec changes, and where a resource has a `status`
//! subresource the main resource cannot write status and vice versa.

use rand::Rng;
use rkube_apimachinery::{validation, ApiError, ResourceInfo};
use serde_json::{Map, Value};

/// Fields of `metadata` only the server sets.
const SYSTEM_FIELDS: [&str; 5] = [
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
];

/// Now, as Kubernetes writes timestamps (RFC 3339, seconds, UTC).
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// A random (version 4) UUID.
pub fn new_uid() -> String {
    let b: [u8; 16] = rand::thread_rng().gen();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    // Set the version (4) and variant (10xx) bits.
    let v = format!("4{}", &hex[13..16]);
    let var = ["8", "9", "a", "b"][usize::from(b[8] & 3)];
    format!(
        "{}-{}-{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        v,
        var,
        &hex[17..20],
        &hex[20..32]
    )
}

/// `metadata` of an object as a map (created if missing).
pub fn meta_mut(obj: &mut Value) -> Result<&mut Map<String, Value>, ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    if meta.is_null() {
        *meta = Value::Object(Map::new());
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Check the body's `apiVersion`/`kind` against the endpoint and fill them in.
pub fn check_type(info: &ResourceInfo, obj: &mut Value) -> Result<(), ApiError> {
    let map = obj
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("the body must be a JSON object"))?;
    let want_version = info.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        Some(v) if !v.is_empty() && v != want_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({want_version})"
            )))
        }
        _ => {}
    }
    match map.get("kind").and_then(Value::as_str) {
        Some(k) if !k.is_empty() && k != info.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                info.kind
            )))
        }
        _ => {}
    }
    map.insert("apiVersion".into(), Value::String(want_version));
    map.insert("kind".into(), Value::String(info.kind.clone()));
    Ok(())
}

/// Put the request's namespace on the object, refusing a different one.
pub fn set_namespace(
    info: &ResourceInfo,
    obj: &mut Value,
    ns: Option<&str>,
) -> Result<(), ApiError> {
    let meta = meta_mut(obj)?;
    if !info.namespaced {
        meta.remove("namespace");
        return Ok(());
    }
    let Some(ns) = ns else {
        return Err(ApiError::bad_request(
            "the namespace of the object must be given in the request path",
        ));
    };
    match meta.get("namespace").and_then(Value::as_str) {
        Some(given) if !given.is_empty() && given != ns => Err(ApiError::bad_request(
            "the namespace of the provided object does not match the namespace sent on the request",
        )),
        _ => {
            meta.insert("namespace".into(), Value::String(ns.to_string()));
            Ok(())
        }
    }
}

/// Whether the kind has a `status` subresource (then the main resource
/// cannot write status, and `status` nothing else).
pub fn has_status_subresource(info: &ResourceInfo) -> bool {
    info.subresource("status").is_some()
}

/// The generic metadata rules of a new object (kube-apiserver's
/// `BeforeCreate`): system fields are the server's, a generated name is
/// chosen, the metadata is validated, uid and creationTimestamp are set.
/// Returns its name.
pub fn prepare_create(info: &ResourceInfo, obj: &mut Value) -> Result<String, ApiError> {
    let meta = meta_mut(obj)?;
    for f in SYSTEM_FIELDS
        .iter()
        .chain(["resourceVersion", "selfLink"].iter())
    {
        meta.remove(*f);
    }
    validation::apply_generate_name(
        &mut *obj.get_mut("metadata").unwrap_or(&mut Value::Null),
        |n| rand::thread_rng().gen_range(0..n),
    );
    let metadata = obj.get("metadata").cloned().unwrap_or(Value::Null);
    let causes =
        validation::validate_create_meta(&info.group, &info.plural, info.namespaced, &metadata);
    let name = meta_str(obj, "name").to_string();
    if !causes.is_empty() {
        return Err(ApiError::invalid(&info.group, &info.kind, &name, causes));
    }
    let meta = meta_mut(obj)?;
    meta.insert("uid".into(), Value::String(new_uid()));
    meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
    Ok(name)
}

/// Sets `map[key]` to `value`, cloning only when it differs.
fn copy_into(map: &mut serde_json::Map<String, Value>, key: &str, value: &Value) {
    match map.get_mut(key) {
        Some(v) if v == value => {}
        Some(v) => *v = value.clone(),
        None => {
            map.insert(key.to_string(), value.clone());
        }
    }
}

/// The generic rules of an update of `old` to `new` through the main
/// resource (`status == false`) or the status subresource: the name
/// matches, system fields are the stored ones, and only the subresource's
/// part changes.
pub fn prepare_update(
    info: &ResourceInfo,
    old: &Value,
    new: &mut Value,
    status: bool,
) -> Result<(), ApiError> {
    let name = meta_str(old, "name").to_string();
    if meta_str(new, "name") != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            meta_str(new, "name")
        )));
    }
    // System fields come from the stored object.
    static NO_META: Value = Value::Null;
    let old_meta = old.get("metadata").unwrap_or(&NO_META);
    {
        let meta = meta_mut(new)?;
        for f in SYSTEM_FIELDS {
            match old_meta.get(f) {
                Some(v) => copy_into(meta, f, v),
                None => {
                    meta.remove(f);
                }
            };
        }
        meta.remove("selfLink");
    }
    let map = new
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("bad object"))?;
    if status {
        // Only status may change: everything else is the stored object's
        // (copied only where it differs: a status patch left the rest as
        // it was).
        // The write's managedFields (recorded before this step) stay.
        let stored = old
            .as_object()
            .ok_or_else(|| ApiError::bad_request("bad object"))?;
        let managed = map
            .get_mut("metadata")
            .and_then(Value::as_object_mut)
            .and_then(|m| m.remove("managedFields"));
        map.retain(|k, _| k == "status" || stored.contains_key(k));
        for (k, v) in stored {
            if k != "status" {
                copy_into(map, k, v);
            }
        }
        if let Some(managed) = managed {
            if let Some(m) = map.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("managedFields".into(), managed);
            }
        }
    } else if has_status_subresource(info) {
        match old.get("status") {
            Some(s) => map.insert("status".into(), s.clone()),
            None => map.remove("status"),
        };
    }
    Ok(())
}

/// Moves `metadata.generation` on by one (the kind's strategy decided the
/// spec changed).
pub fn bump_generation(old: &Value, new: &mut Value) -> Result<(), ApiError> {
    let generation = old
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        + 1;
    meta_mut(new)?.insert("generation".into(), Value::from(generation));
    Ok(())
}

/// The metadata validation of an update (kube-apiserver's
/// `ValidateObjectMetaUpdate` and the create rules but the name's).
pub fn validate_update_meta(info: &ResourceInfo, old: &Value, new: &Value) -> Result<(), ApiError> {
    static NO_META: Value = Value::Null;
    let old_meta = old.get("metadata").unwrap_or(&NO_META);
    let metadata = new.get("metadata").cloned().unwrap_or(Value::Null);
    let mut causes = validation::validate_object_meta_update(&metadata, old_meta);
    if causes.is_empty() {
        causes =
            validation::validate_create_meta(&info.group, &info.plural, info.namespaced, &metadata)
                .into_iter()
                .filter(|c| c.field != "metadata.name")
                .collect();
    }
    if !causes.is_empty() {
        let name = meta_str(old, "name");
        return Err(ApiError::invalid(&info.group, &info.kind, name, causes));
    }
    Ok(())
}

/// Set `metadata.resourceVersion`.
pub fn set_resource_version(obj: &mut Value, rv: i64) {
    if let Ok(meta) = meta_mut(obj) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

/// `metadata.finalizers` is non-empty.
pub fn has_finalizers(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("finalizers"))
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty())
}

/// `metadata.deletionTimestamp` is set.
pub fn is_deleting(obj: &Value) -> bool {
    obj.get("metadata")
        .and_then(|m| m.get("deletionTimestamp"))
        .is_some_and(|v| !v.is_null())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_look_like_version_4_uuids() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
    }

    #[test]
    fn timestamps_are_rfc3339_seconds() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.ends_with('Z'));
    }
}
