//! The admission chain (steps 3 and 5 of `pipeline.rs`): the namespace
//! lifecycle, mutating plugins, then (after the kind's strategy) validating
//! ones, with the cluster state they read — the namespace, its
//! LimitRanges and ResourceQuotas. Which plugins look at a kind is its
//! strategy's [`Admitted`]; they act on creates, but for
//! PersistentVolumeClaimResize, which judges updates of a claim. The rules
//! are `rkube_apimachinery::admission`.
//!
//! ResourceQuota usage is counted from the objects themselves (no quota
//! controller needed) and the quota's new `status` is written in the same
//! store transaction as the object, guarded by the quota's revision.

use bytes::Bytes;
use rkube_apimachinery::admission::{self, claim_resize, quota, Context};
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{Compare, CompareOp, KeyRange, RangeRequest, Store, TxnOp};
use serde_json::Value;

use super::object;
use super::store_access::{decode, encode, list_prefix, store_error};
use super::strategy::{Admitted, Strategy};

/// The operation being admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// Whether the pod plugins look at this write.
fn pod_plugins(strategy: &dyn Strategy, op: Operation) -> bool {
    op == Operation::Create && strategy.admitted() == Admitted::Pod
}

/// NamespaceLifecycle: refuse writes into a namespace that does not exist
/// or is terminating; returns the namespace (the plugins read its labels).
pub async fn check_namespace(
    store: &dyn Store,
    ns: &str,
    info: &ResourceInfo,
    name: &str,
) -> Result<Value, ApiError> {
    let key = Bytes::from(format!("/registry/namespaces/{ns}"));
    let Some(kv) = store.get(key).await.map_err(store_error)? else {
        return Err(ApiError::not_found("", "namespaces", ns));
    };
    let nsobj = decode(&kv)?;
    if object::is_deleting(&nsobj) {
        return Err(ApiError::namespace_terminating(
            &info.group,
            &info.plural,
            name,
            ns,
        ));
    }
    Ok(nsobj)
}

async fn list(store: &dyn Store, prefix: String) -> Result<Vec<(Value, i64, Bytes)>, ApiError> {
    let resp = store
        .range(RangeRequest::new(KeyRange::prefix(Bytes::from(prefix))))
        .await
        .map_err(store_error)?;
    Ok(resp
        .kvs
        .iter()
        .filter_map(|kv| Some((decode(kv).ok()?, kv.mod_revision, kv.key.clone())))
        .collect())
}

/// The StorageClass called `name`, if it exists.
async fn storage_class(store: &dyn Store, name: &str) -> Result<Option<Value>, ApiError> {
    let key = Bytes::from(format!("/registry/storage.k8s.io/storageclasses/{name}"));
    Ok(store
        .get(key)
        .await
        .map_err(store_error)?
        .and_then(|kv| decode(&kv).ok()))
}

/// What the plugins need for a new object in `ns` (`namespace`: that
/// namespace, as [`check_namespace`] read it; `pod_runtime_class`: the
/// RuntimeClass a new pod names).
pub async fn context(
    store: &dyn Store,
    strategy: &dyn Strategy,
    ns: Option<&str>,
    namespace: Option<Value>,
    pod_runtime_class: Option<&str>,
) -> Result<Context, ApiError> {
    if strategy.admitted() == Admitted::Claim {
        let classes = list(
            store,
            "/registry/storage.k8s.io/storageclasses/".to_string(),
        )
        .await?;
        return Ok(Context {
            storage_classes: admission::storage_classes(classes.into_iter().map(|(v, _, _)| v)),
            ..Context::default()
        });
    }
    let (Some(ns), true) = (ns, pod_plugins(strategy, Operation::Create)) else {
        return Ok(Context::default());
    };
    let values = |l: Vec<(Value, i64, Bytes)>| l.into_iter().map(|(v, _, _)| v).collect();
    let limit_ranges = values(list(store, format!("/registry/limitranges/{ns}/")).await?);
    let priority_classes = values(
        list(
            store,
            "/registry/scheduling.k8s.io/priorityclasses/".to_string(),
        )
        .await?,
    );
    let runtime_class = match pod_runtime_class {
        Some(name) => store
            .get(Bytes::from(format!(
                "/registry/node.k8s.io/runtimeclasses/{name}"
            )))
            .await
            .map_err(store_error)?
            .and_then(|kv| decode(&kv).ok()),
        None => None,
    };
    Ok(Context {
        namespace,
        runtime_class,
        limit_ranges,
        priority_classes,
        ..Context::default()
    })
}

