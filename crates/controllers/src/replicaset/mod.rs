//! The ReplicaSet controller: keeps `spec.replicas` active pods matching
//! the selector, owned through a controller ownerReference.
//!
//! - adopts matching pods nobody controls, releases owned pods whose
//!   labels no longer match;
//! - creates missing pods from the template in slow-start batches (1, 2,
//!   4, … up to 500 per pass), deletes surplus pods in Kubernetes' order
//!   (`pods::deletion_order`), guarded by expectations;
//! - writes `status` (replicas, fullyLabeledReplicas, readyReplicas,
//!   availableReplicas with minReadySeconds, observedGeneration).

use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::context::Context;
use crate::framework::expectations::Expectations;
use crate::framework::informer::Change;
use crate::framework::owner::{adopt, owner_ref, release};
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{controller_of, deletion_order, is_active, ready_long_enough, ready_since};
use crate::selector::matches;

pub const NAME: &str = "replicaset-controller";
/// Changes of an owner's pods within this window make one reconcile...
const POD_BURST_WINDOW: Duration = Duration::from_millis(50);
/// ...and longer for large owners: a pass walks every pod of its
/// ReplicaSet, so one of 10,000 pods re-counted every 50 ms was a sixth of
/// the process's CPU. Its status lags by at most this much; creations and
/// deletions do not wait (see `pod_changed`).
const MAX_POD_BURST_WINDOW: Duration = Duration::from_millis(500);
/// Pods per millisecond of window above the minimum.
const PODS_PER_WINDOW_MS: usize = 20;

/// How long an owner of `pods` pods collects pod changes before a pass.
fn burst_window(pods: usize) -> Duration {
    let ms = (pods / PODS_PER_WINDOW_MS) as u64;
    Duration::from_millis(ms).clamp(POD_BURST_WINDOW, MAX_POD_BURST_WINDOW)
}
/// Most pods created or deleted in one pass.
const BURST: usize = 500;
const WORKERS: usize = 5;

struct Controller {
    recorder: rkube_events::Recorder,
    ctx: Arc<Context>,
    queue: Queue,
    expectations: Expectations,
}

fn rs_owner(pod: &Pod) -> Option<Key> {
    let o = controller_of(&pod.metadata)?;
    (o.kind == "ReplicaSet").then(|| Key::new(pod.namespace().unwrap_or_default(), o.name.clone()))
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        recorder: ctx.recorder(NAME),
        ctx: ctx.clone(),
        queue: Queue::default(),
        expectations: Expectations::default(),
    });
    let me = c.clone();
    ctx.informers
        .replicasets
        .on_change(move |change| me.replicaset_changed(change));
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

impl Controller {
    /// A ReplicaSet changed. When only its status did — mostly this
    /// controller's own status write coming back — the pass waits for the
    /// same window as its pods' changes: reconciling at once made every
    /// status write start another pass over all the pods, back to back,
    /// for as long as they kept changing (a sixth of the process's CPU
    /// with 10,000 pods).
    fn replicaset_changed(&self, change: &Change<'_, ReplicaSet>) {
        match change {
            Change::Applied {
                old: Some(old),
                new,
            } if status_only(old, new) => {
                let uid = new.metadata.uid.as_deref().unwrap_or("");
                self.queue
                    .add_coalesced(Key::of(*new), self.pass_window(uid));
            }
            Change::Applied { new, .. } => self.queue.add(Key::of(*new)),
            Change::Deleted(rs) => self.queue.add(Key::of(*rs)),
        }
    }

    /// How long changes to the ReplicaSet with uid `uid` are collected
    /// before its next pass ([`burst_window`] of its pod count).
    fn pass_window(&self, uid: &str) -> Duration {
        burst_window(self.ctx.pod_index.count(uid))
    }

    fn pod_changed(&self, change: &Change<'_, Pod>) {
        match change {
            Change::Applied { old, new } => {
                let owner = rs_owner(new);
                if let Some(o) = &owner {
                    let mut unblocked = false;
                    if old.is_none() {
                        unblocked |= self.expectations.creation_observed(o);
                    }
                    if new.metadata.deletion_timestamp.is_some() {
                        unblocked |= self
                            .expectations
                            .deletion_observed(o, &new.uid().unwrap_or_default());
                    }
                    if unblocked {
                        // The next batch of creations or deletions is due.
                        self.queue.add(o.clone());
                    } else {
                        let uid = controller_of(&new.metadata).map_or("", |c| c.uid.as_str());
                        self.queue.add_coalesced(o.clone(), self.pass_window(uid));
                    }
                }
                let old_owner = old.as_deref().and_then(rs_owner);
                if let Some(o) = old_owner.filter(|o| Some(o) != owner.as_ref()) {
                    self.queue.add(o);
                }
                let labels_changed = old
                    .as_deref()
                    .is_some_and(|o| o.metadata.labels != new.metadata.labels);
                if (owner.is_none() || labels_changed) && is_active(new) {
                    self.enqueue_matching(new);
                }
            }
            Change::Deleted(pod) => {
                if let Some(o) = rs_owner(pod) {
                    let uid = pod.uid().unwrap_or_default();
                    if self.expectations.deletion_observed(&o, &uid) {
                        self.queue.add(o);
                    } else {
                        let owner = controller_of(&pod.metadata).map_or("", |c| c.uid.as_str());
                        self.queue.add_coalesced(o, self.pass_window(owner));
                    }
                }
            }
        }
    }

