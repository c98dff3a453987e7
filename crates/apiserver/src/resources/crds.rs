//! The CRD controller of one API server: it watches
//! CustomResourceDefinitions in the store and
//! - swaps the served registry (built-in resources plus every CRD whose
//!   names are accepted), so a new CRD is served within moments;
//! - writes each CRD's status as kube-apiserver does: `acceptedNames`,
//!   `storedVersions`, and the `NamesAccepted`, `Established` (and, while
//!   it is deleted, `Terminating`) conditions;
//! - deletes a deleted CRD's objects (through the normal delete, so their
//!   own finalizers hold them), then removes the CRD's cleanup finalizer.
//!
//! Every API server runs one (on a shared etcd they write the same status;
//! a conflict just means another got there first).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rkube_apimachinery::crd::{self, Names};
use rkube_apimachinery::{ApiError, Registry, ResourceInfo};
use rkube_store::{EventKind, KeyRange, RangeRequest, WatchRequest};
use serde_json::{json, Value};

use super::delete::delete;
use super::object;
use super::options::{DeleteOptions, WriteOptions};
use super::state::ApiState;
use super::store_access::{decode, list_prefix, store_error};
use super::update::update;

const GROUP: &str = "apiextensions.k8s.io";
const PLURAL: &str = "customresourcedefinitions";
/// The field manager of the controller's writes (kube-apiserver's name).
const MANAGER: &str = "kube-apiserver";

/// Start the controller; it runs until the store closes.
pub fn spawn(state: Arc<ApiState>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            match run(&state).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "CRD controller restarts");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    })
}

fn crd_info(state: &ApiState) -> Result<ResourceInfo, ApiError> {
    state
        .registry()
        .get(GROUP, "v1", PLURAL)
        .cloned()
        .ok_or_else(|| ApiError::internal("customresourcedefinitions are not registered"))
}

/// List, then follow the CRDs; returns when the store's watch ends cleanly.
async fn run(state: &ApiState) -> Result<(), ApiError> {
    let info = crd_info(state)?;
    let store = state.store.clone();
    let prefix = list_prefix(&info, None);
    let listed = store
        .range(RangeRequest::new(KeyRange::prefix(Bytes::from(
            prefix.clone(),
        ))))
        .await
        .map_err(store_error)?;
    let mut known: BTreeMap<Bytes, Value> = BTreeMap::new();
    for kv in &listed.kvs {
        if let Ok(v) = decode(kv) {
            known.insert(kv.key.clone(), v);
        }
    }
    let mut events = store
        .watch(
            WatchRequest::new(KeyRange::prefix(Bytes::from(prefix)))
                .from_revision(listed.revision + 1),
        )
        .await
        .map_err(store_error)?;
    let mut pending = reconcile(state, &info, &known).await;
    loop {
        // While a deleted CRD still has objects, look again every second
        // (their own finalizers may be holding them).
        let next = if pending {
            match tokio::time::timeout(Duration::from_secs(1), events.next()).await {
                Ok(n) => n,
                Err(_) => {
                    pending = reconcile(state, &info, &known).await;
                    continue;
                }
            }
        } else {
            events.next().await
        };
        let Some(batch) = next else { return Ok(()) };
        for ev in batch.map_err(store_error)? {
            match ev.kind {
                EventKind::Put => {
                    if let Ok(v) = decode(&ev.kv) {
                        known.insert(ev.kv.key.clone(), v);
                    }
                }
                EventKind::Delete => {
                    known.remove(&ev.kv.key);
                }
            }
        }
        pending = reconcile(state, &info, &known).await;
    }
}

/// Brings the registry and every CRD's status up to date; returns whether
/// a deleted CRD is still waiting for its objects to go.
async fn reconcile(state: &ApiState, info: &ResourceInfo, known: &BTreeMap<Bytes, Value>) -> bool {
    let mut crds: Vec<&Value> = known.values().collect();
    // Older CRDs keep their names when a newer one asks for the same.
    crds.sort_by(|a, b| {
        let created = |v: &Value| object::meta_str(v, "creationTimestamp").to_string();
        created(a)
            .cmp(&created(b))
            .then_with(|| object::meta_str(a, "name").cmp(object::meta_str(b, "name")))
    });
    let mut registry = Registry::builtin();
    let mut taken: HashMap<(String, String), String> = HashMap::new();
    let mut pending = false;
    for crd in crds {
        let name = object::meta_str(crd, "name").to_string();
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let names = Names::of(crd);
        let conflict = claims(&names).into_iter().find_map(|n| {
            taken
                .get(&(group.clone(), n.clone()))
                .filter(|owner| **owner != name)
                .map(|_| n)
        });
        let deleting = object::is_deleting(crd);
        if conflict.is_none() {
            for n in claims(&names) {
                taken.insert((group.clone(), n), name.clone());
            }
            for mut r in crd::resources(crd, &names) {
                if deleting {
                    if let Some(c) = r.custom.as_mut().and_then(Arc::get_mut) {
                        c.terminating = true;
                    }
                }
                registry.insert(r);
            }
        }
        if let Err(e) = write_status(state, info, crd, &names, conflict.as_deref()).await {
            tracing::debug!(crd = %name, error = %e, "CRD status not written (will retry)");
        }
        if deleting && conflict.is_none() {
            match clean_up(state, info, crd, &names).await {
                Ok(done) => pending |= !done,
                Err(e) => {
                    tracing::warn!(crd = %name, error = %e, "CRD clean-up failed (will retry)");
                    pending = true;
                }
            }
        }
    }
    state.set_registry(Arc::new(registry));
    pending
}

