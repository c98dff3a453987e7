//! APIServices as kube-apiserver's aggregator keeps them for the APIs it
//! serves itself: one `Local` APIService per built-in group/version
//! (`v1`, `v1.apps`, ..., labelled `kube-aggregator.kubernetes.io/automanaged:
//! onstart`, with the group's discovery priority), and one per
//! group/version of an established CRD while it exists (labelled
//! `automanaged: "true"`, priorities 1000 and 100, as kube-apiserver's
//! `crdregistration` controller writes them). Each has the condition
//! `Available=True` with reason `Local`. Proxying to extension API
//! servers is not done.
//!
//! `metrics.k8s.io`, which the API server answers itself in place of
//! metrics-server, is Local too — until a user's APIService for it (one
//! with `spec.service`, as metrics-server's manifest writes) takes its
//! place: that one is kept as the user wrote it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rkube_apimachinery::registry::group_priority;
use rkube_apimachinery::{ApiError, Registry};
use serde_json::{json, Value};

use super::super::delete::delete;
use super::super::get::list;
use super::super::object;
use super::super::options::{DeleteOptions, ListOptions, WriteOptions};
use super::super::state::ApiState;
use super::super::store_access::read;
use super::super::update::update;
use super::ensure::{ensure, info, SystemObjectsConfig, MANAGER};

const GROUP: &str = "apiregistration.k8s.io";
const PLURAL: &str = "apiservices";
const AUTOMANAGED: &str = "kube-aggregator.kubernetes.io/automanaged";
/// Groups served here in place of an extension API server: a user's
/// APIService for them is not overwritten.
const REPLACEABLE: &[&str] = &["metrics.k8s.io"];
/// How often the served registry is checked for new or removed CRD
/// group/versions.
const POLL: Duration = Duration::from_secs(1);

/// The APIService name of a group/version: `v1` for core, else `<version>.<group>`.
pub fn name(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{version}.{group}")
    }
}

/// The Local APIServices for what `registry` serves, by name (without
/// status).
pub fn desired(registry: &Registry) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for g in registry.groups() {
        for version in &g.versions {
            let custom = registry
                .resources_in(&g.name, version)
                .iter()
                .all(|r| r.custom.is_some());
            let (group_min, version_priority, managed) = if custom {
                (1000, 100, "true")
            } else if g.name.is_empty() {
                (group_priority(""), 1, "onstart")
            } else if REPLACEABLE.contains(&g.name.as_str()) {
                (group_priority(&g.name), 100, "onstart")
            } else {
                (group_priority(&g.name), 15, "onstart")
            };
            let n = name(&g.name, version);
            out.insert(
                n.clone(),
                json!({
                    "apiVersion": "apiregistration.k8s.io/v1",
                    "kind": "APIService",
                    "metadata": {"name": n, "labels": {AUTOMANAGED: managed}},
                    "spec": {
                        "group": g.name,
                        "version": version,
                        "groupPriorityMinimum": group_min,
                        "versionPriority": version_priority,
                    },
                }),
            );
        }
    }
    out
}

/// The `Available` condition of a Local APIService.
fn available(now: &str) -> Value {
    json!({
        "type": "Available",
        "status": "True",
        "lastTransitionTime": now,
        "reason": "Local",
        "message": "Local APIServices are always available",
    })
}

/// Whether `obj` already has `Available=True` with reason `Local`.
fn is_available(obj: &Value) -> bool {
    obj.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Available" && c["status"] == "True" && c["reason"] == "Local")
}

/// Whether a user's APIService (with `spec.service`) stands where the
/// Local one `desired` of a replaceable group would.
async fn taken_over(
    state: &ApiState,
    info: &rkube_apimachinery::ResourceInfo,
    desired: &Value,
) -> Result<bool, ApiError> {
    let group = desired["spec"]["group"].as_str().unwrap_or_default();
    if !REPLACEABLE.contains(&group) {
        return Ok(false);
    }
    let n = desired["metadata"]["name"].as_str().unwrap_or_default();
    match read(state.store.as_ref(), info, None, n).await {
        Ok((current, _)) => Ok(current
            .pointer("/spec/service")
            .is_some_and(|s| !s.is_null())),
        Err(ApiError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// One pass: create or reset every desired APIService and its status;
/// delete the CRD ones whose group/version is no longer served.
async fn reconcile(state: &ApiState, registry: &Registry) -> Result<(), ApiError> {
    let info = info(state, GROUP, PLURAL)?;
    let store = state.store.as_ref();
    let want = desired(registry);
    for obj in want.values() {
        if taken_over(state, &info, obj).await? {
            continue;
        }
        ensure(
            state,
            &info,
            None,
            obj,
            &["/metadata/labels", "/spec"],
            false,
        )
        .await?;
        let n = obj["metadata"]["name"].as_str().unwrap_or_default();
        let (mut current, rev) = read(store, &info, None, n).await?;
        if is_available(&current) {
            continue;
        }
        current["status"] = json!({"conditions": [available(&object::now_rfc3339())]});
        object::set_resource_version(&mut current, rev);
        match update(
            store,
            &info,
            None,
            n,
            current,
            true,
            &WriteOptions::internal(MANAGER),
        )
        .await
        {
            Ok(_) | Err(ApiError::Conflict { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    let listed = list(store, &info, None, &ListOptions::default()).await?;
    for item in listed["items"].as_array().into_iter().flatten() {
        let n = item["metadata"]["name"].as_str().unwrap_or_default();
        let ours = item.pointer(&format!(
            "/metadata/labels/{}",
            AUTOMANAGED.replace('/', "~1")
        )) == Some(&json!("true"));
        if ours && !want.contains_key(n) {
            match delete(store, &info, None, n, &DeleteOptions::default()).await {
                Ok(_) | Err(ApiError::NotFound { .. }) => {
                    tracing::info!(
                        apiservice = n,
                        "deleted the APIService of a removed CRD version"
                    )
                }
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// Reconcile at start, whenever the served registry changes, and every
/// interval.
pub(super) async fn run(state: &ApiState, config: &SystemObjectsConfig) {
    let mut last: Option<(Arc<Registry>, Instant)> = None;
    loop {
        let registry = state.registry();
        let due = match &last {
            None => true,
            Some((seen, at)) => !Arc::ptr_eq(seen, &registry) || at.elapsed() >= config.interval,
        };
        if due {
            match reconcile(state, &registry).await {
                Ok(()) => last = Some((registry, Instant::now())),
                Err(e) => tracing::warn!(error = %e, "cannot reconcile the APIServices"),
            }
        }
        tokio::time::sleep(POLL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_local_apiservice_per_builtin_group_version() {
        let want = desired(&Registry::builtin());
        let core = &want["v1"];
        assert_eq!(core["spec"]["group"], "");
        assert_eq!(core["spec"]["groupPriorityMinimum"], 18000);
        assert_eq!(core["spec"]["versionPriority"], 1);
        let apps = &want["v1.apps"];
        assert_eq!(apps["spec"]["groupPriorityMinimum"], 17800);
        assert_eq!(apps["spec"]["versionPriority"], 15);
        assert_eq!(apps["metadata"]["labels"][AUTOMANAGED], "onstart");
        assert!(want.contains_key("v1.apiregistration.k8s.io"));
        assert!(want.contains_key("v1.node.k8s.io"));
        assert!(want.values().all(|o| o["spec"].get("service").is_none()));
        let metrics = &want["v1beta1.metrics.k8s.io"];
        assert_eq!(metrics["spec"]["groupPriorityMinimum"], 100);
        assert_eq!(metrics["spec"]["versionPriority"], 100);
    }
}
