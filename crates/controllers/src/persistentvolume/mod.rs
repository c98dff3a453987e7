//! The PersistentVolume controller, as kube-controller-manager's
//! `persistentvolume-binder` (`pkg/controller/volume/persistentvolume`):
//!
//! - claims: the default class assigned later to claims made without one
//!   before a default existed; binding to the smallest fitting Available
//!   volume (`rkube_apimachinery::matching::find_matching_volume`, no node;
//!   WaitForFirstConsumer classes bind only pre-bound volumes here, the
//!   scheduler binds the rest), pre-binding both ways (`spec.volumeName`
//!   set by the user, `claimRef` set by the user, the scheduler or a
//!   provisioner); `pv.kubernetes.io/bind-completed` and
//!   `pv.kubernetes.io/bound-by-controller` as Kubernetes sets them;
//!   phases Pending, Bound, Lost; `status.capacity` and `accessModes` from
//!   the volume; claims to provision get `volume.kubernetes.io/storage-provisioner`
//!   (and the beta key) with an `ExternalProvisioning` event, WaitForFirstConsumer
//!   claims without a selected node a `WaitForFirstConsumer` event, a
//!   missing class a `ProvisioningFailed` event;
//! - volumes: phases Pending→Available→Bound→Released→(Failed); reclaim
//!   Retain keeps, Delete deletes rkube's local-path volumes (the node's
//!   cleanup finalizer removes the directory) and leaves other
//!   provisioners' volumes to them;
//! - expansion (`decide_expand.rs`).
//!
//! Decisions are pure (`decide_claim.rs`, `decide_volume.rs`,
//! `decide_expand.rs`); `sync.rs` reads the caches and applies them.

mod decide_claim;
mod decide_expand;
mod decide_volume;
mod sync;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use rkube_events::Recorder;
use tokio::task::JoinHandle;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::spawn_workers;

pub const NAME: &str = "persistentvolume-binder-controller";
const WORKERS: usize = 4;

struct Controller {
    ctx: Arc<Context>,
    claims: Queue,
    volumes: Queue,
    recorder: Recorder,
}

/// The claim names no volume yet.
pub(crate) fn unbound(c: &PersistentVolumeClaim) -> bool {
    c.spec
        .as_ref()
        .and_then(|s| s.volume_name.as_deref())
        .unwrap_or("")
        .is_empty()
}

impl Controller {
    /// Queues every claim not bound yet (a class or a free volume came).
    fn queue_unbound_claims(&self) {
        for c in self.ctx.informers.persistentvolumeclaims.store().state() {
            if unbound(&c) {
                self.claims.add(Key::of(c.as_ref()));
            }
        }
    }
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        claims: Queue::default(),
        volumes: Queue::default(),
        recorder: ctx.recorder("persistentvolume-controller"),
    });
    let me = c.clone();
    ctx.informers
        .persistentvolumeclaims
        .on_change(move |change| {
            let claim = match change {
                Change::Applied { new, .. } => {
                    me.claims.add(Key::of(*new));
                    *new
                }
                Change::Deleted(c) => *c,
            };
            if let Some(v) = claim.spec.as_ref().and_then(|s| s.volume_name.as_ref()) {
                me.volumes.add(Key::new("", v.clone()));
            }
            if let Change::Deleted(c) = change {
                // Volumes reserved for it, bound or not.
                for v in me.ctx.informers.persistentvolumes.store().state() {
                    let r = v.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
                    if r.is_some_and(|r| {
                        r.name == c.metadata.name && r.namespace == c.metadata.namespace
                    }) {
                        me.volumes.add(Key::of(v.as_ref()));
                    }
                }
            }
        });
    let me = c.clone();
    ctx.informers.persistentvolumes.on_change(move |change| {
        let (volume, free) = match change {
            Change::Applied { old, new } => {
                let phase = |v: &k8s_openapi::api::core::v1::PersistentVolume| {
                    v.status.as_ref().and_then(|s| s.phase.clone())
                };
                let became_available = phase(new).as_deref() == Some("Available")
                    && old.as_deref().and_then(phase).as_deref() != Some("Available");
                (*new, became_available)
            }
            Change::Deleted(v) => (*v, false),
        };
        me.volumes.add(Key::of(volume));
        match volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
            Some(r) => me.claims.add(Key::new(
                r.namespace.clone().unwrap_or_default(),
                r.name.clone().unwrap_or_default(),
            )),
            None if free => me.queue_unbound_claims(),
            None => {}
        }
    });
    let me = c.clone();
    ctx.informers
        .storageclasses
        .on_change(move |_| me.queue_unbound_claims());
    let me = c.clone();
    let mut tasks = spawn_workers(NAME, c.claims.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.sync_claim(key).await }
    });
    let me = c.clone();
    tasks.extend(spawn_workers(
        NAME,
        c.volumes.clone(),
        WORKERS,
        move |key| {
            let me = me.clone();
            async move { me.sync_volume(key).await }
        },
    ));
    tasks
}
