//! The StatefulSet controller, as kube-controller-manager's
//! (`pkg/controller/statefulset`): pods with a stable identity.
//!
//! - pod `<set>-<ordinal>` for each ordinal in `[start, start+replicas)`
//!   (`spec.ordinals.start`), labelled `statefulset.kubernetes.io/pod-name`,
//!   `apps.kubernetes.io/pod-index` and `controller-revision-hash`, with
//!   `hostname` = its name and `subdomain` = `spec.serviceName`;
//! - a PersistentVolumeClaim `<claim>-<set>-<ordinal>` per
//!   volumeClaimTemplate, created before the pod (rkube has no storage
//!   provisioner: claims stay Pending, pods run anyway on simulated
//!   nodes); `persistentVolumeClaimRetentionPolicy` `whenDeleted: Delete`
//!   puts an owner reference to the set on the claim, `whenScaled: Delete`
//!   deletes a condemned pod's claims with it;
//! - `OrderedReady`: one pod at a time, lowest ordinal first, each Running
//!   and Ready (and available for minReadySeconds) before the next; scale
//!   down from the highest ordinal, one at a time. `Parallel`: all at once;
//! - updates through ControllerRevisions (`history.rs`): `RollingUpdate`
//!   deletes outdated pods from the highest ordinal down to `partition`,
//!   at most `maxUnavailable` unavailable at once (the pod comes back at
//!   the update revision); `OnDelete` only recreates pods deleted by hand;
//! - status: replicas, readyReplicas, availableReplicas, currentReplicas,
//!   updatedReplicas, current/updateRevision, observedGeneration,
//!   collisionCount.
//!
//! The decisions are `plan` (pure); `reconcile` does the I/O.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_events::Recorder;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::error::ControllerError;
use crate::framework::history::{self, REVISION_HASH_LABEL};
use crate::framework::informer::Change;
use crate::framework::owner::{adopt, owner_ref, release};
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{controller_of, is_available, is_ready, is_terminal};
use crate::selector::matches;

pub const NAME: &str = "statefulset-controller";
const WORKERS: usize = 5;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// What `plan` sees of one pod.
#[derive(Clone, Debug, Default, PartialEq)]
struct PodView {
    revision: String,
    terminating: bool,
    /// Succeeded or Failed: to be replaced.
    finished: bool,
    running_ready: bool,
    available: bool,
}

/// What `plan` sees of the set.
#[derive(Clone, Debug)]
struct SetView {
    start: i32,
    replicas: i32,
    parallel: bool,
    rolling: bool,
    partition: i32,
    max_unavailable: i32,
    update_revision: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Action {
    /// Create the pod (and its claims) at this ordinal from the update
    /// revision (true) or the current one.
    Create(i32, bool),
    Delete(i32),
}

/// What to do next, as `updateStatefulSet` decides it.
fn plan(set: &SetView, pods: &BTreeMap<i32, PodView>) -> Vec<Action> {
    let mut actions = Vec::new();
    let monotonic = !set.parallel;
    let end = set.start + set.replicas;
    // Replace finished pods, create missing ones, in order.
    for ord in set.start..end {
        match pods.get(&ord) {
            None => {
                let update = !set.rolling || ord >= set.start + set.partition;
                actions.push(Action::Create(ord, update));
                if monotonic {
                    return actions;
                }
            }
            Some(p) if p.finished && !p.terminating => {
                actions.push(Action::Delete(ord));
                if monotonic {
                    return actions;
                }
            }
            Some(p) if p.terminating || !p.running_ready || !p.available => {
                if monotonic {
                    return actions;
                }
            }
            Some(_) => {}
        }
    }
    // Condemned pods, highest ordinal first.
    let first_unhealthy = (set.start..end)
        .chain(
            pods.keys()
                .rev()
                .copied()
                .filter(|o| *o < set.start || *o >= end),
        )
        .find(|o| pods.get(o).is_some_and(|p| !p.running_ready));
    for (&ord, p) in pods.iter().rev() {
        if ord >= set.start && ord < end {
            continue;
        }
        if p.terminating {
            if monotonic {
                return actions;
            }
            continue;
        }
        if monotonic && !p.running_ready && first_unhealthy != Some(ord) {
            return actions;
        }
        actions.push(Action::Delete(ord));
        if monotonic {
            return actions;
        }
    }
    if !set.rolling {
        return actions;
    }
    // Rolling update: outdated pods from the top, within maxUnavailable.
    let unavailable = (set.start..end)
        .filter(|o| {
            pods.get(o)
                .is_none_or(|p| p.terminating || !p.running_ready || !p.available)
        })
        .count() as i32;
    let mut budget = set.max_unavailable.max(1) - unavailable;
    let low = set.start + set.partition.max(0);
    for ord in (low..end).rev() {
        if budget <= 0 {
            break;
        }
        let Some(p) = pods.get(&ord) else { continue };
        if p.revision != set.update_revision && !p.terminating {
            actions.push(Action::Delete(ord));
            budget -= 1;
        }
    }
    actions
}

/// `<set>-<ordinal>` → ordinal.
fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let rest = pod.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty() || (rest.len() > 1 && rest.starts_with('0')) {
        return None;
    }
    rest.parse().ok().filter(|o: &i32| *o >= 0)
}

