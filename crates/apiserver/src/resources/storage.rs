//! The REST verbs against the [`Store`]: keys, preconditions, finalizers,
//! selectors and paging. Objects are stored as JSON without their
//! `resourceVersion`; on the way out it is set from the key's
//! `mod_revision`, as kube-apiserver does on etcd.

use base64::Engine;
use bytes::Bytes;
use rkube_apimachinery::crd::rules;
use rkube_apimachinery::typed::{self, FieldValidation};
use rkube_apimachinery::{defaults, validate, CauseType};
use rkube_apimachinery::{ApiError, FieldSelector, LabelSelector, ResourceInfo};
use rkube_store::{
    Compare, CompareOp, KeyRange, KeyValue, RangeRequest, Revision, Store, StoreError, TxnOp,
    TxnRequest,
};
use serde_json::{json, Value};

use super::admission;
use super::field_manager;
use super::raw::{self, RawList};
use super::{allocator, object};
use rkube_apimachinery::managed;

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

fn encode(obj: &Value) -> Result<Bytes, ApiError> {
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
    if info.custom.is_some() {
        // One stored object, served in every version of its CRD.
        if let Some(m) = obj.as_object_mut() {
            m.insert("apiVersion".into(), Value::String(info.api_version()));
        }
    }
    Ok((obj, kv.mod_revision))
}

/// List options, as parsed from the query.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: i64,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
    /// Keys from `start` on at `rv`, when the page before counted them
    /// (rkube's addition; kube-apiserver's tokens have none): the next
    /// pages need not count again for `remainingItemCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left: Option<i64>,
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.rv <= 0 {
        return Err(bad());
    }
    Ok(t)
}

fn encode_continue(rv: i64, start: &str, left: Option<i64>) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.into(),
        left,
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&t).unwrap_or_default())
}

