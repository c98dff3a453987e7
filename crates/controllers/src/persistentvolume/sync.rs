//! The PV controller's passes over one claim and one volume: read the
//! caches, decide (`decide_*.rs`), write what changed — the volume side of
//! a binding first, then the claim's, each guarded by the object's
//! resourceVersion, as Kubernetes orders them.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::storage::{
    claim_class, BETA_STORAGE_PROVISIONER, BIND_COMPLETED, BOUND_BY_CONTROLLER, STORAGE_PROVISIONER,
};
use serde_json::{json, Value};
use tracing::{debug, info};

use super::decide_claim::{self, ClaimStep};
use super::decide_expand::{self, ExpandStep};
use super::decide_volume::{self, VolumeStep};
use super::Controller;
use crate::framework::error::ControllerError;
use crate::framework::queue::Key;
use crate::framework::runner::Outcome;
use crate::framework::status::merge_status;

fn annotation<'a>(meta: &'a kube::api::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn claim_phase(c: &PersistentVolumeClaim) -> &str {
    c.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn volume_phase(v: &PersistentVolume) -> &str {
    v.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

/// A merge patch; a 404 is `None` (the object went away).
async fn patch<K>(api: &Api<K>, name: &str, body: Value) -> Result<Option<K>, ControllerError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api
        .patch(name, &PatchParams::default(), &Patch::Merge(&body))
        .await
    {
        Ok(o) => Ok(Some(o)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl Controller {
    async fn synced(&self) {
        let i = &self.ctx.informers;
        i.persistentvolumeclaims.synced().await;
        i.persistentvolumes.synced().await;
        i.storageclasses.synced().await;
    }

    fn classes(&self) -> Vec<Arc<StorageClass>> {
        self.ctx.informers.storageclasses.store().state()
    }

    /// The pods of the claim's namespace that use it and are not
    /// scheduled yet (`namespace/name`, sorted).
    fn unscheduled_pods_using(&self, claim: &Key) -> Vec<String> {
        let mut out: Vec<String> = self
            .ctx
            .informers
            .pods
            .store()
            .state()
            .iter()
            .filter(|p| p.metadata.namespace.as_deref() == Some(claim.namespace.as_str()))
            .filter(|p| {
                p.spec
                    .as_ref()
                    .is_some_and(|s| s.node_name.as_deref().unwrap_or("").is_empty())
            })
            .filter(|p| crate::pods::claims_of(p).contains(&claim.name))
            .map(|p| format!("{}/{}", claim.namespace, p.name_any()))
            .collect();
        out.sort();
        out
    }

    pub(super) async fn sync_claim(&self, key: Key) -> Outcome {
        self.synced().await;
        let Some(claim) = self
            .ctx
            .informers
            .persistentvolumeclaims
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        let volumes = self.ctx.informers.persistentvolumes.store().state();
        let vrefs: Vec<&PersistentVolume> = volumes.iter().map(|v| v.as_ref()).collect();
        let classes = self.classes();
        let crefs: Vec<&StorageClass> = classes.iter().map(|c| c.as_ref()).collect();
        let api: Api<PersistentVolumeClaim> =
            Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let waiting = self.unscheduled_pods_using(&key);
        match decide_claim::decide(&claim, &vrefs, &crefs, &waiting) {
            ClaimStep::Nothing => {}
            ClaimStep::AssignDefaultClass(class) => {
                info!(claim = %key, %class, "assigning the default StorageClass");
                patch(
                    &api,
                    &key.name,
                    json!({"metadata": {"resourceVersion": claim.resource_version()},
                           "spec": {"storageClassName": class}}),
                )
                .await?;
            }
            ClaimStep::Bind(volume) => {
                let Some(v) = vrefs
                    .iter()
                    .find(|v| v.metadata.name.as_deref() == Some(volume.as_str()))
                else {
                    return Ok(None);
                };
                let was_bound = claim_phase(&claim) == "Bound";
                let Some((claim, volume)) = self.bind(&api, &claim, v).await? else {
                    return Ok(None);
                };
                if was_bound {
                    let class = claim_class(&claim)
                        .and_then(|n| crefs.iter().find(|c| c.metadata.name.as_deref() == Some(n)))
                        .copied();
                    self.expand(&api, &claim, &volume, class).await?;
                }
            }
            ClaimStep::Pending { event, provisioner } => {
                if let Some(p) = provisioner {
                    if annotation(&claim.metadata, STORAGE_PROVISIONER) != Some(p.as_str()) {
                        patch(
                            &api,
                            &key.name,
                            json!({"metadata": {"annotations": {
                                STORAGE_PROVISIONER: p, BETA_STORAGE_PROVISIONER: p}}}),
                        )
                        .await?;
                    }
                }
                if let Some(e) = event {
                    e.record(&self.recorder, claim.as_ref());
                }
                if claim_phase(&claim) != "Pending" {
                    self.claim_status(&api, &key.name, json!({"phase": "Pending"}))
                        .await?;
                }
            }
            ClaimStep::Lost(e) => {
                if claim_phase(&claim) != "Lost" {
                    e.record(&self.recorder, claim.as_ref());
                    self.claim_status(&api, &key.name, json!({"phase": "Lost"}))
                        .await?;
                }
            }
        }
        Ok(None)
    }

    async fn claim_status(
        &self,
        api: &Api<PersistentVolumeClaim>,
        name: &str,
        status: Value,
    ) -> Result<(), ControllerError> {
        match merge_status(api, name, status).await {
            Err(ControllerError::Kube(kube::Error::Api(s))) if s.code == 404 => Ok(()),
            r => r,
        }
    }

    async fn volume_status(&self, name: &str, status: Value) -> Result<(), ControllerError> {
        let api: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        match merge_status(&api, name, status).await {
            Err(ControllerError::Kube(kube::Error::Api(s))) if s.code == 404 => Ok(()),
            r => r,
        }
    }

    async fn volume_phase(&self, name: &str, phase: &str, message: Option<&str>) -> Outcome {
        debug!(volume = name, phase, "volume phase");
        self.volume_status(
            name,
            json!({"phase": phase, "message": message,
                   "lastPhaseTransitionTime": rkube_events::now()}),
        )
        .await?;
        Ok(None)
    }

    /// Binds `claim` and `volume` both ways; the two as written (`None` if
    /// one went away).
    async fn bind(
        &self,
        api: &Api<PersistentVolumeClaim>,
        claim: &PersistentVolumeClaim,
        volume: &PersistentVolume,
    ) -> Result<Option<(PersistentVolumeClaim, PersistentVolume)>, ControllerError> {
        let vname = volume.name_any();
        let vapi: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        let mut volume = volume.clone();
        let vref = volume.spec.as_ref().and_then(|s| s.claim_ref.as_ref());
        let ref_done = vref.is_some_and(|r| {
            r.uid.is_some()
                && r.uid == claim.metadata.uid
                && r.name == claim.metadata.name
                && r.namespace == claim.metadata.namespace
        });
        if !ref_done {
            let mut meta = json!({"resourceVersion": volume.resource_version()});
            if vref.is_none() {
                meta["annotations"] = json!({BOUND_BY_CONTROLLER: "yes"});
            }
            let body = json!({"metadata": meta, "spec": {"claimRef": {
                "kind": "PersistentVolumeClaim", "apiVersion": "v1",
                "namespace": claim.namespace(), "name": claim.name_any(),
                "uid": claim.uid(), "resourceVersion": claim.resource_version()}}});
            match patch(&vapi, &vname, body).await? {
                Some(v) => volume = v,
                None => return Ok(None),
            }
            info!(volume = %vname, claim = %Key::of(claim), "volume bound to claim");
        }
        if volume_phase(&volume) != "Bound" {
            self.volume_status(
                &vname,
                json!({"phase": "Bound", "lastPhaseTransitionTime": rkube_events::now()}),
            )
            .await?;
        }
        let mut claim = claim.clone();
        let named = claim.spec.as_ref().and_then(|s| s.volume_name.as_deref());
        if named != Some(vname.as_str()) || annotation(&claim.metadata, BIND_COMPLETED).is_none() {
            let mut ann = json!({BIND_COMPLETED: "yes"});
            if named.unwrap_or("").is_empty() {
                ann[BOUND_BY_CONTROLLER] = json!("yes");
            }
            let body = json!({"metadata": {"resourceVersion": claim.resource_version(),
                "annotations": ann}, "spec": {"volumeName": vname}});
            match patch(api, &claim.name_any(), body).await? {
                Some(c) => claim = c,
                None => return Ok(None),
            }
        }
        let vspec = volume.spec.clone().unwrap_or_default();
        let status = claim.status.clone().unwrap_or_default();
        let mut want = serde_json::Map::new();
        if status.phase.as_deref() != Some("Bound") {
            want.insert("phase".into(), json!("Bound"));
        }
        if status.access_modes != vspec.access_modes {
            want.insert("accessModes".into(), json!(vspec.access_modes));
        }
        if status.capacity.is_none() || status.phase.as_deref() != Some("Bound") {
            want.insert("capacity".into(), json!(vspec.capacity));
        }
        if !want.is_empty() {
            self.claim_status(api, &claim.name_any(), Value::Object(want))
                .await?;
        }
        Ok(Some((claim, volume)))
    }

    async fn expand(
        &self,
        api: &Api<PersistentVolumeClaim>,
        claim: &PersistentVolumeClaim,
        volume: &PersistentVolume,
        class: Option<&StorageClass>,
    ) -> Result<(), ControllerError> {
        let vname = volume.name_any();
        let size = match decide_expand::decide(claim, volume, class) {
            ExpandStep::Nothing => return Ok(()),
            ExpandStep::External => {
                self.recorder.normal(
                    claim,
                    "ExternalExpanding",
                    "waiting for an external controller to expand this PVC",
                );
                return Ok(());
            }
            ExpandStep::Expand(size) => {
                self.recorder.normal(
                    claim,
                    "Resizing",
                    &format!("External resizer is resizing volume {vname}"),
                );
                self.claim_status(
                    api,
                    &claim.name_any(),
                    json!({"allocatedResources": {"storage": size},
                           "conditions": [{"type": "Resizing", "status": "True",
                                           "lastTransitionTime": rkube_events::now()}]}),
                )
                .await?;
                let vapi: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
                patch(
                    &vapi,
                    &vname,
                    json!({"spec": {"capacity": {"storage": size}}}),
                )
                .await?;
                size
            }
            ExpandStep::Finish(size) => size,
        };
        self.claim_status(
            api,
            &claim.name_any(),
            json!({"capacity": {"storage": size}, "allocatedResources": {"storage": size},
                   "conditions": null, "allocatedResourceStatuses": null}),
        )
        .await?;
        self.recorder
            .normal(claim, "VolumeResizeSuccessful", "Resize volume succeeded");
        info!(claim = %Key::of(claim), volume = %vname, %size, "volume expanded");
        Ok(())
    }

    pub(super) async fn sync_volume(&self, key: Key) -> Outcome {
        self.synced().await;
        let Some(volume) = self
            .ctx
            .informers
            .persistentvolumes
            .store()
            .get(&ObjectRef::new(&key.name))
        else {
            return Ok(None);
        };
        let claim_key = volume
            .spec
            .as_ref()
            .and_then(|s| s.claim_ref.as_ref())
            .map(|r| {
                Key::new(
                    r.namespace.clone().unwrap_or_default(),
                    r.name.clone().unwrap_or_default(),
                )
            });
        let claim = claim_key.as_ref().and_then(|k| {
            self.ctx
                .informers
                .persistentvolumeclaims
                .store()
                .get(&ObjectRef::new(&k.name).within(&k.namespace))
        });
        let vapi: Api<PersistentVolume> = Api::all(self.ctx.client.clone());
        match decide_volume::decide(&volume, claim.as_deref()) {
            VolumeStep::Nothing => Ok(None),
            VolumeStep::Phase(p) => self.volume_phase(&key.name, p, None).await,
            VolumeStep::QueueClaim => {
                if let Some(k) = claim_key {
                    self.claims.add(k);
                }
                Ok(None)
            }
            VolumeStep::Unbind => {
                let body = if annotation(&volume.metadata, BOUND_BY_CONTROLLER).is_some() {
                    json!({"metadata": {"resourceVersion": volume.resource_version(),
                        "annotations": {BOUND_BY_CONTROLLER: null}}, "spec": {"claimRef": null}})
                } else {
                    json!({"metadata": {"resourceVersion": volume.resource_version()},
                        "spec": {"claimRef": {"uid": null, "resourceVersion": null}}})
                };
                info!(volume = %key.name, "claim bound elsewhere; volume unbound");
                if patch(&vapi, &key.name, body).await?.is_some() {
                    return self.volume_phase(&key.name, "Available", None).await;
                }
                Ok(None)
            }
            VolumeStep::Release => {
                // The cache may be behind: ask the API server.
                if let Some(k) = &claim_key {
                    let capi: Api<PersistentVolumeClaim> =
                        Api::namespaced(self.ctx.client.clone(), &k.namespace);
                    let live = capi.get_opt(&k.name).await?;
                    let ref_uid = volume
                        .spec
                        .as_ref()
                        .and_then(|s| s.claim_ref.as_ref())
                        .and_then(|r| r.uid.clone());
                    if live.is_some_and(|c| c.metadata.uid == ref_uid) {
                        self.claims.add(k.clone());
                        return Ok(Some(std::time::Duration::from_secs(1)));
                    }
                }
                info!(volume = %key.name, "claim gone; volume released");
                self.volume_phase(&key.name, "Released", None).await
            }
            VolumeStep::Delete => {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: volume.uid(),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match vapi.delete(&key.name, &dp).await {
                    Ok(_) => {
                        info!(volume = %key.name, "released volume deleted (reclaim policy Delete)");
                        Ok(None)
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(None),
                    Err(e) => {
                        let msg = format!("error deleting volume: {e}");
                        self.recorder
                            .warning(volume.as_ref(), "VolumeFailedDelete", &msg);
                        self.volume_phase(&key.name, "Failed", Some(msg.as_str()))
                            .await
                    }
                }
            }
            VolumeStep::Fail(e) => {
                e.record(&self.recorder, volume.as_ref());
                self.volume_phase(&key.name, "Failed", Some(e.message.as_str()))
                    .await
            }
        }
    }
}