/// What the plugins need for an update to `new` (through `status` when
/// `status`): the StorageClass an updated claim names.
pub async fn update_context(
    store: &dyn Store,
    strategy: &dyn Strategy,
    status: bool,
    new: &Value,
) -> Result<Context, ApiError> {
    if status || strategy.admitted() != Admitted::Claim {
        return Ok(Context::default());
    }
    let class = match claim_resize::claim_class(new) {
        "" => None,
        name => storage_class(store, name).await?,
    };
    Ok(Context {
        claim_class: admission::storage_classes(class).pop(),
        ..Context::default()
    })
}

/// Mutating plugins (before the kind's validation); Priority may refuse
/// (403, naming the object).
pub fn mutate(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    op: Operation,
    name: &str,
    obj: &mut Value,
    ctx: &Context,
) -> Result<(), ApiError> {
    if pod_plugins(strategy, op) {
        admission::mutate_pod(obj, ctx)
            .map_err(|d| ApiError::forbidden(&info.group, &info.plural, name, d.0))?;
    }
    match (strategy.admitted(), op) {
        (Admitted::Claim, Operation::Create) => admission::mutate_claim(obj, ctx),
        (Admitted::Volume, Operation::Create) => admission::mutate_volume(obj),
        _ => {}
    }
    Ok(())
}

/// Validating plugins (after the kind's validation): a 403 naming the
/// object, or the warnings to send. `old` is the stored object an update
/// through the main resource replaces (`None` for creates and status
/// writes).
pub fn validate(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    op: Operation,
    name: &str,
    (old, obj): (Option<&Value>, &Value),
    ctx: &Context,
) -> Result<Vec<String>, ApiError> {
    if let (Admitted::Claim, Operation::Update, Some(old)) = (strategy.admitted(), op, old) {
        admission::validate_claim_update(old, obj, ctx)
            .map_err(|d| ApiError::forbidden(&info.group, &info.plural, name, d.0))?;
        return Ok(Vec::new());
    }
    if !pod_plugins(strategy, op) {
        return Ok(Vec::new());
    }
    admission::validate_pod(obj, ctx)
        .map_err(|d| ApiError::forbidden(&info.group, &info.plural, name, d.0))
}

/// The ResourceQuota checks of a new object: the store operations that
/// write the quotas' new status (to run with the object's write), or 403.
pub async fn quotas(
    store: &dyn Store,
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    ns: Option<&str>,
    name: &str,
    obj: &Value,
) -> Result<(Vec<Compare>, Vec<TxnOp>), ApiError> {
    let Some(ns) = ns else {
        return Ok((Vec::new(), Vec::new()));
    };
    let quotas = list(store, format!("/registry/resourcequotas/{ns}/")).await?;
    if quotas.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let delta = quota::usage_of(&info.group, &info.plural, obj);
    // What the objects of this kind in the namespace use now.
    let mut existing = quota::Usage::new();
    for (o, _, _) in list(store, list_prefix(info, Some(ns))).await? {
        if quota::counts(&info.group, &info.plural, &o) {
            for (k, v) in quota::usage_of(&info.group, &info.plural, &o) {
                *existing.entry(k).or_insert(0) += v;
            }
        }
    }
    let (mut compares, mut ops) = (Vec::new(), Vec::new());
    for (q, rev, key) in quotas {
        let status = quota::admit(
            &q,
            &existing,
            &delta,
            obj,
            strategy.admitted() == Admitted::Pod,
        )
        .map_err(|d| ApiError::forbidden(&info.group, &info.plural, name, d.0))?;
        if let Some(status) = status {
            let mut q = q;
            q["status"] = status;
            if let Some(m) = q.pointer_mut("/metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            compares.push(Compare::mod_revision(key.clone(), CompareOp::Equal, rev));
            ops.push(TxnOp::put(key, encode(&q)?));
        }
    }
    Ok((compares, ops))
}