/// Whether an object matches the selectors.
pub fn matches(info: &ResourceInfo, opts: &ListOptions, obj: &Value) -> bool {
    opts.label_selector.matches_object(obj)
        && opts
            .field_selector
            .matches_object(&info.group, &info.kind, obj)
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

/// A list, as the `<Kind>List` object.
pub async fn list(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    opts: &ListOptions,
) -> Result<Value, ApiError> {
    list_raw(store, info, ns, opts).await?.to_value()
}

/// A list with its items as stored bytes (resourceVersion stamped in):
/// objects are only parsed when a selector has to look at them.
pub async fn list_raw(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    opts: &ListOptions,
) -> Result<RawList, ApiError> {
    let prefix = list_prefix(info, ns);
    let end = rkube_store::prefix_end(prefix.as_bytes());
    let requested_rv = match opts.resource_version.as_deref() {
        None | Some("") | Some("0") => 0,
        Some(rv) => rv
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
    };
    if opts
        .continue_token
        .as_deref()
        .is_some_and(|c| !c.is_empty())
        && requested_rv > 0
    {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    if requested_rv > 0 {
        wait_for_revision(store, requested_rv).await?;
    }
    let mut known_count = None;
    let (mut start, rev) = match &opts.continue_token {
        Some(token) if !token.is_empty() => {
            let t = decode_continue(token)?;
            known_count = t.left.filter(|n| *n >= 0);
            (format!("{prefix}{}", t.start), t.rv)
        }
        // An exact revision is read only with a limit (or when asked); otherwise "not older than".
        _ if requested_rv > 0
            && (opts.limit > 0 || opts.resource_version_match.as_deref() == Some("Exact")) =>
        {
            (prefix.clone(), requested_rv)
        }
        _ => (prefix.clone(), 0),
    };
    let filtering = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
    let limit = opts.limit.max(0) as usize;
    let mut items = Vec::new();
    let mut read_rev = rev;
    let mut next_token = None;
    let mut remaining: Option<i64> = None;
    loop {
        let page = if limit == 0 {
            0
        } else if filtering {
            (limit * 2).max(500) as i64
        } else {
            (limit + 1) as i64
        };
        let mut req = RangeRequest::new(KeyRange::between(Bytes::from(start.clone()), end.clone()))
            .at_revision(read_rev)
            .with_limit(page);
        // Only an unfiltered page reports `remainingItemCount`, and a page
        // after one that counted knows the count already.
        if filtering || limit == 0 || known_count.is_some() {
            req = req.skip_count();
        }
        let resp = store
            .range(req)
            .await
            .map_err(|e| match e {
                StoreError::Compacted { .. } if opts.continue_token.is_some() => ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => store_error(other),
            })?;
        if read_rev == 0 {
            read_rev = resp.revision;
        }
        let mut last_key = None;
        let mut consumed = 0i64;
        for kv in &resp.kvs {
            if limit > 0 && items.len() == limit {
                break;
            }
            consumed += 1;
            last_key = Some(kv.key.clone());
            if !filtering || matches(info, opts, &decode(kv)?) {
                items.push(raw::Item::from_kv(kv)?);
            }
        }
        let more_here = (resp.kvs.len() as i64) > consumed || resp.more;
        if limit > 0 && items.len() == limit && more_here {
            if let Some(k) = last_key {
                let rel = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
                if !filtering {
                    remaining = Some(known_count.unwrap_or(resp.count) - consumed);
                }
                next_token = Some(encode_continue(read_rev, &format!("{rel}\u{0}"), remaining));
            }
            break;
        }
        if !resp.more || limit == 0 {
            break;
        }
        match resp.kvs.last() {
            Some(k) => start = format!("{}\u{0}", String::from_utf8_lossy(&k.key)),
            None => break,
        }
    }
    let mut metadata = json!({ "resourceVersion": read_rev.to_string() });
    if let Some(token) = next_token {
        metadata["continue"] = Value::String(token);
        if let Some(r) = remaining {
            metadata["remainingItemCount"] = Value::from(r);
        }
    }
    if info.custom.is_some() {
        let api_version = info.api_version();
        for item in &mut items {
            if let Some(other) = item.with_api_version(&api_version) {
                *item = other;
            }
        }
    }
    Ok(RawList {
        kind: info.list_kind.clone(),
        api_version: info.api_version(),
        metadata,
        items,
    })
}

/// Refuse writes into a namespace that does not exist or is terminating;
/// returns the namespace (admission reads its labels).
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

/// Create an object; returns it as stored.
pub async fn create(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    obj: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    create_managed(store, info, ns, obj, opts, None).await
}

/// [`create`], with the `managedFields` of an apply (`entries`) instead
/// of an `Update` entry for the whole object.
pub(super) async fn create_managed(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    mut obj: Value,
    opts: &WriteOptions,
    entries: Option<Vec<managed::Entry>>,
) -> Result<Written, ApiError> {
    let dry_run = opts.dry_run;
    object::check_type(info, &mut obj)?;
    object::set_namespace(info, &mut obj, ns)?;
    if info.custom.as_ref().is_some_and(|c| c.terminating) {
        return Err(ApiError::method_not_allowed(
            &info.group,
            &info.plural,
            "create",
        ));
    }
    let name = object::prepare_create(info, &mut obj)?;
    defaults::apply(&info.group, &info.kind, &mut obj);
    let namespace = match (info.namespaced, ns) {
        (true, Some(ns)) => Some(check_namespace(store, ns, info, &name).await?),
        _ => None,
    };
    let runtime_class = obj
        .pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ctx = admission::context(store, info, ns, namespace, runtime_class.as_deref()).await?;
    admission::mutate(info, &name, &mut obj, &ctx)?;
    let mut causes = validate::create(&info.group, &info.kind, &obj);
    causes.extend(custom_checks(info, &mut obj, None));
    if !causes.is_empty() {
        return Err(ApiError::invalid(&info.group, &info.kind, &name, causes));
    }
    let warnings = admission::validate(info, &name, &obj, &ctx)?;
    match entries {
        Some(entries) => managed::write(&mut obj, entries),
        None => field_manager::manage(info, None, &mut obj, opts, ""),
    }
    let k = key(info, ns, &name);
    let owner = Bytes::from(format!("{}/{}", ns.unwrap_or(""), name));
    // A randomly chosen cluster IP or node port may collide: try again.
    for _ in 0..16 {
        let mut candidate = obj.clone();
        let allocs = if is_service(info) {
            allocator::for_new_service(&mut candidate)
                .map_err(|causes| ApiError::invalid(&info.group, &info.kind, &name, causes))?
        } else {
            Vec::new()
        };
        let (quota_compares, quota_ops) =
            admission::quotas(store, info, ns, &name, &candidate).await?;
        if dry_run {
            if store.get(k.clone()).await.map_err(store_error)?.is_some() {
                return Err(ApiError::already_exists(&info.group, &info.plural, &name));
            }
            return Ok(Written::new(candidate, warnings));
        }
        let mut compares = vec![Compare::create_revision(k.clone(), CompareOp::Equal, 0)];
        let mut success = vec![TxnOp::put(k.clone(), encode(&candidate)?)];
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
            return Err(ApiError::already_exists(&info.group, &info.plural, &name));
        }
        for a in allocs.iter().filter(|a| a.requested) {
            if store
                .get(a.key.clone())
                .await
                .map_err(store_error)?
                .is_some()
            {
                return Err(allocator::taken(a, &name));
            }
        }
    }
    Err(ApiError::internal(
        "could not allocate a free cluster IP or node port",
    ))
}

fn is_service(info: &ResourceInfo) -> bool {
    info.group.is_empty() && info.plural == "services"
}

/// Delete ops for the object and what it holds (a Service's IP and ports).
fn delete_ops(info: &ResourceInfo, k: Bytes, obj: &Value) -> Vec<TxnOp> {
    let mut ops = vec![TxnOp::delete(KeyRange::key(k))];
    if is_service(info) {
        ops.extend(
            allocator::held_by(obj)
                .into_iter()
                .map(|a| TxnOp::delete(KeyRange::key(a))),
        );
    }
    ops
}

/// Write `obj` over the stored version at `mod_rev` (or delete it when it
/// is being deleted and its last finalizer went). `Conflict` if it moved.
pub(super) async fn write_if_unchanged(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    mod_rev: Revision,
    mut obj: Value,
) -> Result<Value, ApiError> {
    let k = key(info, ns, name);
    let ops = if deletion_done(info, &obj) {
        delete_ops(info, k.clone(), &obj)
    } else {
        vec![TxnOp::put(k.clone(), encode(&obj)?)]
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

/// A custom resource's defaults and schema validation (nothing for
/// built-in kinds).
/// A custom resource's schema defaults, then its structural validation and
/// its CEL rules (`old`: the stored object, on an update).
fn custom_checks(
    info: &ResourceInfo,
    obj: &mut Value,
    old: Option<&Value>,
) -> Vec<rkube_apimachinery::Cause> {
    match info.custom.as_ref().and_then(|c| c.schema.as_ref()) {
        Some(schema) => {
            schema.default_root(obj);
            let mut causes = schema.validate_root(obj);
            // As kube-apiserver: a wrong type or a missing required field
            // would only make the rules fail confusingly, so they wait.
            let blocking = causes
                .iter()
                .any(|c| matches!(c.kind, CauseType::TypeInvalid | CauseType::Required));
            if !blocking {
                causes.extend(rules::validate_root(schema, obj, old));
            }
            causes
        }
        None => Vec::new(),
    }
}

/// A body read as its kind: built-in kinds through their `k8s-openapi`
/// type, custom resources pruned to their schema; unknown fields handled
/// per `fieldValidation` either way.
pub fn decode_typed(
    info: &ResourceInfo,
    obj: Value,
    validation: typed::FieldValidation,
) -> Result<typed::Decoded, ApiError> {
    decode_typed_change(info, obj, None, validation)
}

/// [`decode_typed`] for a new version of the stored object `old`: a
/// built-in kind's type reads only what changed ([`typed::decode_changed`]).
pub fn decode_typed_change(
    info: &ResourceInfo,
    obj: Value,
    old: Option<&Value>,
    validation: typed::FieldValidation,
) -> Result<typed::Decoded, ApiError> {
    let Some(schema) = info.custom.as_ref().and_then(|c| c.schema.as_ref()) else {
        let (g, v, k) = (&info.group, &info.version, &info.kind);
        return match old {
            Some(old) => typed::decode_changed(g, v, k, obj, old, validation),
            None => typed::decode(g, v, k, obj, validation),
        };
    };
    let mut obj = obj;
    let dropped = schema.prune_root(&mut obj);
    if validation == typed::FieldValidation::Strict && !dropped.is_empty() {
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
        unknown_fields: if validation == typed::FieldValidation::Ignore {
            Vec::new()
        } else {
            dropped
        },
    })
}

/// Kubernetes' defaults and update validation for the new version of an object.
pub(super) fn check_update(
    info: &ResourceInfo,
    name: &str,
    old: &Value,
    new: &mut Value,
    status: bool,
) -> Result<(), ApiError> {
    defaults::apply(&info.group, &info.kind, new);
    if info.group.is_empty() && info.plural == "namespaces" && !status {
        // As kube-apiserver: a namespace's spec.finalizers change only
        // through its `finalize` subresource.
        if let (Some(spec), Some(map)) = (old.get("spec").cloned(), new.as_object_mut()) {
            map.insert("spec".into(), spec);
        }
    }
    let mut causes = validate::update(&info.group, &info.kind, old, new, status);
    causes.extend(custom_checks(info, new, Some(old)));
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(&info.group, &info.kind, name, causes))
    }
}

