//! The Deployment controller: rolls a Deployment's pod template out
//! through ReplicaSets it owns, as kube-controller-manager's does.
//!
//! - claims ReplicaSets: adopts orphans its selector matches, releases
//!   owned ones it no longer matches;
//! - the new ReplicaSet (template equal to the Deployment's but for the
//!   `pod-template-hash` label) is `<deployment>-<hash>`; it and its pods
//!   carry the hash label; revisions, desired and max replicas are
//!   annotations; an old ReplicaSet whose template comes back (`kubectl
//!   rollout undo`) becomes new again with the next revision;
//! - RollingUpdate (maxSurge, maxUnavailable) and Recreate; proportional
//!   scaling when the size changes mid-rollout; `spec.paused`;
//!   revisionHistoryLimit; progressDeadlineSeconds;
//! - status with the Available and Progressing conditions that `kubectl
//!   rollout status` reads, and `ScalingReplicaSet` events.
//!
//! Where to start: `start` wires the informers to the queue, `reconcile`
//! claims the ReplicaSets and hands over to `pass.rs` (one pass over one
//! Deployment, the only part doing I/O beyond claiming); `util.rs` and
//! `status.rs` are the arithmetic, without I/O.

mod pass;
mod status;
mod util;

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use rkube_events::Recorder;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::framework::claim::Claimer;
use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::owner::owner_ref;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::controller_of;
use crate::ControllerError;

pub const NAME: &str = "deployment-controller";
/// Changes of a Deployment's ReplicaSets within this window make one
/// reconcile.
const RS_BURST_WINDOW: std::time::Duration = std::time::Duration::from_millis(50);
const WORKERS: usize = 5;

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    recorder: Recorder,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        recorder: ctx.recorder(NAME),
    });
    let queue = c.queue.clone();
    ctx.informers
        .deployments
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(d) => queue.add(Key::of(*d)),
        });
    let me = c.clone();
    ctx.informers
        .replicasets
        .on_change(move |change| me.rs_changed(change));
    let me = c.clone();
    ctx.informers
        .pods
        .on_change(move |change| me.pod_changed(change));
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

/// The Deployment controlling `rs`, if one does.
fn deployment_owner(rs: &ReplicaSet) -> Option<Key> {
    let o = controller_of(&rs.metadata)?;
    (o.kind == "Deployment").then(|| Key::new(rs.namespace().unwrap_or_default(), o.name.clone()))
}

/// The selector selects nothing in particular (all pods).
fn selects_everything(d: &Deployment) -> bool {
    let s = &d.spec.selector;
    s.match_labels.as_ref().is_none_or(|m| m.is_empty())
        && s.match_expressions.as_ref().is_none_or(|e| e.is_empty())
}

impl Controller {
    fn rs_changed(&self, change: &Change<'_, ReplicaSet>) {
        match change {
            Change::Applied { old, new } => {
                let owner = deployment_owner(new);
                let old_owner = old.as_deref().and_then(deployment_owner);
                if let Some(o) = old_owner.filter(|o| Some(o) != owner.as_ref()) {
                    self.queue.add(o);
                }
                if let Some(o) = owner {
                    // ReplicaSet status moves with every pod: one reconcile
                    // per burst.
                    self.queue.add_coalesced(o, RS_BURST_WINDOW);
                    return;
                }
                // An orphan: the Deployments that may adopt it.
                let moved = old.as_deref().is_none_or(|o| {
                    o.metadata.labels != new.metadata.labels || controller_of(&o.metadata).is_some()
                });
                if moved {
                    self.enqueue_matching(new);
                }
            }
            Change::Deleted(rs) => {
                if let Some(o) = deployment_owner(rs) {
                    self.queue.add(o);
                }
            }
        }
    }

    fn enqueue_matching(&self, rs: &ReplicaSet) {
        let ns = rs.namespace();
        for d in self.ctx.informers.deployments.store().state() {
            if d.namespace() == ns
                && !selects_everything(&d)
                && label_selector_matches(Some(&d.spec.selector), rs.metadata.labels.as_ref())
            {
                self.queue.add(Key::of(d.as_ref()));
            }
        }
    }

    /// Pods going away matter to Recreate (no new pods before the old are
    /// gone) and to terminatingReplicas.
    fn pod_changed(&self, change: &Change<'_, Pod>) {
        let pod = match change {
            Change::Applied { old, new } => {
                let started_terminating = new.metadata.deletion_timestamp.is_some()
                    && old
                        .as_deref()
                        .is_none_or(|o| o.metadata.deletion_timestamp.is_none());
                if !started_terminating {
                    return;
                }
                *new
            }
            Change::Deleted(pod) => *pod,
        };
        let Some(o) = controller_of(&pod.metadata).filter(|o| o.kind == "ReplicaSet") else {
            return;
        };
        let ns = pod.namespace().unwrap_or_default();
        let rs = self
            .ctx
            .informers
            .replicasets
            .store()
            .get(&ObjectRef::new(&o.name).within(&ns));
        if let Some(d) = rs.as_deref().and_then(deployment_owner) {
            self.queue.add(d);
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(d) = self
            .ctx
            .informers
            .deployments
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        let d = (*d).clone();
        if selects_everything(&d) {
            self.recorder.warning(
                &d,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required.",
            );
            let observed = d.status.as_ref().and_then(|s| s.observed_generation);
            if observed < d.metadata.generation {
                let api: Api<Deployment> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
                api.patch_status(
                    &key.name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": {"observedGeneration": d.metadata.generation}})),
                )
                .await?;
            }
            return Ok(None);
        }
        let rss = self.claim(&d, &key).await?;
        pass::Pass::new(&self.ctx, &self.recorder, d, rss)
            .run()
            .await
    }

    /// The ReplicaSets `d` owns, after adopting the orphans its selector
    /// matches and releasing the owned ones it no longer matches
    /// (`ClaimReplicaSets`).
    async fn claim(&self, d: &Deployment, key: &Key) -> Result<Vec<ReplicaSet>, ControllerError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        // Another controller's ReplicaSets are not matched against the
        // selector (with a thousand Deployments in a namespace, that is
        // nearly all of them).
        let claimer = Claimer {
            owner: owner_ref(d),
            owner_deleting: d.metadata.deletion_timestamp.is_some(),
            namespace: &key.namespace,
        };
        let owned = claimer
            .claim(&api, self.ctx.informers.replicasets.store().state(), |rs| {
                label_selector_matches(Some(&d.spec.selector), rs.metadata.labels.as_ref())
            })
            .await?;
        // An adopted one is as the adoption wrote it, so later writes have
        // its new version.
        let owned = owned.into_iter().map(Arc::unwrap_or_clone).collect();
        Ok(owned)
    }
}
