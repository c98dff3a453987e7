//! The namespace controller: empties a deleted namespace, then lets it go.
//!
//! For a namespace with a `deletionTimestamp` and the `kubernetes`
//! finalizer in `spec.finalizers`:
//! - discovers every namespaced resource (custom resources included) and
//!   deletes its objects in the namespace (`deletecollection`, or one by
//!   one where the resource has no such verb);
//! - lists what is left; while anything is, the namespace stays
//!   `Terminating` (objects whose finalizers someone else holds keep it
//!   there) and is looked at again;
//! - reports progress in `status.conditions` as kube-controller-manager
//!   does (`NamespaceDeletionDiscoveryFailure`,
//!   `NamespaceDeletionGroupVersionParsingFailure`,
//!   `NamespaceDeletionContentFailure`, `NamespaceContentRemaining`,
//!   `NamespaceFinalizersRemaining`);
//! - once it is empty, removes `kubernetes` through
//!   `PUT /api/v1/namespaces/{name}/finalize`; the API server removes the
//!   namespace when no finalizer of either kind is left.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::jiff::Timestamp;
use kube::api::{
    Api, DeleteParams, DynamicObject, ListParams, PartialObjectMeta, Patch, PatchParams,
    PostParams, PropagationPolicy,
};
use kube::discovery::{verbs, ApiResource, Discovery, Scope};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::framework::context::Context;
use crate::framework::error::ControllerError;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::spawn_workers;

pub const NAME: &str = "namespace-controller";
const WORKERS: usize = 2;
/// The finalizer this controller owns in `spec.finalizers`.
const FINALIZER: &str = "kubernetes";
/// How soon a namespace with content left is looked at again: doubling
/// from the first to the last while content remains.
const RECHECK_FIRST: Duration = Duration::from_millis(500);
const RECHECK_MAX: Duration = Duration::from_secs(8);

/// Passes in a row that found content left, per namespace.
type Attempts = Arc<Mutex<HashMap<String, u32>>>;

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers.namespaces.on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if new.metadata.deletion_timestamp.is_some() {
                q.add(Key::of(*new));
            }
        }
    });
    let ctx = ctx.clone();
    let attempts = Attempts::default();
    spawn_workers(NAME, queue, WORKERS, move |key| {
        let ctx = ctx.clone();
        let attempts = attempts.clone();
        async move {
            let name = key.name.clone();
            let again = reconcile(&ctx, key).await?;
            let mut a = attempts.lock().unwrap_or_else(|e| e.into_inner());
            if again {
                let n = a.entry(name).or_insert(0);
                *n = n.saturating_add(1);
                Ok(Some(recheck_after(*n)))
            } else {
                a.remove(&name);
                Ok(None)
            }
        }
    })
}

/// What one pass found.
#[derive(Debug, Default, PartialEq)]
struct Pass {
    discovery_errors: Vec<String>,
    delete_errors: Vec<String>,
    /// `resource.group` → objects left.
    remaining: BTreeMap<String, usize>,
    /// Finalizer → objects left holding it.
    finalizers: BTreeMap<String, usize>,
}

/// The delay before pass `n` (from 1) looks again.
fn recheck_after(n: u32) -> Duration {
    RECHECK_FIRST
        .saturating_mul(1 << n.clamp(1, 8).saturating_sub(1))
        .min(RECHECK_MAX)
}

/// One pass over namespace `key.name`; true if content is left (look
/// again later).
async fn reconcile(ctx: &Context, key: Key) -> Result<bool, ControllerError> {
    let Some(ns) = ctx
        .informers
        .namespaces
        .store()
        .get(&ObjectRef::new(&key.name))
    else {
        return Ok(false);
    };
    if ns.metadata.deletion_timestamp.is_none() || !has_finalizer(&ns) {
        return Ok(false);
    }
    let name = key.name.as_str();
    let pass = empty(ctx, name).await?;
    write_conditions(ctx, &ns, &pass).await?;
    if !pass.remaining.is_empty()
        || !pass.delete_errors.is_empty()
        || !pass.discovery_errors.is_empty()
    {
        debug!(namespace = name, remaining = ?pass.remaining, "content remains");
        return Ok(true);
    }
    finalize(ctx, &ns).await?;
    info!(namespace = name, "namespace emptied and finalized");
    Ok(false)
}

fn has_finalizer(ns: &Namespace) -> bool {
    ns.spec
        .as_ref()
        .and_then(|s| s.finalizers.as_ref())
        .is_some_and(|f| f.iter().any(|f| f == FINALIZER))
}

