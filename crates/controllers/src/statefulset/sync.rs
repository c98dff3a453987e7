//! The StatefulSet controller's pass over one set: claims its pods, finds
//! its revisions, asks `plan` what to do, and applies it (creates pods and
//! their claims, deletes pods, truncates history, writes status).

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use serde_json::{json, Value};
use tracing::debug;

use super::plan::{ordinal_of, plan, scaled, Action, PodView, SetView};
use super::pods::{claim_owner_refs, claims, new_pod, pod_view};
use super::Controller;
use crate::framework::claim::Claimer;
use crate::framework::error::ControllerError;
use crate::framework::history::{self, REVISION_HASH_LABEL};
use crate::framework::owner::owner_ref;
use crate::framework::queue::Key;
use crate::framework::runner::Outcome;
use crate::framework::status::merge_status;

impl Controller {
    pub(super) async fn reconcile(&self, key: Key) -> Outcome {
        // Decide only on full caches (a pod not listed yet is not missing).
        self.ctx.informers.pods.synced().await;
        self.ctx.informers.controllerrevisions.synced().await;
        self.ctx.informers.persistentvolumeclaims.synced().await;
        let Some(set) = self
            .ctx
            .informers
            .statefulsets
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        if set.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let spec = set.spec.clone();
        let uid = set.uid().unwrap_or_default();
        let pods_api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let revs_api: Api<ControllerRevision> =
            Api::namespaced(self.ctx.client.clone(), &key.namespace);

        // Pods: owned, adopted orphans that match and are named as ours
        // (`isMemberOf`).
        let candidates = self
            .ctx
            .pods_controlled_by(&uid)
            .into_iter()
            .chain(self.ctx.orphan_pods_in(&key.namespace));
        let claimer = Claimer {
            owner: owner_ref(set.as_ref()),
            owner_deleting: false,
            namespace: &key.namespace,
        };
        let claimed = claimer
            .claim(&pods_api, candidates, |p| {
                label_selector_matches(Some(&spec.selector), p.metadata.labels.as_ref())
                    && ordinal_of(&key.name, &p.name_any()).is_some()
            })
            .await?;
        let pods: BTreeMap<i32, Arc<Pod>> = claimed
            .into_iter()
            .filter_map(|p| Some((ordinal_of(&key.name, &p.name_any())?, p)))
            .collect();

        // Revisions.
        let revs = history::owned(&self.ctx, &key.namespace, &uid);
        let status = set.status.clone().unwrap_or_default();
        let set_api: Api<StatefulSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let (update_rev, collision_count) = history::current_recording_collisions(
            &revs_api,
            &set_api,
            set.as_ref(),
            &spec.template,
            &revs,
            status.collision_count,
        )
        .await?;
        let update_name = update_rev.name_any();
        let current_rev = status
            .current_revision
            .as_ref()
            .and_then(|n| revs.iter().find(|r| &r.name_any() == n))
            .map(|r| r.as_ref().clone())
            .unwrap_or_else(|| update_rev.clone());
        let current_name = current_rev.name_any();

        let strategy = spec.update_strategy.clone().unwrap_or_default();
        let rolling = strategy.type_.as_deref().unwrap_or("RollingUpdate") == "RollingUpdate";
        let ru = strategy.rolling_update.clone().unwrap_or_default();
        let replicas = spec.replicas.unwrap_or(1).max(0);
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let now = Timestamp::now();
        let view = SetView {
            start: spec
                .ordinals
                .as_ref()
                .and_then(|o| o.start)
                .unwrap_or(0)
                .max(0),
            replicas,
            parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
            rolling,
            partition: ru.partition.unwrap_or(0),
            max_unavailable: scaled(ru.max_unavailable.as_ref(), replicas),
            update_revision: update_name.clone(),
        };
        let views: BTreeMap<i32, PodView> = pods
            .iter()
            .map(|(o, p)| (*o, pod_view(p, min_ready, now)))
            .collect();

        // Status first, from what is there now (as Kubernetes does).
        let waiting_for_min_ready = self
            .write_status(
                &set,
                &key,
                &views,
                &current_name,
                &update_name,
                collision_count,
            )
            .await?;

        // Claims' owners follow the retention policy (before any pod is
        // deleted, so a condemned pod's claims go with it).
        for (ord, pod) in &pods {
            let condemned = *ord < view.start || *ord >= view.start + replicas;
            self.fix_claim_owners(&set, pod, *ord, condemned).await?;
        }

        let actions = plan(&view, &views);
        let current_template =
            history::template_of(&current_rev).unwrap_or_else(|| spec.template.clone());
        for action in actions {
            match action {
                Action::Create(ord, update) => {
                    let (template, rev) = if update {
                        (&spec.template, &update_name)
                    } else {
                        (&current_template, &current_name)
                    };
                    if !self.create_claims(&set, ord).await? {
                        // A claim of this ordinal is still being deleted:
                        // the pod waits for it to go (Kubernetes'
                        // `PodClaimIsStale`).
                        return Ok(Some(Duration::from_secs(1)));
                    }
                    let pod = new_pod(&set, template, ord, rev)?;
                    self.create_pod(&set, &pods_api, &pod).await?;
                }
                Action::Delete(ord) => {
                    if let Some(p) = pods.get(&ord) {
                        // A condemned pod's claims already name it as
                        // their owner under `whenScaled: Delete` (above):
                        // the garbage collector deletes them after it.
                        self.delete_pod(&set, &pods_api, p).await?;
                    }
                }
            }
        }

        // History beyond revisionHistoryLimit, keeping what pods use.
        let mut live: HashSet<String> = pods
            .values()
            .filter_map(|p| p.labels().get(REVISION_HASH_LABEL).cloned())
            .collect();
        live.insert(current_name);
        live.insert(update_name);
        history::truncate(
            &revs_api,
            &revs,
            &live,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;
        Ok(waiting_for_min_ready.then(|| Duration::from_secs(min_ready.max(1) as u64)))
    }

    async fn create_pod(
        &self,
        set: &StatefulSet,
        api: &Api<Pod>,
        pod: &Pod,
    ) -> Result<(), ControllerError> {
        let name = pod.name_any();
        match api.create(&PostParams::default(), pod).await {
            Ok(_) => {
                self.recorder.normal(
                    set,
                    "SuccessfulCreate",
                    &format!(
                        "create Pod {name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                );
                debug!(statefulset = %set.name_any(), pod = %name, "created pod");
                Ok(())
            }
            // Our cache is behind; the next pass sees it.
            Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => Ok(()),
            Err(e) => {
                self.recorder.warning(
                    set,
                    "FailedCreate",
                    &format!(
                        "create Pod {name} in StatefulSet {} failed error: {e}",
                        set.name_any()
                    ),
                );
                Err(e.into())
            }
        }
    }

    async fn delete_pod(
        &self,
        set: &StatefulSet,
        api: &Api<Pod>,
        pod: &Pod,
    ) -> Result<(), ControllerError> {
        let name = pod.name_any();
        let dp = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => {
                self.recorder.normal(
                    set,
                    "SuccessfulDelete",
                    &format!(
                        "delete Pod {name} in StatefulSet {} successful",
                        set.name_any()
                    ),
                );
                debug!(statefulset = %set.name_any(), pod = %name, "deleted pod");
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(()),
            Err(e) => {
                self.recorder.warning(
                    set,
                    "FailedDelete",
                    &format!(
                        "delete Pod {name} in StatefulSet {} failed error: {e}",
                        set.name_any()
                    ),
                );
                Err(e.into())
            }
        }
    }

    /// Creates the claims of `ord` that do not exist yet; false if one of
    /// them is being deleted (the pod must wait).
    async fn create_claims(&self, set: &StatefulSet, ord: i32) -> Result<bool, ControllerError> {
        let ns = set.namespace().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
        let store = self.ctx.informers.persistentvolumeclaims.store();
        for claim in claims(set, ord) {
            let name = claim.name_any();
            if let Some(existing) = store.get(&ObjectRef::new(&name).within(&ns)) {
                if existing.metadata.deletion_timestamp.is_some() {
                    return Ok(false);
                }
                continue;
            }
            let pod = format!("{}-{ord}", set.name_any());
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.recorder.normal(
                    set,
                    "SuccessfulCreate",
                    &format!(
                        "create Claim {name} Pod {pod} in StatefulSet {} success",
                        set.name_any()
                    ),
                ),
                Err(kube::Error::Api(s)) if s.reason == "AlreadyExists" => {}
                Err(e) => {
                    self.recorder.warning(
                        set,
                        "FailedCreate",
                        &format!(
                            "create Claim {name} for Pod {pod} in StatefulSet {} failed error: {e}",
                            set.name_any()
                        ),
                    );
                    return Err(e.into());
                }
            }
        }
        Ok(true)
    }

    /// Writes the owner references the retention policy wants on the
    /// claims of `pod` (at `ord`).
    async fn fix_claim_owners(
        &self,
        set: &StatefulSet,
        pod: &Pod,
        ord: i32,
        condemned: bool,
    ) -> Result<(), ControllerError> {
        let ns = set.namespace().unwrap_or_default();
        let store = self.ctx.informers.persistentvolumeclaims.store();
        for want in claims(set, ord) {
            let Some(claim) = store.get(&ObjectRef::new(&want.name_any()).within(&ns)) else {
                continue;
            };
            if claim.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let Some(refs) = claim_owner_refs(set, &claim, pod, condemned) else {
                continue;
            };
            let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
            let body = json!({"metadata": {"ownerReferences": refs,
                "resourceVersion": claim.resource_version()}});
            match api
                .patch(
                    &claim.name_any(),
                    &PatchParams::default(),
                    &Patch::Merge(&body),
                )
                .await
            {
                Ok(_) => debug!(statefulset = %set.name_any(), claim = %claim.name_any(),
                    "claim owners follow the retention policy"),
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn patch_status(&self, key: &Key, status: Value) -> Result<(), ControllerError> {
        let api: Api<StatefulSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        merge_status(&api, &key.name, status).await
    }

    /// Writes status if it changed; true if some pod is ready but not yet
    /// available (look again after minReadySeconds).
    async fn write_status(
        &self,
        set: &StatefulSet,
        key: &Key,
        pods: &BTreeMap<i32, PodView>,
        current: &str,
        update: &str,
        collision_count: i32,
    ) -> Result<bool, ControllerError> {
        let spec = &set.spec;
        let live: Vec<&PodView> = pods.values().filter(|p| !p.terminating).collect();
        let count = |f: &dyn Fn(&PodView) -> bool| live.iter().filter(|p| f(p)).count() as i32;
        let replicas = live.len() as i32;
        let ready = count(&|p| p.running_ready);
        let available = count(&|p| p.available);
        let mut current_replicas = count(&|p| p.revision == current);
        let updated = count(&|p| p.revision == update);
        let mut current_revision = current.to_string();
        let rolling = spec
            .update_strategy
            .as_ref()
            .and_then(|s| s.type_.as_deref())
            .unwrap_or("RollingUpdate")
            == "RollingUpdate";
        // completeRollingUpdate: every pod updated and ready.
        if rolling && updated == replicas && ready == replicas {
            current_replicas = updated;
            current_revision = update.to_string();
        }
        let want = json!({
            "replicas": replicas,
            "readyReplicas": ready,
            "availableReplicas": available,
            "currentReplicas": current_replicas,
            "updatedReplicas": updated,
            "currentRevision": current_revision,
            "updateRevision": update,
            "observedGeneration": set.metadata.generation,
            "collisionCount": collision_count,
        });
        let cur = serde_json::to_value(set.status.clone().unwrap_or_default())?;
        let differs = want.as_object().into_iter().flatten().any(|(k, v)| {
            cur.get(k).unwrap_or(&Value::Null) != v && !(v == &json!(0) && cur.get(k).is_none())
        });
        if differs {
            self.patch_status(key, want).await?;
        }
        Ok(ready > available)
    }
}