/// Replace an object (PUT), through the main resource or `status`.
pub async fn update(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    mut obj: Value,
    status: bool,
    opts: &WriteOptions,
) -> Result<Value, ApiError> {
    let dry_run = opts.dry_run;
    object::check_type(info, &mut obj)?;
    object::set_namespace(info, &mut obj, ns)?;
    let (old, mod_rev) = read(store, info, ns, name).await?;
    let given_rv = object::meta_str(&obj, "resourceVersion").to_string();
    if !given_rv.is_empty() && given_rv != mod_rev.to_string() {
        return Err(ApiError::conflict_modified(&info.group, &info.plural, name));
    }
    object::prepare_update(info, &old, &mut obj, status)?;
    check_update(info, name, &old, &mut obj, status)?;
    field_manager::manage(
        info,
        Some(&old),
        &mut obj,
        opts,
        if status { "status" } else { "" },
    );
    if dry_run {
        object::set_resource_version(&mut obj, mod_rev);
        return Ok(obj);
    }
    write_if_unchanged(store, info, ns, name, mod_rev, obj).await
}

/// Delete preconditions from a `DeleteOptions` body.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
    /// `propagationPolicy`: `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// The legacy `orphanDependents`.
    pub orphan_dependents: Option<bool>,
}

impl DeleteOptions {
    pub fn from_body(body: &Value) -> Self {
        let pre = body.get("preconditions");
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        DeleteOptions {
            uid: s(pre.and_then(|p| p.get("uid"))),
            resource_version: s(pre.and_then(|p| p.get("resourceVersion"))),
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            dry_run: body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All")),
            propagation_policy: s(body.get("propagationPolicy")),
            orphan_dependents: body.get("orphanDependents").and_then(Value::as_bool),
        }
    }

