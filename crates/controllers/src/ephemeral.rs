//! The ephemeral volume controller, as kube-controller-manager's
//! `ephemeral-volume-controller`: for each `ephemeral.volumeClaimTemplate`
//! volume of a pod, the claim `<pod>-<volume>` with the template's labels,
//! annotations and spec, controlled by the pod (`controller` and
//! `blockOwnerDeletion`), so the garbage collector removes it with the
//! pod. An existing claim of that name the pod does not control is left
//! as it is, with a warning event on the pod (the kubelet will not use
//! it).

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, PostParams};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_events::Recorder;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::info;

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::owner::owner_ref;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::controller_of;

pub const NAME: &str = "ephemeral-volume-controller";
const WORKERS: usize = 2;

/// The claims `pod` needs for its generic ephemeral volumes.
pub(crate) fn wanted_claims(pod: &Pod) -> Result<Vec<PersistentVolumeClaim>, serde_json::Error> {
    let mut out = Vec::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let Some(t) = v
            .ephemeral
            .as_ref()
            .and_then(|e| e.volume_claim_template.as_ref())
        else {
            continue;
        };
        let meta = t.metadata.clone().unwrap_or_default();
        out.push(serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {
                "name": format!("{}-{}", pod.name_any(), v.name),
                "namespace": pod.namespace(),
                "labels": meta.labels,
                "annotations": meta.annotations,
                "ownerReferences": [owner_ref(pod)],
            },
            "spec": t.spec,
        }))?);
    }
    Ok(out)
}

/// `claim` is `pod`'s (its controller is the pod).
pub(crate) fn owned_by(claim: &PersistentVolumeClaim, pod: &Pod) -> bool {
    controller_of(&claim.metadata).is_some_and(|o| Some(&o.uid) == pod.metadata.uid.as_ref())
}

fn has_ephemeral(pod: &Pod) -> bool {
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .any(|v| v.ephemeral.is_some())
}

struct Controller {
    ctx: Arc<Context>,
    recorder: Recorder,
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let queue = Queue::default();
    let q = queue.clone();
    ctx.informers.pods.on_change(move |change| {
        if let Change::Applied { new, .. } = change {
            if has_ephemeral(new) && new.metadata.deletion_timestamp.is_none() {
                q.add(Key::of(*new));
            }
        }
    });
    let q = queue.clone();
    ctx.informers
        .persistentvolumeclaims
        .on_change(move |change| {
            // A pod's claim deleted under it is made again.
            if let Change::Deleted(c) = change {
                if let Some(o) = controller_of(&c.metadata).filter(|o| o.kind == "Pod") {
                    q.add(Key::new(c.namespace().unwrap_or_default(), o.name.clone()));
                }
            }
        });
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        recorder: ctx.recorder(NAME),
    });
    spawn_workers(NAME, queue, WORKERS, move |key| {
        let c = c.clone();
        async move { c.reconcile(key).await }
    })
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        let i = &self.ctx.informers;
        i.persistentvolumeclaims.synced().await;
        let Some(pod) = i
            .pods
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        if pod.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(self.ctx.client.clone(), &key.namespace);
        for claim in wanted_claims(&pod)? {
            let name = claim.name_any();
            let existing = i
                .persistentvolumeclaims
                .store()
                .get(&ObjectRef::new(&name).within(&key.namespace));
            if let Some(e) = existing {
                if !owned_by(&e, &pod) {
                    self.recorder.warning(
                        pod.as_ref(),
                        "FailedBinding",
                        &format!(
                            "PVC {}/{name} was not created for pod {key} (pod is not owner)",
                            key.namespace
                        ),
                    );
                }
                continue;
            }
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => info!(pod = %key, claim = %name, "ephemeral claim created"),
                Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "pod-uid"},
            "spec": {"containers": [{"name": "c", "image": "i"}],
                "volumes": [
                    {"name": "cache", "emptyDir": {}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {
                        "metadata": {"labels": {"type": "scratch"},
                                     "annotations": {"note": "x"}},
                        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "local-path",
                                 "resources": {"requests": {"storage": "1Gi"}}}}}}]}
        }))
        .expect("pod")
    }

    #[test]
    fn each_ephemeral_volume_gets_a_claim_controlled_by_the_pod() {
        let p = pod();
        let claims = wanted_claims(&p).expect("claims");
        assert_eq!(claims.len(), 1);
        let c = &claims[0];
        assert_eq!(c.name_any(), "web-scratch");
        assert_eq!(c.namespace().as_deref(), Some("ns"));
        assert_eq!(c.labels().get("type").map(String::as_str), Some("scratch"));
        assert_eq!(c.annotations().get("note").map(String::as_str), Some("x"));
        let r = &c.owner_references()[0];
        assert_eq!((r.kind.as_str(), r.uid.as_str()), ("Pod", "pod-uid"));
        assert_eq!(r.controller, Some(true));
        assert_eq!(r.block_owner_deletion, Some(true));
        assert_eq!(
            c.spec
                .as_ref()
                .and_then(|s| s.storage_class_name.as_deref()),
            Some("local-path")
        );
        assert!(owned_by(c, &p));
    }

    #[test]
    fn a_claim_of_the_same_name_not_controlled_by_the_pod_is_not_the_pods() {
        let p = pod();
        let other: PersistentVolumeClaim = serde_json::from_value(json!({
            "metadata": {"name": "web-scratch", "namespace": "ns",
                "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "web",
                    "uid": "older-pod", "controller": true}]}
        }))
        .expect("claim");
        assert!(!owned_by(&other, &p));
        let orphan: PersistentVolumeClaim =
            serde_json::from_value(json!({"metadata": {"name": "web-scratch"}})).expect("claim");
        assert!(!owned_by(&orphan, &p));
    }
}