/// An int or a percentage of `total` (rounded down, at least 1).
fn scaled(v: Option<&IntOrString>, total: i32) -> i32 {
    let n = match v {
        None => 1,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| (p * i64::from(total) / 100) as i32)
            .unwrap_or(1),
    };
    n.max(1)
}

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
                            && matches(Some(&s.spec.selector), new.metadata.labels.as_ref())
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

    async fn reconcile(&self, key: Key) -> Outcome {
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

        // Pods: owned, adopted orphans that match and are named as ours.
        let mut pods: BTreeMap<i32, Arc<Pod>> = BTreeMap::new();
        for pod in self.ctx.informers.pods.store().state() {
            if pod.metadata.namespace.as_deref() != Some(key.namespace.as_str()) {
                continue;
            }
            let labels_match = matches(Some(&spec.selector), pod.metadata.labels.as_ref());
            let ord = ordinal_of(&key.name, &pod.name_any());
            match (controller_of(&pod.metadata), ord) {
                (Some(o), Some(ord)) if o.uid == uid && labels_match => {
                    pods.insert(ord, pod);
                }
                (Some(o), _) if o.uid == uid => {
                    release(&pods_api, &pod, &uid).await?;
                }
                (None, Some(ord))
                    if labels_match
                        && pod.metadata.deletion_timestamp.is_none()
                        && adopt(&pods_api, &pod, owner_ref(set.as_ref()))
                            .await?
                            .is_some() =>
                {
                    pods.insert(ord, pod);
                }
                _ => {}
            }
        }

        // Revisions.
        let revs = history::owned(&self.ctx, &key.namespace, &uid);
        let status = set.status.clone().unwrap_or_default();
        let mut collision_count = status.collision_count.unwrap_or(0);
        let update_rev = history::current_for(
            &revs_api,
            set.as_ref(),
            &spec.template,
            &revs,
            &mut collision_count,
        )
        .await;
        let update_rev = match update_rev {
            Ok(r) => r,
            Err(e) => {
                if collision_count != status.collision_count.unwrap_or(0) {
                    self.patch_status(&key, json!({"collisionCount": collision_count}))
                        .await?;
                }
                return Err(e);
            }
        };
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
                    self.create_claims(&set, ord).await?;
                    let pod = new_pod(&set, template, ord, rev)?;
                    self.create_pod(&set, &pods_api, &pod).await?;
                }
                Action::Delete(ord) => {
                    if let Some(p) = pods.get(&ord) {
                        self.delete_pod(&set, &pods_api, p).await?;
                        let condemned = ord < view.start || ord >= view.start + replicas;
                        let when_scaled = spec
                            .persistent_volume_claim_retention_policy
                            .as_ref()
                            .and_then(|p| p.when_scaled.as_deref());
                        if condemned && when_scaled == Some("Delete") {
                            self.delete_claims(&set, ord).await?;
                        }
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

    /// The claims of `ord` that do not exist yet.
    async fn create_claims(&self, set: &StatefulSet, ord: i32) -> Result<(), ControllerError> {
        let ns = set.namespace().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
        let store = self.ctx.informers.persistentvolumeclaims.store();
        for claim in claims(set, ord) {
            let name = claim.name_any();
            if store.get(&ObjectRef::new(&name).within(&ns)).is_some() {
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
        Ok(())
    }

    async fn delete_claims(&self, set: &StatefulSet, ord: i32) -> Result<(), ControllerError> {
        let ns = set.namespace().unwrap_or_default();
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.ctx.client.clone(), &ns);
        for claim in claims(set, ord) {
            match api
                .delete(&claim.name_any(), &DeleteParams::default())
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    async fn patch_status(&self, key: &Key, status: Value) -> Result<(), ControllerError> {
        let api: Api<StatefulSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        api.patch_status(
            &key.name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
        Ok(())
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

fn pod_view(pod: &Pod, min_ready: i32, now: Timestamp) -> PodView {
    let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
    let running_ready = running && is_ready(pod);
    PodView {
        revision: pod
            .labels()
            .get(REVISION_HASH_LABEL)
            .cloned()
            .unwrap_or_default(),
        terminating: pod.metadata.deletion_timestamp.is_some(),
        finished: is_terminal(pod),
        running_ready,
        available: running_ready && is_available(pod, min_ready, now),
    }
}

/// The claims of the pod at `ord`, from the volumeClaimTemplates.
fn claims(set: &StatefulSet, ord: i32) -> Vec<PersistentVolumeClaim> {
    let spec = &set.spec;
    let when_deleted = spec
        .persistent_volume_claim_retention_policy
        .as_ref()
        .and_then(|p| p.when_deleted.as_deref());
    let selector_labels = spec.selector.match_labels.clone().unwrap_or_default();
    spec.volume_claim_templates
        .iter()
        .flatten()
        .map(|t| {
            let mut c = t.clone();
            let tname = t.name_any();
            c.metadata = Default::default();
            c.metadata.name = Some(format!("{tname}-{}-{ord}", set.name_any()));
            c.metadata.namespace = set.namespace();
            let mut labels = t.metadata.labels.clone().unwrap_or_default();
            labels.extend(selector_labels.clone());
            c.metadata.labels = Some(labels);
            c.metadata.annotations = t.metadata.annotations.clone();
            if when_deleted == Some("Delete") {
                let mut r = owner_ref(set);
                r.controller = None;
                c.metadata.owner_references = Some(vec![r]);
            }
            c.status = None;
            c
        })
        .collect()
}

/// The pod at `ord`, from `template` at revision `revision`.
fn new_pod(
    set: &StatefulSet,
    template: &PodTemplateSpec,
    ord: i32,
    revision: &str,
) -> Result<Pod, serde_json::Error> {
    let name = format!("{}-{ord}", set.name_any());
    let meta = template.metadata.clone().unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    labels.insert(POD_NAME_LABEL.to_string(), name.clone());
    labels.insert(POD_INDEX_LABEL.to_string(), ord.to_string());
    labels.insert(REVISION_HASH_LABEL.to_string(), revision.to_string());
    let mut spec = template.spec.clone().unwrap_or_default();
    spec.hostname = Some(name.clone());
    if let Some(svc) = set.spec.service_name.clone().filter(|s| !s.is_empty()) {
        spec.subdomain = Some(svc);
    }
    let claim_volumes: Vec<(String, String)> = claims(set, ord)
        .into_iter()
        .zip(set.spec.volume_claim_templates.iter().flatten())
        .map(|(c, t)| (t.name_any(), c.name_any()))
        .collect();
    if !claim_volumes.is_empty() {
        let mut volumes = spec.volumes.take().unwrap_or_default();
        volumes.retain(|v| !claim_volumes.iter().any(|(n, _)| *n == v.name));
        for (vol, claim) in claim_volumes {
            volumes.push(serde_json::from_value(json!({
                "name": vol,
                "persistentVolumeClaim": {"claimName": claim},
            }))?);
        }
        spec.volumes = Some(volumes);
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": set.namespace(),
            "labels": labels,
            "annotations": meta.annotations,
            "finalizers": meta.finalizers,
            "ownerReferences": [owner_ref(set)],
        },
        "spec": spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(replicas: i32, parallel: bool, partition: i32) -> SetView {
        SetView {
            start: 0,
            replicas,
            parallel,
            rolling: true,
            partition,
            max_unavailable: 1,
            update_revision: "web-b".into(),
        }
    }

    fn healthy(rev: &str) -> PodView {
        PodView {
            revision: rev.into(),
            running_ready: true,
            available: true,
            ..PodView::default()
        }
    }

    #[test]
    fn ordered_ready_creates_one_pod_at_a_time() {
        let s = set(3, false, 0);
        let mut pods = BTreeMap::new();
        assert_eq!(plan(&s, &pods), [Action::Create(0, true)]);
        pods.insert(
            0,
            PodView {
                revision: "web-b".into(),
                ..PodView::default()
            },
        );
        assert_eq!(plan(&s, &pods), []);
        pods.insert(0, healthy("web-b"));
        assert_eq!(plan(&s, &pods), [Action::Create(1, true)]);
    }

    #[test]
    fn parallel_creates_everything_at_once() {
        let s = set(3, true, 0);
        assert_eq!(
            plan(&s, &BTreeMap::new()),
            [
                Action::Create(0, true),
                Action::Create(1, true),
                Action::Create(2, true)
            ]
        );
    }

    #[test]
    fn scale_down_from_the_highest_ordinal_one_at_a_time() {
        let s = set(1, false, 0);
        let mut pods: BTreeMap<i32, PodView> = (0..3).map(|o| (o, healthy("web-b"))).collect();
        assert_eq!(plan(&s, &pods), [Action::Delete(2)]);
        if let Some(p) = pods.get_mut(&2) {
            p.terminating = true;
        }
        assert_eq!(plan(&s, &pods), []);
        pods.remove(&2);
        assert_eq!(plan(&s, &pods), [Action::Delete(1)]);
    }

    #[test]
    fn rolling_update_respects_partition_from_the_top() {
        let s = set(3, false, 1);
        let mut pods: BTreeMap<i32, PodView> = (0..3).map(|o| (o, healthy("web-a"))).collect();
        assert_eq!(plan(&s, &pods), [Action::Delete(2)]);
        pods.insert(2, healthy("web-b"));
        assert_eq!(plan(&s, &pods), [Action::Delete(1)]);
        pods.insert(1, healthy("web-b"));
        assert_eq!(plan(&s, &pods), []);
        // A lost pod below the partition comes back at the current revision.
        pods.remove(&0);
        assert_eq!(plan(&s, &pods), [Action::Create(0, false)]);
    }

    #[test]
    fn max_unavailable_deletes_several_and_waits_for_unavailable() {
        let mut s = set(4, true, 0);
        s.max_unavailable = 2;
        let mut pods: BTreeMap<i32, PodView> = (0..4).map(|o| (o, healthy("web-a"))).collect();
        assert_eq!(plan(&s, &pods), [Action::Delete(3), Action::Delete(2)]);
        if let Some(p) = pods.get_mut(&3) {
            p.running_ready = false;
        }
        assert_eq!(plan(&s, &pods), [Action::Delete(3)]);
    }

    #[test]
    fn failed_pods_are_replaced_and_names_parse() {
        let s = set(2, false, 0);
        let mut pods: BTreeMap<i32, PodView> = (0..2).map(|o| (o, healthy("web-b"))).collect();
        if let Some(p) = pods.get_mut(&1) {
            p.finished = true;
        }
        assert_eq!(plan(&s, &pods), [Action::Delete(1)]);
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-01"), None);
        assert_eq!(ordinal_of("web", "webx-1"), None);
        assert_eq!(ordinal_of("web", "web-"), None);
        assert_eq!(scaled(Some(&IntOrString::String("50%".into())), 5), 2);
        assert_eq!(scaled(None, 5), 1);
    }

    #[test]
    fn pods_get_identity_labels_and_claims() {
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
            "spec": {
                "serviceName": "web",
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "c", "image": "i"}],
                                      "volumes": [{"name": "data", "emptyDir": {}}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"]}}],
                "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete"}
            }
        }))
        .expect("set");
        let pod = new_pod(&set, &set.spec.template, 2, "web-abc").expect("pod");
        let labels = pod.labels();
        assert_eq!(
            labels.get(POD_NAME_LABEL).map(String::as_str),
            Some("web-2")
        );
        assert_eq!(labels.get(POD_INDEX_LABEL).map(String::as_str), Some("2"));
        assert_eq!(
            labels.get(REVISION_HASH_LABEL).map(String::as_str),
            Some("web-abc")
        );
        let spec = pod.spec.clone().unwrap_or_default();
        assert_eq!(spec.hostname.as_deref(), Some("web-2"));
        assert_eq!(spec.subdomain.as_deref(), Some("web"));
        let vols = spec.volumes.unwrap_or_default();
        assert_eq!(vols.len(), 1);
        assert_eq!(
            vols[0]
                .persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-web-2")
        );
        let claim = &claims(&set, 2)[0];
        assert_eq!(claim.name_any(), "data-web-2");
        assert_eq!(claim.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!(claim.owner_references()[0].uid, "u1");
    }
}