    /// A `propagationPolicy` kube-apiserver does not know, or one set along
    /// with `orphanDependents`, is a 422.
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(p) = &self.propagation_policy {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    vec![rkube_apimachinery::Cause::not_supported(
                        "propagationPolicy",
                        p.clone(),
                        &["Foreground", "Background", "Orphan", "nil"],
                    )],
                ));
            }
            if self.orphan_dependents.is_some() {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    vec![rkube_apimachinery::Cause::invalid(
                        "propagationPolicy",
                        p.clone(),
                        "orphanDependents and deletionPropagation cannot be both set",
                    )],
                ));
            }
        }
        Ok(())
    }
}

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

/// A namespace whose `spec.finalizers` still hold it.
fn namespace_held(info: &ResourceInfo, obj: &Value) -> bool {
    info.group.is_empty()
        && info.plural == "namespaces"
        && obj
            .pointer("/spec/finalizers")
            .and_then(Value::as_array)
            .is_some_and(|f| !f.is_empty())
}

/// Whether a deleting object goes once written: no finalizer holds it and
/// its grace period is over (a running pod waits for its node).
fn deletion_done(info: &ResourceInfo, obj: &Value) -> bool {
    object::is_deleting(obj)
        && !object::has_finalizers(obj)
        && !namespace_held(info, obj)
        && obj
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0)
            <= 0
}

