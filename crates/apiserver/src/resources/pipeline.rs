//! The write pipeline: the steps every write of an object goes through,
//! in kube-apiserver's order (its handlers, then `genericregistry.Store`
//! with `rest.BeforeCreate` / `rest.BeforeUpdate`), written once for
//! create, update, patch, apply and the status and scale subresources:
//!
//! 1. **decode** — the body read through the kind's type (unknown fields
//!    per `fieldValidation`), then the kind's defaults; a patch is decoded
//!    and defaulted again once applied;
//! 2. **field management** — `metadata.managedFields` records the writer
//!    (an apply's entries come from the merge);
//! 3. **mutating admission** — namespace lifecycle, then the plugins;
//! 4. **strategy** — the resourceVersion precondition (or an
//!    unconditional update where the kind allows one), the generic
//!    metadata rules and the kind's prepare, validate and canonicalize;
//! 5. **validating admission**;
//! 6. **store write** — with the allocations and quota status the object
//!    takes, guarded by the revision that was read.
//!
//! Kind-specific behaviour comes from the kind's [`Strategy`].

use bytes::Bytes;
use rkube_apimachinery::typed::{self, FieldValidation};
use rkube_apimachinery::{defaults, managed, ApiError, Cause, ResourceInfo};
use rkube_store::{Compare, CompareOp, Revision, Store, TxnOp, TxnRequest};
use serde_json::Value;

use super::admission::{self, Operation};
use super::allocator;
use super::field_manager;
use super::object;
use super::options::{WriteOptions, Written};
use super::store_access::{encode, key, store_error, write_if_unchanged};
use super::strategy::{self, Strategy};
use super::versions;

/// Where a write's `managedFields` come from (step 2).
pub enum Managed {
    /// Every write but an apply: the writer's `Update` entry.
    Update,
    /// A server-side apply: the entries of the merge.
    Applied(Vec<managed::Entry>),
}

/// Step 1: a body read as its kind (after checking its `apiVersion` and
/// `kind`): built-in kinds through their `k8s-openapi` type (only what
/// changed from `old`, for a patch), custom resources pruned to their
/// schema; unknown fields handled per `fieldValidation` either way.
pub fn decode(
    info: &ResourceInfo,
    mut obj: Value,
    old: Option<&Value>,
    validation: FieldValidation,
) -> Result<typed::Decoded, ApiError> {
    object::check_type(info, &mut obj)?;
    let Some(schema) = info.custom.as_ref().and_then(|c| c.schema.as_ref()) else {
        let (g, v, k) = (&info.group, &info.version, &info.kind);
        return match old {
            Some(old) => typed::decode_changed(g, v, k, obj, old, validation),
            None => typed::decode(g, v, k, obj, validation),
        };
    };
    let dropped = schema.prune_root(&mut obj);
    if validation == FieldValidation::Strict && !dropped.is_empty() {
        let list: Vec<String> = dropped
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
            list.join(", "),
            kind = info.kind,
            version = info.version,
        )));
    }
    Ok(typed::Decoded {
        object: obj,
        unknown_fields: if validation == FieldValidation::Ignore {
            Vec::new()
        } else {
            dropped
        },
    })
}

/// Step 1, the rest: the kind's defaults (what kube-apiserver applies as
/// it decodes).
pub fn default(info: &ResourceInfo, obj: &mut Value) {
    if info.custom.is_none() {
        defaults::apply(&info.group, &info.kind, obj);
    }
}

/// Create an object (steps 1–6); returns it as stored. `obj` was read
/// through the kind's type by the caller (or built by the server).
pub async fn create(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
    managed: Managed,
) -> Result<Written, ApiError> {
    let strategy = strategy::for_resource(info);
    object::check_type(info, &mut obj)?;
    object::set_namespace(info, &mut obj, ns)?;
    strategy.allow_create(info)?;
    // 1. decode: defaults.
    default(info, &mut obj);
    // 2. field management.
    match managed {
        Managed::Applied(entries) => managed::write(&mut obj, entries),
        Managed::Update => field_manager::manage(info, None, &mut obj, opts, ""),
    }
    // 3. mutating admission.
    let given_name = object::meta_str(&obj, "name").to_string();
    let namespace = match (info.namespaced, ns) {
        (true, Some(ns)) => Some(admission::check_namespace(store, ns, info, &given_name).await?),
        _ => None,
    };
    let runtime_class = obj
        .pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ctx = admission::context(store, strategy, ns, namespace, runtime_class.as_deref()).await?;
    admission::mutate(
        info,
        strategy,
        Operation::Create,
        &given_name,
        &mut obj,
        &ctx,
    )?;
    // 4. strategy: BeforeCreate.
    let name = object::prepare_create(info, &mut obj)?;
    if strategy.has_generation(info, &obj) {
        object::meta_mut(&mut obj)?.insert("generation".into(), Value::from(1));
    }
    if object::has_status_subresource(info) {
        // Status is written through its subresource; a create carries
        // none, and answers with the kind's empty status.
        if let Some(map) = obj.as_object_mut() {
            map.remove("status");
        }
        if info.custom.is_none() {
            defaults::empty_status(&info.group, &info.kind, &mut obj);
        }
    }
    strategy.prepare_for_create(info, &mut obj);
    let causes = strategy.validate(info, &mut obj);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&info.group, &info.kind, &name, causes));
    }
    strategy.canonicalize(&mut obj);
    let mut warnings = strategy.warnings_on_create(&obj);
    // 5. validating admission.
    warnings.extend(admission::validate(
        info,
        strategy,
        Operation::Create,
        &name,
        (None, &obj),
        &ctx,
    )?);
    // 6. store write.
    store_new(
        store,
        info,
        strategy,
        ns,
        &name,
        obj,
        opts.dry_run,
        warnings,
    )
    .await
}

