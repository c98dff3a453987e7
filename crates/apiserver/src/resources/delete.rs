//! delete and deletecollection: an object goes at once, or is marked
//! deleting (`deletionTimestamp`) while finalizers, its kind (a
//! namespace's `spec.finalizers`) or a grace period (a pod on its node)
//! hold it; the delete options' preconditions and propagation policy (the
//! garbage collector's finalizers) apply.

use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{Compare, CompareOp, Store, TxnRequest};
use serde_json::{json, Value};

use super::get::list;
use super::object;
use super::options::{DeleteOptions, ListOptions};
use super::store_access::{delete_ops, key, read, store_error, write_if_unchanged};
use super::strategy::{self, Strategy};

/// The garbage collector's finalizers.
pub const FINALIZER_ORPHAN: &str = "orphan";
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// `metadata.finalizers` after a delete with `opts`, as kube-apiserver's
/// `deletionFinalizersForGarbageCollection`: the explicit option wins,
/// then a finalizer already there, then the default (Background for
/// every kind served here). `None` when unchanged.
fn gc_finalizers(obj: &Value, opts: &DeleteOptions) -> Option<Vec<Value>> {
    let current: Vec<Value> = obj
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let has = |f: &str| current.iter().any(|v| v == f);
    let policy = opts.propagation_policy.as_deref();
    let orphan = match (opts.orphan_dependents, policy) {
        (Some(o), _) => o,
        (None, Some(p)) => p == "Orphan",
        (None, None) => has(FINALIZER_ORPHAN),
    };
    let foreground = match (opts.orphan_dependents, policy) {
        (Some(_), _) => false,
        (None, Some(p)) => p == "Foreground",
        (None, None) => has(FINALIZER_FOREGROUND) && !orphan,
    };
    let mut next: Vec<Value> = current
        .iter()
        .filter(|f| *f != FINALIZER_ORPHAN && *f != FINALIZER_FOREGROUND)
        .cloned()
        .collect();
    if orphan {
        next.push(Value::from(FINALIZER_ORPHAN));
    }
    if foreground {
        next.push(Value::from(FINALIZER_FOREGROUND));
    }
    let set = |v: &[Value]| {
        let mut s: Vec<String> = v.iter().map(|f| f.to_string()).collect();
        s.sort();
        s.dedup();
        s
    };
    (set(&next) != set(&current)).then_some(next)
}

/// Whether deletion must wait (finalizers, the kind's own hold, or a
/// grace period such as a pod's on its node), and for how long.
fn deletion_waits(strategy: &dyn Strategy, obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    let grace = strategy.grace_period(obj, opts.grace_period_seconds);
    (object::has_finalizers(obj) || strategy.deletion_held(obj) || grace > 0).then_some(grace)
}

/// Delete an object. Returns the object: gone, or marked for deletion.
/// Without a resourceVersion precondition, a write that raced another is
/// tried again on the new version (kube-apiserver's GuaranteedUpdate).
pub async fn delete(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let mut tries = 0;
    loop {
        match delete_once(store, info, ns, name, opts).await {
            Err(ApiError::Conflict { detail, .. })
                if opts.resource_version.is_none()
                    && detail == rkube_apimachinery::status::OPTIMISTIC_LOCK_ERROR_MSG
                    && tries < 8 =>
            {
                tries += 1;
            }
            other => return other,
        }
    }
}