/// Whether deletion must wait (finalizers, or a pod its node must stop).
fn deletion_waits(info: &ResourceInfo, obj: &Value, opts: &DeleteOptions) -> Option<i64> {
    let pod_on_node = info.group.is_empty()
        && info.plural == "pods"
        && obj
            .get("spec")
            .and_then(|s| s.get("nodeName"))
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty())
        && !matches!(
            obj.get("status")
                .and_then(|s| s.get("phase"))
                .and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
    let grace = if pod_on_node {
        opts.grace_period_seconds
            .or_else(|| {
                obj.get("spec")
                    .and_then(|s| s.get("terminationGracePeriodSeconds"))
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
    } else {
        0
    };
    (object::has_finalizers(obj) || namespace_held(info, obj) || grace > 0).then_some(grace)
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
    if info.group.is_empty() && info.plural == "namespaces" && IMMORTAL_NAMESPACES.contains(&name) {
        return Err(ApiError::forbidden(
            &info.group,
            &info.plural,
            name,
            "this namespace may not be deleted",
        ));
    }
    let finalizers = gc_finalizers(&obj, opts);
    if let Some(f) = &finalizers {
        object::meta_mut(&mut obj)?.insert("finalizers".into(), Value::Array(f.clone()));
    }
    if opts.dry_run {
        return Ok(obj);
    }
    if let Some(grace) = deletion_waits(info, &obj, opts) {
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
            if info.group.is_empty() && info.plural == "namespaces" {
                obj["status"]["phase"] = Value::String("Terminating".into());
            }
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
            success: delete_ops(info, k, &obj),
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

/// Namespaces kube-apiserver refuses to delete (NamespaceLifecycle).
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

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

/// The patch formats a PATCH may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 (`application/json-patch+json`).
    Json,
    /// RFC 7386 (`application/merge-patch+json`).
    Merge,
    /// `application/strategic-merge-patch+json`, with Kubernetes' merge
    /// keys for built-in kinds (see `rkube_apimachinery::strategic`).
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

/// How a write is carried out, from its query.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: do everything but persist.
    pub dry_run: bool,
    /// What to do about fields the kind's type does not have.
    pub field_validation: FieldValidation,
    /// Who writes (`fieldManager`, else the User-Agent's product).
    pub field_manager: String,
    /// `force=true` on an apply: take conflicting fields.
    pub force: bool,
}

impl WriteOptions {
    /// Options for writes the server makes itself.
    pub fn internal(manager: &str) -> Self {
        WriteOptions {
            field_manager: manager.to_string(),
            ..Default::default()
        }
    }
}

/// A written object and the warnings for the client.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    /// `Warning` header texts (e.g. unknown fields that were dropped).
    pub warnings: Vec<String>,
}

impl Written {
    pub(super) fn new(object: Value, warnings: Vec<String>) -> Self {
        Written { object, warnings }
    }
}

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
    let dry_run = opts.dry_run;
    if kind == PatchType::Apply {
        return field_manager::apply(store, info, ns, name, patch, status, opts).await;
    }
    if kind == PatchType::Strategic && info.custom.is_some() {
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
        object::check_type(info, &mut new)?;
        let decoded = decode_typed_change(info, new, Some(&old), opts.field_validation)?;
        let warnings = typed::warnings(&decoded);
        let mut new = decoded.object;
        object::set_namespace(info, &mut new, ns)?;
        let wanted_rv = object::meta_str(&new, "resourceVersion").to_string();
        let pinned = wanted_rv != mod_rev.to_string();
        if pinned && !wanted_rv.is_empty() {
            return Err(ApiError::conflict_modified(&info.group, &info.plural, name));
        }
        object::prepare_update(info, &old, &mut new, status)?;
        check_update(info, name, &old, &mut new, status)?;
        field_manager::manage(
            info,
            Some(&old),
            &mut new,
            opts,
            if status { "status" } else { "" },
        );
        if dry_run {
            return Ok(Written::new(new, warnings));
        }
        match write_if_unchanged(store, info, ns, name, mod_rev, new).await {
            Err(ApiError::Conflict { .. }) if !pinned => continue,
            other => return other.map(|o| Written::new(o, warnings)),
        }
    }
    Err(ApiError::conflict_modified(&info.group, &info.plural, name))
}

#[cfg(test)]
mod tests {
    use super::*;

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
