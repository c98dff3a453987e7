//! The DaemonSet controller, as kube-controller-manager's
//! (`pkg/controller/daemon`): one pod per eligible node.
//!
//! - a node is eligible when the template's nodeSelector and required
//!   node affinity match it and its NoSchedule/NoExecute taints are
//!   tolerated; the template gets the DaemonSet controller's automatic
//!   tolerations (not-ready and unreachable NoExecute; disk-, memory-,
//!   pid-pressure and unschedulable NoSchedule; network-unavailable for
//!   hostNetwork pods). A node with an untolerated NoSchedule taint keeps
//!   the pod it has; an untolerated NoExecute taint, or a selector or
//!   affinity that no longer matches, has it deleted;
//! - pods are bound to their node through required node affinity
//!   `matchFields metadata.name In [node]` (the scheduler binds them), and
//!   labelled `controller-revision-hash` and `pod-template-generation`;
//! - updates through ControllerRevisions (`framework/history.rs`): `RollingUpdate`
//!   with `maxUnavailable` (delete old pods, at most that many nodes
//!   without an available pod) or `maxSurge` (a new pod next to the old
//!   one, the old deleted once the new is available); `OnDelete`;
//! - status: desiredNumberScheduled, currentNumberScheduled, numberReady,
//!   numberAvailable, numberUnavailable, updatedNumberScheduled,
//!   numberMisscheduled, observedGeneration, collisionCount.
//!
//! Pods bound to a node that no longer exists are deleted (Kubernetes
//! leaves them to the pod garbage collector, which rkube does not have).
//!
//! The decisions are `plan.rs` (pure, no I/O); `pods.rs` says which nodes
//! should run a daemon and builds its pod; `reconcile` and `sync` here
//! read the cluster and apply the plan.

mod plan;
mod pods;
mod sync;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use rkube_events::Recorder;
use tokio::task::JoinHandle;

use crate::framework::context::Context;
use crate::framework::expectations::Expectations;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::spawn_workers;
use crate::pods::controller_of;

pub const NAME: &str = "daemonset-controller";
const WORKERS: usize = 2;

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    expectations: Expectations,
    recorder: Recorder,
}

fn ds_owner(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Key> {
    let o = controller_of(meta)?;
    (o.kind == "DaemonSet")
        .then(|| Key::new(meta.namespace.clone().unwrap_or_default(), o.name.clone()))
}

/// Node changes that can change where daemons run.
fn node_moved(old: Option<&Node>, new: &Node) -> bool {
    let Some(old) = old else { return true };
    let taints = |n: &Node| n.spec.as_ref().and_then(|s| s.taints.clone());
    let unsched = |n: &Node| n.spec.as_ref().and_then(|s| s.unschedulable);
    old.metadata.labels != new.metadata.labels
        || taints(old) != taints(new)
        || unsched(old) != unsched(new)
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        expectations: Expectations::default(),
        recorder: ctx.recorder(NAME),
    });
    let queue = c.queue.clone();
    ctx.informers
        .daemonsets
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(d) => queue.add(Key::of(*d)),
        });
    let me = c.clone();
    ctx.informers
        .pods
        .on_change(move |change| me.pod_changed(change));
    let me = c.clone();
    ctx.informers.nodes.on_change(move |change| {
        let moved = match change {
            Change::Applied { old, new } => node_moved(old.as_deref(), new),
            Change::Deleted(_) => true,
        };
        if moved {
            for d in me.ctx.informers.daemonsets.store().state() {
                me.queue.add(Key::of(d.as_ref()));
            }
        }
    });
    let queue = c.queue.clone();
    ctx.informers.controllerrevisions.on_change(move |change| {
        let meta = match change {
            Change::Applied { new, .. } => &new.metadata,
            Change::Deleted(r) => &r.metadata,
        };
        if let Some(k) = ds_owner(meta) {
            queue.add(k);
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
                let owner = ds_owner(&new.metadata);
                if let Some(o) = &owner {
                    if old.is_none() {
                        self.expectations.creation_observed(o);
                    }
                    if new.metadata.deletion_timestamp.is_some() {
                        self.expectations
                            .deletion_observed(o, &new.uid().unwrap_or_default());
                    }
                    self.queue.add(o.clone());
                } else {
                    let ns = new.namespace().unwrap_or_default();
                    for d in self.ctx.informers.daemonsets.store().state() {
                        if d.namespace().as_deref() == Some(ns.as_str())
                            && label_selector_matches(
                                Some(&d.spec.selector),
                                new.metadata.labels.as_ref(),
                            )
                        {
                            self.queue.add(Key::of(d.as_ref()));
                        }
                    }
                }
                if let Some(o) = old.as_deref().and_then(|p| ds_owner(&p.metadata)) {
                    if Some(&o) != owner.as_ref() {
                        self.queue.add(o);
                    }
                }
            }
            Change::Deleted(pod) => {
                if let Some(o) = ds_owner(&pod.metadata) {
                    self.expectations
                        .deletion_observed(&o, &pod.uid().unwrap_or_default());
                    self.queue.add(o);
                }
            }
        }
    }
}
