//! rkube's local-path provisioner (as k3s's local-path-provisioner, with
//! external-provisioner's events), for classes whose provisioner is
//! `rkube.io/local-path`: a claim the PV controller handed to it
//! (`volume.kubernetes.io/storage-provisioner`), unbound, with the node
//! the scheduler selected (WaitForFirstConsumer; Immediate classes are
//! refused) gets a PersistentVolume `pvc-<claim uid>` pre-bound to it,
//! with the node's affinity and a `hostPath` directory under the node's
//! published root (`plan.rs`). Real nodes get the cleanup finalizer (the
//! node removes the directory); simulated nodes a volume with no
//! directory anywhere. The PV controller binds the claim and, under
//! `Delete`, deletes the volume once released.

mod plan;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::storage::{claim_class, LOCAL_PATH_PROVISIONER, STORAGE_PROVISIONER};
use rkube_events::Recorder;
use tokio::task::JoinHandle;
use tracing::info;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use plan::{plan, volume_name, Plan};

pub const NAME: &str = "local-path-provisioner";
const WORKERS: usize = 4;
/// How soon a refused claim is tried again (free space or a class may
/// change).
const RETRY: Duration = Duration::from_secs(30);

struct Controller {
    ctx: Arc<Context>,
    recorder: Recorder,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        recorder: ctx.recorder(&format!("{LOCAL_PATH_PROVISIONER}_rkube")),
    });
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers
        .persistentvolumeclaims
        .on_change(move |change| {
            if let Change::Applied { new, .. } = change {
                let asked = new
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(STORAGE_PROVISIONER))
                    .map(String::as_str)
                    == Some(LOCAL_PATH_PROVISIONER);
                if asked && super::persistentvolume::unbound(new) {
                    q.add(Key::of(*new));
                }
            }
        });
    // The claim controller reads volumes and classes; start their watches.
    ctx.informers.persistentvolumes.on_change(|_| {});
    ctx.informers.storageclasses.on_change(|_| {});
    ctx.informers.nodes.on_change(|_| {});
    ctx.informers.csistoragecapacities.on_change(|_| {});
    spawn_workers(NAME, queue, WORKERS, move |key| {
        let c = c.clone();
        async move { c.reconcile(key).await }
    })
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        let i = &self.ctx.informers;
        i.persistentvolumeclaims.synced().await;
        i.persistentvolumes.synced().await;
        i.storageclasses.synced().await;
        i.nodes.synced().await;
        i.csistoragecapacities.synced().await;
        let Some(claim) = i
            .persistentvolumeclaims
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        if claim.metadata.deletion_timestamp.is_some() || !super::persistentvolume::unbound(&claim)
        {
            return Ok(None);
        }
        let Some(class) =
            claim_class(&claim).and_then(|n| i.storageclasses.store().get(&ObjectRef::new(n)))
        else {
            return Ok(None);
        };
        if class.provisioner != LOCAL_PATH_PROVISIONER {
            return Ok(None);
        }
        let name = volume_name(&claim);
        if i.persistentvolumes
            .store()
            .get(&ObjectRef::new(&name))
            .is_some()
        {
            return Ok(None);
        }
        let node = plan_node(&claim).and_then(|n| i.nodes.store().get(&ObjectRef::new(&n)));
        let caps: Vec<Arc<CSIStorageCapacity>> = i.csistoragecapacities.store().state();
        let caps: Vec<&CSIStorageCapacity> = caps.iter().map(|c| c.as_ref()).collect();
        let class_name = class.name_any();
        match plan(&claim, &class, node.as_deref(), &caps) {
            Plan::Wait => Ok(None),
            Plan::Refuse(why) => {
                self.recorder.warning(
                    claim.as_ref(),
                    "ProvisioningFailed",
                    &format!(
                        "failed to provision volume with StorageClass \"{class_name}\": {why}"
                    ),
                );
                Ok(Some(RETRY))
            }
            Plan::Create(pv) => {
                self.recorder.normal(
                    claim.as_ref(),
                    "Provisioning",
                    &format!("External provisioner is provisioning volume for claim \"{key}\""),
                );
                let api: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
                match api.create(&PostParams::default(), &pv).await {
                    Ok(_) => {}
                    Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => return Ok(None),
                    Err(e) => {
                        self.recorder.warning(
                            claim.as_ref(),
                            "ProvisioningFailed",
                            &format!(
                                "failed to provision volume with StorageClass \"{class_name}\": {e}"
                            ),
                        );
                        return Err(e.into());
                    }
                }
                info!(claim = %key, volume = %name, "volume provisioned");
                self.recorder.normal(
                    claim.as_ref(),
                    "ProvisioningSucceeded",
                    &format!("Successfully provisioned volume {name}"),
                );
                Ok(None)
            }
        }
    }
}

fn plan_node(claim: &PersistentVolumeClaim) -> Option<String> {
    claim
        .metadata
        .annotations
        .as_ref()?
        .get(rkube_apimachinery::storage::SELECTED_NODE)
        .cloned()
}
