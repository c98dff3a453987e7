//! The StatefulSet controller, as kube-controller-manager's
//! (`pkg/controller/statefulset`): pods with a stable identity.
//!
//! - pod `<set>-<ordinal>` for each ordinal in `[start, start+replicas)`
//!   (`spec.ordinals.start`), labelled `statefulset.kubernetes.io/pod-name`,
//!   `apps.kubernetes.io/pod-index` and `controller-revision-hash`, with
//!   `hostname` = its name and `subdomain` = `spec.serviceName`;
//! - a PersistentVolumeClaim `<claim>-<set>-<ordinal>` per
//!   volumeClaimTemplate, created before the pod and kept when the pod is
//!   deleted, so the pod made again at that ordinal gets the same claim
//!   (a claim still being deleted makes the pod wait);
//!   `persistentVolumeClaimRetentionPolicy` as Kubernetes applies it
//!   through owner references (`pods::claim_owner_refs`): `whenDeleted:
//!   Delete` makes the set the claim's controller, `whenScaled: Delete`
//!   makes a condemned pod its controller before the pod is deleted, and
//!   the garbage collector deletes the claim after its owner;
//! - `OrderedReady`: one pod at a time, lowest ordinal first, each Running
//!   and Ready (and available for minReadySeconds) before the next; scale
//!   down from the highest ordinal, one at a time. `Parallel`: all at once;
//! - updates through ControllerRevisions (`framework/history.rs`): `RollingUpdate`
//!   deletes outdated pods from the highest ordinal down to `partition`,
//!   at most `maxUnavailable` unavailable at once (the pod comes back at
//!   the update revision); `OnDelete` only recreates pods deleted by hand;
//! - status: replicas, readyReplicas, availableReplicas, currentReplicas,
//!   updatedReplicas, current/updateRevision, observedGeneration,
//!   collisionCount.
//!
//! The decisions are `plan.rs` (pure, no I/O); `pods.rs` builds the pods
//! and claims; `reconcile` here reads the cluster and applies the plan.

mod plan;
mod pods;
mod sync;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use rkube_events::Recorder;
use tokio::task::JoinHandle;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::spawn_workers;
use crate::pods::controller_of;

pub const NAME: &str = "statefulset-controller";
const WORKERS: usize = 5;

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    recorder: Recorder,
}

fn set_owner(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Key> {
    let o = controller_of(meta)?;
    (o.kind == "StatefulSet")
        .then(|| Key::new(meta.namespace.clone().unwrap_or_default(), o.name.clone()))
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        recorder: ctx.recorder(NAME),
    });
    let queue = c.queue.clone();
    ctx.informers
        .statefulsets
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(s) => queue.add(Key::of(*s)),
        });
    let me = c.clone();
    ctx.informers
        .pods
        .on_change(move |change| me.pod_changed(change));
    let queue = c.queue.clone();
    ctx.informers.controllerrevisions.on_change(move |change| {
        let meta = match change {
            Change::Applied { new, .. } => &new.metadata,
            Change::Deleted(r) => &r.metadata,
        };
        if let Some(k) = set_owner(meta) {
            queue.add(k);
        }
    });
    let queue = c.queue.clone();
    ctx.informers
        .persistentvolumeclaims
        .on_change(move |change| {
            // Claims a set owns (retention policy Delete) bring it back.
            if let Change::Deleted(pvc) = change {
                for o in pvc.owner_references() {
                    if o.kind == "StatefulSet" {
                        queue.add(Key::new(
                            pvc.namespace().unwrap_or_default(),
                            o.name.clone(),
                        ));
                    }
                }
            }
        });
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

impl Controller {
    fn pod_changed(&self, change: &Change<'_, Pod>) {
        match change {
            Change::Applied { old, new } => {
                let owner = set_owner(&new.metadata);
                if let Some(o) = &owner {
                    self.queue.add(o.clone());
                }
                if let Some(o) = old.as_deref().and_then(|p| set_owner(&p.metadata)) {
                    if Some(&o) != owner.as_ref() {
                        self.queue.add(o);
                    }
                }
                if owner.is_none() {
                    let ns = new.namespace().unwrap_or_default();
                    for s in self.ctx.informers.statefulsets.store().state() {
                        if s.namespace().as_deref() == Some(ns.as_str())
                            && label_selector_matches(
                                Some(&s.spec.selector),
                                new.metadata.labels.as_ref(),
                            )
                        {
                            self.queue.add(Key::of(s.as_ref()));
                        }
                    }
                }
            }
            Change::Deleted(pod) => {
                if let Some(o) = set_owner(&pod.metadata) {
                    self.queue.add(o);
                }
            }
        }
    }
}