    /// Queues the ReplicaSets whose selector matches an orphan pod.
    fn enqueue_matching(&self, pod: &Pod) {
        let ns = pod.namespace().unwrap_or_default();
        for rs in self.ctx.informers.replicasets.store().state() {
            if rs.namespace().as_deref() == Some(ns.as_str())
                && matches(Some(&rs.spec.selector), pod.metadata.labels.as_ref())
            {
                self.queue.add(Key::of(rs.as_ref()));
            }
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(rs) = self
            .ctx
            .informers
            .replicasets
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        let uid = rs.uid().unwrap_or_default();
        let selector = Some(&rs.spec.selector);
        let deleting = rs.metadata.deletion_timestamp.is_some();
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        // Before reading the cache, as kube-controller-manager: a creation
        // seen between the read and this check would otherwise let a stale
        // view through, and pods be created twice.
        let satisfied = self.expectations.satisfied(&key);

        // Owned and active; one pass, as a large ReplicaSet has many.
        let mut active: Vec<Arc<Pod>> = Vec::new();
        let candidates = self
            .ctx
            .pods_controlled_by(&uid)
            .into_iter()
            .chain(self.ctx.orphan_pods_in(&key.namespace));
        for pod in candidates {
            if pod.metadata.namespace.as_deref() != Some(key.namespace.as_str()) {
                continue;
            }
            let labels_match = matches(selector, pod.metadata.labels.as_ref());
            match controller_of(&pod.metadata) {
                Some(o) if o.uid == uid => {
                    if !labels_match {
                        release(&pods, &pod, &uid).await?;
                    } else if is_active(&pod) {
                        active.push(pod);
                    }
                }
                Some(_) => {}
                None if labels_match
                    && !deleting
                    && is_active(&pod)
                    && adopt(&pods, &pod, owner_ref(rs.as_ref())).await? =>
                {
                    active.push(pod);
                }
                None => {}
            }
        }
        if !deleting && satisfied {
            self.manage(&rs, &key, &pods, &active).await?;
        }
        self.write_status(&rs, &key, &active).await
    }

    async fn manage(
        &self,
        rs: &ReplicaSet,
        key: &Key,
        pods: &Api<Pod>,
        active: &[Arc<Pod>],
    ) -> Result<(), crate::ControllerError> {
        let want = rs.spec.replicas.unwrap_or(1).max(0) as usize;
        if active.len() < want {
            let missing = (want - active.len()).min(BURST);
            self.expectations.expect(key, missing as i64, Vec::new());
            let template = new_pod(rs)?;
            let pp = PostParams::default();
            let mut created = 0;
            let mut batch = 1;
            while created < missing {
                let n = batch.min(missing - created);
                let results = join_all((0..n).map(|_| pods.create(&pp, &template))).await;
                let failed = results.iter().filter(|r| r.is_err()).count();
                for _ in 0..failed {
                    self.expectations.creation_observed(key);
                }
                created += n;
                for r in &results {
                    match r {
                        Ok(p) => self.recorder.normal(
                            rs,
                            "SuccessfulCreate",
                            &format!("Created pod: {}", p.name_any()),
                        ),
                        Err(e) => self.recorder.warning(
                            rs,
                            "FailedCreate",
                            &format!("Error creating: {e}"),
                        ),
                    }
                }
                if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
                    // Skip the rest: they are not coming.
                    for _ in created..missing {
                        self.expectations.creation_observed(key);
                    }
                    return Err(e.into());
                }
                batch *= 2;
            }
            debug!(replicaset = %key, created, "created pods");
        } else if active.len() > want {
            let surplus = (active.len() - want).min(BURST);
            let mut ranked: Vec<&Arc<Pod>> = active.iter().collect();
            ranked.sort_by(|a, b| deletion_order(a, b));
            let victims: Vec<&Arc<Pod>> = ranked.into_iter().take(surplus).collect();
            self.expectations
                .expect(key, 0, victims.iter().map(|p| p.uid().unwrap_or_default()));
            let results = join_all(victims.iter().map(|p| {
                let dp = DeleteParams {
                    preconditions: Some(Preconditions {
                        uid: p.uid(),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                let name = p.name_any();
                async move { pods.delete(&name, &dp).await }
            }))
            .await;
            for (p, r) in victims.iter().zip(&results) {
                if r.is_err() {
                    self.expectations
                        .deletion_observed(key, &p.uid().unwrap_or_default());
                } else {
                    self.recorder.normal(
                        rs,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", p.name_any()),
                    );
                }
            }
            for r in results {
                match r {
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => return Err(e.into()),
                    Ok(_) => {}
                }
            }
            debug!(replicaset = %key, deleted = surplus, "deleted pods");
        }
        Ok(())
    }

    async fn write_status(&self, rs: &ReplicaSet, key: &Key, active: &[Arc<Pod>]) -> Outcome {
        let min_ready = rs.spec.min_ready_seconds.unwrap_or(0);
        let template_labels = rs
            .spec
            .template
            .as_ref()
            .and_then(|t| t.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let now = Timestamp::now();
        let (mut fully, mut ready, mut available) = (0, 0, 0);
        for p in active {
            let l = p.metadata.labels.as_ref();
            if template_labels
                .iter()
                .all(|(k, v)| l.and_then(|l| l.get(k)) == Some(v))
            {
                fully += 1;
            }
            if let Some(since) = ready_since(p) {
                ready += 1;
                if ready_long_enough(since, min_ready, now) {
                    available += 1;
                }
            }
        }
        let replicas = active.len() as i32;
        let generation = rs.metadata.generation;
        let cur = rs.status.clone().unwrap_or_default();
        let changed = cur.replicas != replicas
            || cur.fully_labeled_replicas.unwrap_or(0) != fully
            || cur.ready_replicas.unwrap_or(0) != ready
            || cur.available_replicas.unwrap_or(0) != available
            || cur.observed_generation != generation;
        if changed {
            let api: Api<ReplicaSet> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
            api.patch_status(
                &key.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {
                    "replicas": replicas,
                    "fullyLabeledReplicas": fully,
                    "readyReplicas": ready,
                    "availableReplicas": available,
                    "observedGeneration": generation,
                }})),
            )
            .await?;
        }
        // Pods ready but not yet for minReadySeconds: look again then.
        Ok((min_ready > 0 && available < ready).then(|| Duration::from_secs(min_ready as u64)))
    }
}

/// Whether `old` and `new` differ in status (and resourceVersion, managed
/// fields) only: nothing the reconcile reads.
fn status_only(old: &ReplicaSet, new: &ReplicaSet) -> bool {
    let (o, n) = (&old.metadata, &new.metadata);
    old.spec == new.spec
        && o.generation == n.generation
        && o.labels == n.labels
        && o.annotations == n.annotations
        && o.owner_references == n.owner_references
        && o.deletion_timestamp == n.deletion_timestamp
        && o.finalizers == n.finalizers
}

/// A pod for `rs`, from its template.
fn new_pod(rs: &ReplicaSet) -> Result<Pod, serde_json::Error> {
    let template = rs.spec.template.clone().unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": format!("{}-", rs.name_any()),
            "namespace": rs.namespace(),
            "labels": meta.labels,
            "annotations": meta.annotations,
            "finalizers": meta.finalizers,
            "ownerReferences": [owner_ref(rs)],
        },
        "spec": template.spec,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    #[test]
    fn a_status_write_is_told_apart_from_a_change_to_reconcile() {
        let old: ReplicaSet = serde_json::from_value(json!({
            "metadata": {"name": "rs", "generation": 1, "labels": {"a": "b"}},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"a": "b"}}},
            "status": {"replicas": 1}
        }))
        .expect("a ReplicaSet");
        let mut status = old.clone();
        status.status = Some(ReplicaSetStatus {
            replicas: 3,
            ready_replicas: Some(2),
            ..ReplicaSetStatus::default()
        });
        status.metadata.resource_version = Some("9".into());
        assert!(status_only(&old, &status));
        let mut scaled = old.clone();
        scaled.spec.replicas = Some(5);
        assert!(!status_only(&old, &scaled));
        let mut relabeled = old.clone();
        relabeled.metadata.labels = None;
        assert!(!status_only(&old, &relabeled));
        let mut deleting = old.clone();
        deleting.metadata.deletion_timestamp = Some(Time(Timestamp::UNIX_EPOCH));
        assert!(!status_only(&old, &deleting));
    }

    #[test]
    fn large_replicasets_collect_pod_changes_longer() {
        assert_eq!(burst_window(0), POD_BURST_WINDOW);
        assert_eq!(burst_window(1_000), POD_BURST_WINDOW);
        assert_eq!(burst_window(4_000), Duration::from_millis(200));
        assert_eq!(burst_window(100_000), MAX_POD_BURST_WINDOW);
    }
}