/// Deletes everything in namespace `ns` and counts what is left.
async fn empty(ctx: &Context, ns: &str) -> Result<Pass, kube::Error> {
    let mut pass = Pass::default();
    let discovery = match Discovery::new(ctx.client.clone()).run().await {
        Ok(d) => d,
        Err(e) => {
            pass.discovery_errors.push(e.to_string());
            return Ok(pass);
        }
    };
    let mut resources: Vec<(ApiResource, bool)> = Vec::new();
    for group in discovery.groups() {
        for (ar, caps) in group.recommended_resources() {
            if !matches!(caps.scope, Scope::Namespaced)
                || !caps.supports_operation(verbs::LIST)
                || !caps.supports_operation(verbs::DELETE)
            {
                continue;
            }
            resources.push((ar, caps.supports_operation(verbs::DELETE_COLLECTION)));
        }
    }
    let background = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    for (ar, collection) in &resources {
        let id = resource_id(ar);
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, ar);
        let meta: Api<PartialObjectMeta<DynamicObject>> =
            Api::namespaced_with(ctx.client.clone(), ns, ar);
        let listed = match meta.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                pass.delete_errors.push(format!("{id}: {e}"));
                continue;
            }
        };
        let live: Vec<&PartialObjectMeta<DynamicObject>> = listed
            .iter()
            .filter(|o| o.metadata.deletion_timestamp.is_none())
            .collect();
        if !live.is_empty() {
            let deleted = if *collection {
                api.delete_collection(&background, &ListParams::default())
                    .await
                    .map(|_| ())
            } else {
                let mut r = Ok(());
                for o in &live {
                    match api.delete(&o.name_any(), &background).await {
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                        Ok(_) => {}
                    }
                }
                r
            };
            if let Err(e) = deleted {
                pass.delete_errors.push(format!("{id}: {e}"));
                continue;
            }
        }
        if listed.is_empty() {
            continue;
        }
        // What is left once the deletes went through.
        let left = match meta.list(&ListParams::default()).await {
            Ok(l) => l.items,
            Err(e) => {
                pass.delete_errors.push(format!("{id}: {e}"));
                continue;
            }
        };
        if left.is_empty() {
            continue;
        }
        pass.remaining.insert(id, left.len());
        for o in &left {
            for f in o.metadata.finalizers.iter().flatten() {
                *pass.finalizers.entry(f.clone()).or_default() += 1;
            }
        }
    }
    Ok(pass)
}

/// `resource.group`, as kube-controller-manager prints it (`pods.` for the
/// core group).
fn resource_id(ar: &ApiResource) -> String {
    format!("{}.{}", ar.plural, ar.group)
}

/// The five deletion conditions for `pass`: (type, status, reason, message).
fn conditions(pass: &Pass) -> Vec<(&'static str, bool, &'static str, String)> {
    let list = |m: &BTreeMap<String, usize>, f: &dyn Fn(&String, usize) -> String| {
        m.iter()
            .map(|(k, n)| f(k, *n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        if pass.discovery_errors.is_empty() {
            (
                "NamespaceDeletionDiscoveryFailure",
                false,
                "ResourcesDiscovered",
                "All resources successfully discovered".to_string(),
            )
        } else {
            (
                "NamespaceDeletionDiscoveryFailure",
                true,
                "DiscoveryFailed",
                format!(
                    "Discovery failed for some groups, {} failing: {}",
                    pass.discovery_errors.len(),
                    pass.discovery_errors.join(", ")
                ),
            )
        },
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".to_string(),
        ),
        if pass.delete_errors.is_empty() {
            (
                "NamespaceDeletionContentFailure",
                false,
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".to_string(),
            )
        } else {
            (
                "NamespaceDeletionContentFailure",
                true,
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    pass.delete_errors.len(),
                    pass.delete_errors.join(", ")
                ),
            )
        },
        if pass.remaining.is_empty() {
            (
                "NamespaceContentRemaining",
                false,
                "ContentRemoved",
                "All content successfully removed".to_string(),
            )
        } else {
            (
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                format!(
                    "Some resources are remaining: {}",
                    list(&pass.remaining, &|r, n| format!(
                        "{r} has {n} resource instances"
                    ))
                ),
            )
        },
        if pass.finalizers.is_empty() {
            (
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".to_string(),
            )
        } else {
            (
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    list(&pass.finalizers, &|f, n| format!(
                        "{f} in {n} resource instances"
                    ))
                ),
            )
        },
    ]
}