/// The names a CRD claims in its group (plural, singular, kind, list kind,
/// short names), lower-cased for the short ones.
fn claims(names: &Names) -> Vec<String> {
    let mut v = vec![
        format!("plural:{}", names.plural),
        format!("singular:{}", names.singular),
        format!("kind:{}", names.kind),
        format!("kind:{}", names.list_kind),
    ];
    v.extend(names.short_names.iter().map(|s| format!("short:{s}")));
    v
}

async fn write_status(
    state: &ApiState,
    info: &ResourceInfo,
    crd: &Value,
    names: &Names,
    conflict: Option<&str>,
) -> Result<(), ApiError> {
    let now = object::now_rfc3339();
    let mut status = crd.get("status").cloned().unwrap_or_else(|| json!({}));
    let mut conditions: Vec<Value> = status
        .get("conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut changed = false;
    match conflict {
        None => {
            changed |= crd::set_condition(
                &mut conditions,
                crd::condition(
                    "NamesAccepted",
                    true,
                    "NoConflicts",
                    "no conflicts found",
                    &now,
                ),
            );
            changed |= crd::set_condition(
                &mut conditions,
                crd::condition(
                    "Established",
                    true,
                    "InitialNamesAccepted",
                    "the initial names have been accepted",
                    &now,
                ),
            );
            let accepted = names.to_value();
            if status.get("acceptedNames") != Some(&accepted) {
                status["acceptedNames"] = accepted;
                changed = true;
            }
        }
        Some(claim) => {
            let taken = claim.split_once(':').map(|(_, n)| n).unwrap_or(claim);
            changed |= crd::set_condition(
                &mut conditions,
                crd::condition(
                    "NamesAccepted",
                    false,
                    "NameConflict",
                    &format!("{taken:?} is already in use"),
                    &now,
                ),
            );
            changed |= crd::set_condition(
                &mut conditions,
                crd::condition(
                    "Established",
                    false,
                    "NotAccepted",
                    "not all names are accepted",
                    &now,
                ),
            );
        }
    }
    if object::is_deleting(crd) {
        changed |= crd::set_condition(
            &mut conditions,
            crd::condition(
                "Terminating",
                true,
                "InstanceDeletionInProgress",
                "CustomResource deletion is in progress",
                &now,
            ),
        );
    }
    let storage_version = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .and_then(|v| v.get("name"))
        .cloned();
    let mut stored: Vec<Value> = status
        .get("storedVersions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(v) = storage_version.filter(|v| !stored.contains(v)) {
        stored.push(v);
        changed = true;
    }
    if !changed {
        return Ok(());
    }
    status["conditions"] = Value::Array(conditions);
    status["storedVersions"] = Value::Array(stored);
    let mut new = crd.clone();
    new["status"] = status;
    let name = object::meta_str(crd, "name").to_string();
    update(
        state.store.as_ref(),
        info,
        None,
        &name,
        new,
        true,
        &WriteOptions::internal(MANAGER),
    )
    .await?;
    Ok(())
}

/// Deletes the objects of a deleted CRD; once none is left, removes the
/// CRD's finalizer (which removes the CRD). Returns whether it is done.
async fn clean_up(
    state: &ApiState,
    info: &ResourceInfo,
    crd: &Value,
    names: &Names,
) -> Result<bool, ApiError> {
    let name = object::meta_str(crd, "name").to_string();
    let registry = state.registry();
    let group = crd
        .pointer("/spec/group")
        .and_then(Value::as_str)
        .unwrap_or("");
    let served = registry
        .groups()
        .into_iter()
        .filter(|g| g.name == group)
        .flat_map(|g| g.versions)
        .find_map(|v| registry.get(group, &v, &names.plural).cloned());
    let finalizers: Vec<Value> = crd
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == crd::CLEANUP_FINALIZER) {
        return Ok(true);
    }
    if let Some(cr) = served {
        let prefix = list_prefix(&cr, None);
        let objects = state
            .store
            .range(RangeRequest::new(KeyRange::prefix(Bytes::from(prefix))))
            .await
            .map_err(store_error)?;
        if !objects.kvs.is_empty() {
            for kv in &objects.kvs {
                let Ok(obj) = decode(kv) else {
                    continue;
                };
                if object::is_deleting(&obj) {
                    continue;
                }
                let ns = object::meta_str(&obj, "namespace");
                let ns = (!ns.is_empty()).then_some(ns);
                let n = object::meta_str(&obj, "name");
                match delete(state.store.as_ref(), &cr, ns, n, &DeleteOptions::default()).await {
                    Ok(_) | Err(ApiError::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            return Ok(false);
        }
    }
    let mut new = crd.clone();
    if let Some(f) = new
        .pointer_mut("/metadata/finalizers")
        .and_then(Value::as_array_mut)
    {
        f.retain(|f| f != crd::CLEANUP_FINALIZER);
    }
    update(
        state.store.as_ref(),
        info,
        None,
        &name,
        new,
        false,
        &WriteOptions::internal(MANAGER),
    )
    .await?;
    tracing::info!(crd = %name, "custom resource definition removed");
    Ok(true)
}