/// Step 6 of a create: the object with its allocations and the quotas'
/// new status in one transaction (a randomly chosen cluster IP or node
/// port may collide: then again with others).
#[allow(clippy::too_many_arguments)]
async fn store_new(
    store: &dyn Store,
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    ns: Option<&str>,
    name: &str,
    obj: Value,
    dry_run: bool,
    warnings: Vec<String>,
) -> Result<Written, ApiError> {
    let k = key(info, ns, name);
    let owner = Bytes::from(format!("{}/{}", ns.unwrap_or(""), name));
    for _ in 0..16 {
        let mut candidate = obj.clone();
        let allocs = strategy
            .allocate(&mut candidate)
            .map_err(|causes| ApiError::invalid(&info.group, &info.kind, name, causes))?;
        let (quota_compares, quota_ops) =
            admission::quotas(store, info, strategy, ns, name, &candidate).await?;
        if dry_run {
            if store.get(k.clone()).await.map_err(store_error)?.is_some() {
                return Err(ApiError::already_exists(&info.group, &info.plural, name));
            }
            return Ok(Written::new(candidate, warnings));
        }
        let mut compares = vec![Compare::create_revision(k.clone(), CompareOp::Equal, 0)];
        let stored = versions::stored(info, &candidate);
        let mut success = vec![TxnOp::put(k.clone(), encode(&stored)?)];
        compares.extend(quota_compares);
        success.extend(quota_ops);
        for a in &allocs {
            compares.push(Compare::create_revision(a.key.clone(), CompareOp::Equal, 0));
            success.push(TxnOp::put(a.key.clone(), owner.clone()));
        }
        let resp = store
            .txn(TxnRequest {
                compares,
                success,
                failure: vec![],
            })
            .await
            .map_err(store_error)?;
        if resp.succeeded {
            object::set_resource_version(&mut candidate, resp.revision);
            return Ok(Written::new(candidate, warnings));
        }
        if store.get(k.clone()).await.map_err(store_error)?.is_some() {
            return Err(ApiError::already_exists(&info.group, &info.plural, name));
        }
        for a in allocs.iter().filter(|a| a.requested) {
            if store
                .get(a.key.clone())
                .await
                .map_err(store_error)?
                .is_some()
            {
                return Err(allocator::taken(a, name));
            }
        }
    }
    Err(ApiError::internal(
        "could not allocate a free cluster IP or node port",
    ))
}

/// One write of a new version `new` of the stored `old` (read at
/// `mod_rev`), through the main resource or `status` (steps 1–6; `new`
/// was decoded by the caller). `Conflict` when the object moved since it
/// was read: the caller decides whether to read again.
#[allow(clippy::too_many_arguments)]
pub async fn update(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    (old, mod_rev): (&Value, Revision),
    mut new: Value,
    status: bool,
    opts: &WriteOptions,
    managed: Managed,
) -> Result<Written, ApiError> {
    let strategy = strategy::for_resource(info);
    object::set_namespace(info, &mut new, ns)?;
    // 1. decode: defaults.
    default(info, &mut new);
    // 2. field management.
    let subresource = if status { "status" } else { "" };
    match managed {
        Managed::Applied(entries) => managed::write(&mut new, entries),
        Managed::Update => field_manager::manage(info, Some(old), &mut new, opts, subresource),
    }
    // 3. mutating admission.
    let ctx = admission::update_context(store, strategy, status, &new).await?;
    admission::mutate(info, strategy, Operation::Update, name, &mut new, &ctx)?;
    // 4. strategy: the precondition, then BeforeUpdate.
    precondition(info, strategy, name, &mut new, mod_rev)?;
    object::prepare_update(info, old, &mut new, status)?;
    strategy.prepare_for_update(info, old, &mut new, status);
    if strategy.spec_changed(info, old, &new) {
        object::bump_generation(old, &mut new)?;
    }
    object::validate_update_meta(info, old, &new)?;
    let causes = strategy.validate_update(info, old, &mut new, status);
    if !causes.is_empty() {
        return Err(ApiError::invalid(&info.group, &info.kind, name, causes));
    }
    strategy.canonicalize(&mut new);
    let mut warnings = strategy.warnings_on_update(old, &new);
    // 5. validating admission.
    warnings.extend(admission::validate(
        info,
        strategy,
        Operation::Update,
        name,
        ((!status).then_some(old), &new),
        &ctx,
    )?);
    // 6. store write.
    if opts.dry_run {
        object::set_resource_version(&mut new, mod_rev);
        return Ok(Written::new(new, warnings));
    }
    let stored = write_if_unchanged(store, info, ns, name, mod_rev, new).await?;
    Ok(Written::new(stored, warnings))
}

/// The resourceVersion an update names: the stored one, or none where
/// the kind allows an unconditional update (then it is the stored one);
/// kube-apiserver's messages otherwise.
fn precondition(
    info: &ResourceInfo,
    strategy: &dyn Strategy,
    name: &str,
    new: &mut Value,
    mod_rev: Revision,
) -> Result<(), ApiError> {
    let current = mod_rev.to_string();
    match object::meta_str(new, "resourceVersion") {
        "" if strategy.allow_unconditional_update() => {
            object::set_resource_version(new, mod_rev);
            Ok(())
        }
        // kube-apiserver names the resource (not the kind) here.
        "" => Err(ApiError::invalid(
            &info.group,
            &info.plural,
            name,
            vec![Cause::invalid(
                "metadata.resourceVersion",
                Value::from(0),
                "must be specified for an update",
            )],
        )),
        given if given != current => {
            Err(ApiError::conflict_modified(&info.group, &info.plural, name))
        }
        _ => Ok(()),
    }
}
