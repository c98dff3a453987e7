//! The PVC protection controller, as kube-controller-manager's
//! `persistentvolumeclaim-protection-controller`: every claim carries
//! `kubernetes.io/pvc-protection`; a claim being deleted keeps it while a
//! scheduled pod that is not Succeeded or Failed uses it (as a
//! `persistentVolumeClaim` volume or as the claim of a generic ephemeral
//! volume, `<pod>-<volume>`), checked against the cache and then against
//! the API server, and loses it once none does.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, ListParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::storage::PVC_PROTECTION_FINALIZER;
use tokio::task::JoinHandle;
use tracing::info;

use crate::framework::context::Context;
use crate::framework::finalizer;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{claims_of, is_terminal};

pub const NAME: &str = "persistentvolumeclaim-protection-controller";
const WORKERS: usize = 2;

/// `pod` keeps `claim` from going: scheduled, not finished, using it.
pub(crate) fn uses(pod: &Pod, claim: &str) -> bool {
    let scheduled = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    scheduled && !is_terminal(pod) && claims_of(pod).iter().any(|c| c == claim)
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Add,
    /// Deleted: remove the finalizer unless a pod uses it.
    CheckUse,
    Keep,
}

pub(crate) fn decide(claim: &PersistentVolumeClaim) -> Step {
    let has = finalizer::has(claim, PVC_PROTECTION_FINALIZER);
    match (claim.metadata.deletion_timestamp.is_some(), has) {
        (false, false) => Step::Add,
        (true, true) => Step::CheckUse,
        _ => Step::Keep,
    }
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers
        .persistentvolumeclaims
        .on_change(move |change| {
            if let Change::Applied { new, .. } = change {
                if decide(new) != Step::Keep {
                    q.add(Key::of(*new));
                }
            }
        });
    let q = queue.clone();
    ctx.informers.pods.on_change(move |change| {
        // A pod gone or finished may free the claims it used.
        let pod = match change {
            Change::Deleted(p) => *p,
            Change::Applied { new, .. } if is_terminal(new) => *new,
            Change::Applied { .. } => return,
        };
        let ns = pod.namespace().unwrap_or_default();
        for c in claims_of(pod) {
            q.add(Key::new(ns.clone(), c));
        }
    });
    let ctx = ctx.clone();
    spawn_workers(NAME, queue, WORKERS, move |key| {
        let ctx = ctx.clone();
        async move { reconcile(&ctx, key).await }
    })
}

async fn reconcile(ctx: &Context, key: Key) -> Outcome {
    ctx.informers.pods.synced().await;
    let Some(claim) = ctx
        .informers
        .persistentvolumeclaims
        .store()
        .get(&ObjectRef::new(&key.name).within(&key.namespace))
    else {
        return Ok(None);
    };
    let api: Api<PersistentVolumeClaim> = Api::namespaced(ctx.client.clone(), &key.namespace);
    match decide(&claim) {
        Step::Add => finalizer::add(&api, claim.as_ref(), PVC_PROTECTION_FINALIZER).await?,
        Step::CheckUse => {
            let cached = ctx.informers.pods.store().state().into_iter().any(|p| {
                p.namespace().as_deref() == Some(key.namespace.as_str()) && uses(&p, &key.name)
            });
            if cached {
                return Ok(None);
            }
            // The cache may be behind: ask the API server before letting go.
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &key.namespace);
            let live = pods.list(&ListParams::default()).await?;
            if live.items.iter().any(|p| uses(p, &key.name)) {
                return Ok(None);
            }
            finalizer::remove(&api, claim.as_ref(), PVC_PROTECTION_FINALIZER).await?;
            info!(claim = %key, "no pod uses it: protection removed");
        }
        Step::Keep => {}
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(node: Option<&str>, phase: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "i"}],
                "volumes": [
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-web"}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
                        "spec": {"accessModes": ["ReadWriteOnce"]}}}}]},
            "status": {"phase": phase}
        }))
        .expect("pod")
    }

    #[test]
    fn running_scheduled_pods_keep_their_claims_directly_and_ephemerally() {
        let p = pod(Some("n1"), "Running");
        assert!(uses(&p, "data-web"));
        assert!(uses(&p, "web-scratch"));
        assert!(!uses(&p, "other"));
        assert!(!uses(&pod(Some("n1"), "Succeeded"), "data-web"));
        assert!(!uses(&pod(Some("n1"), "Failed"), "web-scratch"));
        // Not scheduled: the kubelet will refuse a claim being deleted.
        assert!(!uses(&pod(None, "Pending"), "data-web"));
    }

    #[test]
    fn the_finalizer_is_added_to_live_claims_and_checked_on_deleted_ones() {
        let claim = |deleting: bool, fin: bool| -> PersistentVolumeClaim {
            serde_json::from_value(json!({"metadata": {"name": "c",
                "deletionTimestamp": deleting.then_some("2026-01-01T00:00:00Z"),
                "finalizers": if fin { vec![PVC_PROTECTION_FINALIZER] } else { vec![] }}}))
            .expect("claim")
        };
        assert_eq!(decide(&claim(false, false)), Step::Add);
        assert_eq!(decide(&claim(true, true)), Step::CheckUse);
        assert_eq!(decide(&claim(false, true)), Step::Keep);
        assert_eq!(decide(&claim(true, false)), Step::Keep);
    }
}