async fn delete_once(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let (mut obj, mod_rev) = read(store, info, ns, name).await?;
    if let Some(uid) = &opts.uid {
        if uid != object::meta_str(&obj, "uid") {
            return Err(ApiError::conflict(
                &info.group,
                &info.plural,
                name,
                &format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    object::meta_str(&obj, "uid")
                ),
            ));
        }
    }
    if let Some(rv) = &opts.resource_version {
        if *rv != mod_rev.to_string() {
            return Err(ApiError::conflict(
                &info.group,
                &info.plural,
                name,
                &format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {mod_rev}"),
            ));
        }
    }
    let strategy = strategy::for_resource(info);
    strategy.check_delete(info, name)?;
    let finalizers = gc_finalizers(&obj, opts);
    if let Some(f) = &finalizers {
        object::meta_mut(&mut obj)?.insert("finalizers".into(), Value::Array(f.clone()));
    }
    if opts.dry_run {
        return Ok(obj);
    }
    if let Some(grace) = deletion_waits(strategy, &obj, opts) {
        let meta = object::meta_mut(&mut obj)?;
        let current_grace = meta
            .get("deletionGracePeriodSeconds")
            .and_then(Value::as_i64);
        if meta.get("deletionTimestamp").is_none_or(Value::is_null) {
            meta.insert(
                "deletionTimestamp".into(),
                Value::String(object::now_rfc3339()),
            );
            meta.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
            strategy.begin_delete(&mut obj);
            return write_if_unchanged(store, info, ns, name, mod_rev, obj).await;
        }
        // Already deleting: a shorter grace period or other garbage
        // collector finalizers are written (kube-apiserver's
        // updateForGracefulDeletionAndFinalizers).
        let shorter = current_grace.is_some_and(|g| grace < g);
        if shorter {
            meta.insert("deletionGracePeriodSeconds".into(), Value::from(grace));
        }
        if shorter || finalizers.is_some() {
            return write_if_unchanged(store, info, ns, name, mod_rev, obj).await;
        }
        return Ok(obj);
    }
    let k = key(info, ns, name);
    let resp = store
        .txn(TxnRequest {
            compares: vec![Compare::mod_revision(k.clone(), CompareOp::Equal, mod_rev)],
            success: delete_ops(strategy, k, &obj),
            failure: vec![],
        })
        .await
        .map_err(store_error)?;
    if !resp.succeeded {
        return Err(ApiError::conflict_modified(&info.group, &info.plural, name));
    }
    Ok(obj)
}

/// Delete every object of a list selection; returns the list of what was deleted.
pub async fn delete_collection(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    list_opts: &ListOptions,
    opts: &DeleteOptions,
) -> Result<Value, ApiError> {
    let listed = list(store, info, ns, list_opts).await?;
    let mut deleted = Vec::new();
    for item in listed
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = object::meta_str(item, "name");
        let item_ns = match object::meta_str(item, "namespace") {
            "" => None,
            n => Some(n),
        };
        match delete(store, info, item_ns, name, opts).await {
            Ok(obj) => deleted.push(obj),
            Err(ApiError::NotFound { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(json!({
        "kind": info.list_kind,
        "apiVersion": info.api_version(),
        "metadata": listed.get("metadata").cloned().unwrap_or(json!({})),
        "items": deleted,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn delete_options_set_the_garbage_collector_finalizers() {
        let with = |f: Value| json!({"metadata": {"name": "a", "finalizers": f}});
        let opts = |body: Value| DeleteOptions::from_body(&body);
        // Background (or nothing) on an object without finalizers: none.
        assert_eq!(gc_finalizers(&with(json!(null)), &opts(json!({}))), None);
        assert_eq!(
            gc_finalizers(
                &with(json!(["x"])),
                &opts(json!({"propagationPolicy": "Foreground"}))
            ),
            Some(vec![json!("x"), json!("foregroundDeletion")])
        );
        // The legacy orphanDependents, and an explicit policy replacing
        // the finalizer of an earlier delete.
        assert_eq!(
            gc_finalizers(&with(json!(null)), &opts(json!({"orphanDependents": true}))),
            Some(vec![json!("orphan")])
        );
        assert_eq!(
            gc_finalizers(
                &with(json!(["orphan"])),
                &opts(json!({"propagationPolicy": "Background"}))
            ),
            Some(vec![])
        );
        // No option: the finalizer already there stays.
        assert_eq!(
            gc_finalizers(&with(json!(["orphan"])), &opts(json!({}))),
            None
        );
        let bad = opts(json!({"propagationPolicy": "Sideways"}));
        assert_eq!(bad.check().map_err(|e| e.code()), Err(422));
        let both = opts(json!({"propagationPolicy": "Orphan", "orphanDependents": true}));
        assert_eq!(both.check().map_err(|e| e.code()), Err(422));
    }
}