/// Writes the conditions if they changed (keeping a condition's
/// `lastTransitionTime` while its status stays).
async fn write_conditions(ctx: &Context, ns: &Namespace, pass: &Pass) -> Result<(), kube::Error> {
    let current = ns
        .status
        .as_ref()
        .and_then(|s| s.conditions.clone())
        .unwrap_or_default();
    let now = Timestamp::from_second(Timestamp::now().as_second())
        .unwrap_or_else(|_| Timestamp::now())
        .to_string();
    let mut changed = false;
    let wanted: Vec<Value> = conditions(pass)
        .into_iter()
        .map(|(kind, status, reason, message)| {
            let status = if status { "True" } else { "False" };
            let old = current.iter().find(|c| c.type_ == kind);
            let same = old.is_some_and(|c| {
                c.status == status
                    && c.reason.as_deref() == Some(reason)
                    && c.message.as_deref() == Some(message.as_str())
            });
            changed |= !same;
            let since = old
                .filter(|c| c.status == status)
                .and_then(|c| c.last_transition_time.as_ref())
                .map(|t| t.0.to_string())
                .unwrap_or_else(|| now.clone());
            json!({"type": kind, "status": status, "reason": reason,
                   "message": message, "lastTransitionTime": since})
        })
        .collect();
    let others = current
        .iter()
        .filter(|c| !wanted.iter().any(|w| w["type"] == c.type_.as_str()))
        .map(serde_json::to_value)
        .collect::<Result<Vec<Value>, _>>()
        .map_err(kube::Error::SerdeError)?;
    if !changed {
        return Ok(());
    }
    let mut all = others;
    all.extend(wanted);
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let patch = json!({"status": {"phase": "Terminating", "conditions": all}});
    match api
        .patch_status(
            &ns.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        r => r.map(|_| ()),
    }
}

/// Removes `kubernetes` from `spec.finalizers` through `finalize`.
async fn finalize(ctx: &Context, ns: &Namespace) -> Result<(), kube::Error> {
    let api: Api<Namespace> = Api::all(ctx.client.clone());
    let Some(live) = api.get_opt(&ns.name_any()).await? else {
        return Ok(());
    };
    let mut body = live.clone();
    let spec = body.spec.get_or_insert_with(Default::default);
    let kept: Vec<String> = spec
        .finalizers
        .take()
        .unwrap_or_default()
        .into_iter()
        .filter(|f| f != FINALIZER)
        .collect();
    spec.finalizers = Some(kept);
    match api
        .replace_subresource("finalize", &live.name_any(), &PostParams::default(), &body)
        .await
    {
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        r => r.map(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(
        c: &'a [(&'static str, bool, &'static str, String)],
        kind: &str,
    ) -> &'a (&'static str, bool, &'static str, String) {
        match c.iter().find(|c| c.0 == kind) {
            Some(found) => found,
            None => panic!("no {kind} condition"),
        }
    }

    #[test]
    fn a_namespace_with_content_left_is_looked_at_less_and_less_often() {
        let d: Vec<u128> = (1..=6).map(|n| recheck_after(n).as_millis()).collect();
        assert_eq!(d, [500, 1000, 2000, 4000, 8000, 8000]);
    }

    #[test]
    fn an_empty_namespace_has_every_condition_false() {
        let c = conditions(&Pass::default());
        assert_eq!(c.len(), 5);
        assert!(c.iter().all(|c| !c.1));
        assert_eq!(
            find(&c, "NamespaceContentRemaining").3,
            "All content successfully removed"
        );
    }

    #[test]
    fn remaining_content_and_finalizers_are_reported_as_kubernetes_words_them() {
        let pass = Pass {
            remaining: [
                ("configmaps.".to_string(), 1),
                ("widgets.example.com".to_string(), 2),
            ]
            .into(),
            finalizers: [("example.com/hold".to_string(), 1)].into(),
            ..Pass::default()
        };
        let c = conditions(&pass);
        let r = find(&c, "NamespaceContentRemaining");
        assert!(r.1);
        assert_eq!(r.2, "SomeResourcesRemain");
        assert_eq!(
            r.3,
            "Some resources are remaining: configmaps. has 1 resource instances, widgets.example.com has 2 resource instances"
        );
        let f = find(&c, "NamespaceFinalizersRemaining");
        assert_eq!(f.2, "SomeFinalizersRemain");
        assert_eq!(
            f.3,
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
    }

    #[test]
    fn core_resources_print_with_a_trailing_dot() {
        let ar = ApiResource {
            group: String::new(),
            version: "v1".into(),
            api_version: "v1".into(),
            kind: "Pod".into(),
            plural: "pods".into(),
        };
        assert_eq!(resource_id(&ar), "pods.");
    }
}
