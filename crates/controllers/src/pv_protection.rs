//! The PV protection controller, as kube-controller-manager's
//! `persistentvolume-protection-controller`: every volume carries
//! `kubernetes.io/pv-protection`; a volume being deleted keeps it while a
//! claim is bound to it (phase Bound) and loses it once none is.

use std::sync::Arc;

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::api::Api;
use kube::runtime::reflector::ObjectRef;
use rkube_apimachinery::storage::PV_PROTECTION_FINALIZER;
use tokio::task::JoinHandle;
use tracing::info;

use crate::framework::context::Context;
use crate::framework::finalizer;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};

pub const NAME: &str = "persistentvolume-protection-controller";
const WORKERS: usize = 2;

/// What to do with a volume's finalizer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Add,
    Remove,
    Keep,
}

/// Kubernetes' rule: add to live volumes, remove from deleted ones no
/// claim is bound to.
pub(crate) fn decide(volume: &PersistentVolume) -> Step {
    let has = finalizer::has(volume, PV_PROTECTION_FINALIZER);
    let deleting = volume.metadata.deletion_timestamp.is_some();
    let bound = volume.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
    match (deleting, has) {
        (false, false) => Step::Add,
        (true, true) if !bound => Step::Remove,
        _ => Step::Keep,
    }
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers.persistentvolumes.on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if decide(new) != Step::Keep {
                q.add(Key::of(*new));
            }
        }
    });
    let ctx = ctx.clone();
    spawn_workers(NAME, queue, WORKERS, move |key| {
        let ctx = ctx.clone();
        async move { reconcile(&ctx, key).await }
    })
}

async fn reconcile(ctx: &Context, key: Key) -> Outcome {
    let Some(volume) = ctx
        .informers
        .persistentvolumes
        .store()
        .get(&ObjectRef::new(&key.name))
    else {
        return Ok(None);
    };
    let api: Api<PersistentVolume> = Api::all(ctx.client.clone());
    match decide(&volume) {
        Step::Add => finalizer::add(&api, volume.as_ref(), PV_PROTECTION_FINALIZER).await?,
        Step::Remove => {
            finalizer::remove(&api, volume.as_ref(), PV_PROTECTION_FINALIZER).await?;
            info!(volume = %key, "no claim bound: protection removed");
        }
        Step::Keep => {}
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pv(deleting: bool, fin: bool, phase: &str) -> PersistentVolume {
        serde_json::from_value(json!({
            "metadata": {"name": "v",
                "deletionTimestamp": deleting.then_some("2026-01-01T00:00:00Z"),
                "finalizers": if fin { vec![PV_PROTECTION_FINALIZER] } else { vec![] }},
            "spec": {}, "status": {"phase": phase}
        }))
        .expect("pv")
    }

    #[test]
    fn a_deleted_volume_keeps_its_finalizer_while_bound() {
        assert_eq!(decide(&pv(true, true, "Bound")), Step::Keep);
        assert_eq!(decide(&pv(true, true, "Released")), Step::Remove);
        assert_eq!(decide(&pv(true, true, "Available")), Step::Remove);
        assert_eq!(decide(&pv(false, false, "Available")), Step::Add);
        assert_eq!(decide(&pv(false, true, "Bound")), Step::Keep);
        assert_eq!(decide(&pv(true, false, "Bound")), Step::Keep);
    }
}
