//! The bottom layer of the resource API: where objects live in the
//! [`Store`] (keys), reading and decoding them, writing one over the
//! version that was read (or deleting it, with what it holds), and what a
//! store failure looks like to a client. Objects are stored as JSON
//! without their `resourceVersion`; on the way out it is set from the
//! key's `mod_revision`, as kube-apiserver does on etcd.
//!
//! Nothing here knows a verb; every verb module builds on it.

use bytes::Bytes;
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{
    Compare, CompareOp, KeyRange, KeyValue, Revision, Store, StoreError, TxnOp, TxnRequest,
};
use serde_json::Value;

use super::object;
use super::raw;
use super::strategy::{self, Strategy};
use super::versions;

/// Map a store failure to what a client sees.
pub fn store_error(e: StoreError) -> ApiError {
    match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => ApiError::too_old_resource_version(requested.max(0) as u64, compacted.max(0) as u64),
        StoreError::FutureRevision { requested, current } => {
            ApiError::too_large_resource_version(requested.max(0) as u64, current.max(0) as u64, 1)
        }
        other => ApiError::internal(other.to_string()),
    }
}

/// The key of one object.
pub fn key(info: &ResourceInfo, ns: Option<&str>, name: &str) -> Bytes {
    match (info.namespaced, ns) {
        (true, Some(ns)) => Bytes::from(format!("{}/{}/{}", info.storage_prefix(), ns, name)),
        _ => Bytes::from(format!("{}/{}", info.storage_prefix(), name)),
    }
}

/// The key prefix of a list (one namespace, or all).
pub fn list_prefix(info: &ResourceInfo, ns: Option<&str>) -> String {
    match (info.namespaced, ns) {
        (true, Some(ns)) => format!("{}/{}/", info.storage_prefix(), ns),
        _ => format!("{}/", info.storage_prefix()),
    }
}

/// Decode a stored object and stamp its resourceVersion.
pub fn decode(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
    object::set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// What selectors read of a stored object (`selector::selectable`), with
/// its resourceVersion.
pub fn decode_selectable(kv: &KeyValue) -> Result<Value, ApiError> {
    let mut obj = rkube_apimachinery::selector::selectable(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
    object::set_resource_version(&mut obj, kv.mod_revision);
    Ok(obj)
}

/// The stored bytes of an object.
pub fn encode(obj: &Value) -> Result<Bytes, ApiError> {
    raw::encode(obj)
}

/// The current stored object and its revision.
pub async fn read(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<(Value, Revision), ApiError> {
    let kv = store
        .get(key(info, ns, name))
        .await
        .map_err(store_error)?
        .ok_or_else(|| ApiError::not_found(&info.group, &info.plural, name))?;
    let mut obj = decode(&kv)?;
    // One stored object, served in every version of its kind.
    versions::served(info, &mut obj);
    Ok((obj, kv.mod_revision))
}

/// How long a read at a resourceVersion the store has not reached yet waits
/// for it (kube-apiserver waits up to 3 s, then answers 504).
const TOO_LARGE_RV_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Wait until the store has reached `rv`, or fail with kube-apiserver's 504
/// `Too large resource version` (which clients treat like "expired").
pub async fn wait_for_revision(store: &dyn Store, rv: i64) -> Result<(), ApiError> {
    let deadline = tokio::time::Instant::now() + TOO_LARGE_RV_WAIT;
    loop {
        let current = store.current_revision().await.map_err(store_error)?;
        if current >= rv {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApiError::too_large_resource_version(
                rv.max(0) as u64,
                current.max(0) as u64,
                1,
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Delete ops for the object and what it holds (a Service's IP and ports).
pub fn delete_ops(strategy: &dyn Strategy, k: Bytes, obj: &Value) -> Vec<TxnOp> {
    let mut ops = vec![TxnOp::delete(KeyRange::key(k))];
    ops.extend(
        strategy
            .held_keys(obj)
            .into_iter()
            .map(|a| TxnOp::delete(KeyRange::key(a))),
    );
    ops
}

/// Whether a deleting object goes once written: neither a finalizer nor
/// its kind holds it, and its grace period is over (a running pod waits
/// for its node).
pub fn deletion_done(strategy: &dyn Strategy, obj: &Value) -> bool {
    object::is_deleting(obj)
        && !object::has_finalizers(obj)
        && !strategy.deletion_held(obj)
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            <= 0
}

/// Write `obj` over the stored version at `mod_rev` (or delete it when it
/// is being deleted and its last finalizer went). `Conflict` if it moved.
pub async fn write_if_unchanged(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    mod_rev: Revision,
    mut obj: Value,
) -> Result<Value, ApiError> {
    let strategy = strategy::for_resource(info);
    let k = key(info, ns, name);
    let ops = if deletion_done(strategy, &obj) {
        delete_ops(strategy, k.clone(), &obj)
    } else {
        vec![TxnOp::put(
            k.clone(),
            encode(&versions::stored(info, &obj))?,
        )]
    };
    let resp = store
        .txn(TxnRequest {
            compares: vec![Compare::mod_revision(k, CompareOp::Equal, mod_rev)],
            success: ops,
            failure: vec![],
        })
        .await
        .map_err(store_error)?;
    if !resp.succeeded {
        return Err(ApiError::conflict_modified(&info.group, &info.plural, name));
    }
    object::set_resource_version(&mut obj, resp.revision);
    Ok(obj)
}
