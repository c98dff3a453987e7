//! The ReplicaSet controller: keeps `spec.replicas` active pods matching
//! the selector, owned through a controller ownerReference. The same code
//! runs for ReplicationControllers (`kind.rs` says what differs; the
//! controller is in `replicationcontroller.rs`).
//!
//! - claims pods (`framework/claim.rs`): adopts matching pods nobody
//!   controls, releases owned pods whose labels no longer match;
//! - creates missing pods from the template in slow-start batches (1, 2,
//!   4, … up to 500 per pass), deletes surplus pods in Kubernetes' order
//!   (`pods::deletion_order`), guarded by expectations;
//! - writes `status` (replicas, fullyLabeledReplicas, readyReplicas,
//!   availableReplicas with minReadySeconds, observedGeneration, and the
//!   `ReplicaFailure` condition while creating or deleting pods fails).

mod kind;

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::debug;

use crate::framework::claim::Claimer;
use crate::framework::context::Context;
use crate::framework::error::ControllerError;
use crate::framework::expectations::Expectations;
use crate::framework::informer::Change;
use crate::framework::owner::owner_ref;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{controller_of, deletion_order, is_active, ready_long_enough, ready_since};

pub use kind::{Condition, ReplicaStatus, Replicated};

pub const NAME: &str = <ReplicaSet as Replicated>::CONTROLLER;
/// The condition kube-controller-manager sets while pods cannot be
/// created or deleted.
const REPLICA_FAILURE: &str = "ReplicaFailure";
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

struct Controller<K> {
    recorder: rkube_events::Recorder,
    ctx: Arc<Context>,
    queue: Queue,
    expectations: Expectations,
    kind: PhantomData<fn() -> K>,
}

/// The key of the `K` controlling `pod`, if one does.
fn owner_of<K: Replicated>(pod: &Pod) -> Option<Key> {
    let o = controller_of(&pod.metadata)?;
    (o.kind == K::kind(&())).then(|| Key::new(pod.namespace().unwrap_or_default(), o.name.clone()))
}

/// Starts the ReplicaSet controller.
pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    start_for::<ReplicaSet>(ctx)
}

/// Starts the controller of kind `K`.
pub fn start_for<K: Replicated>(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller::<K> {
        recorder: ctx.recorder(K::CONTROLLER),
        ctx: ctx.clone(),
        queue: Queue::default(),
        expectations: Expectations::default(),
        kind: PhantomData,
    });
    let me = c.clone();
    K::informer(ctx).on_change(move |change| me.owner_changed(change));
    let me = c.clone();
    ctx.informers
        .pods
        .on_change(move |change| me.pod_changed(change));
    let me = c.clone();
    spawn_workers(K::CONTROLLER, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

impl<K: Replicated> Controller<K> {
    /// A ReplicaSet changed. When only its status did — mostly this
    /// controller's own status write coming back — the pass waits for the
    /// same window as its pods' changes: reconciling at once made every
    /// status write start another pass over all the pods, back to back,
    /// for as long as they kept changing (a sixth of the process's CPU
    /// with 10,000 pods).
    fn owner_changed(&self, change: &Change<'_, K>) {
        match change {
            Change::Applied {
                old: Some(old),
                new,
            } if status_only::<K>(old, new) => {
                let uid = new.meta().uid.as_deref().unwrap_or("");
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
                let owner = owner_of::<K>(new);
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
                let old_owner = old.as_deref().and_then(owner_of::<K>);
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
                if let Some(o) = owner_of::<K>(pod) {
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

    /// Queues the owners whose selector matches an orphan pod.
    fn enqueue_matching(&self, pod: &Pod) {
        let ns = pod.namespace().unwrap_or_default();
        for rs in K::informer(&self.ctx).store().state() {
            if rs.namespace().as_deref() == Some(ns.as_str())
                && rs.selects(pod.metadata.labels.as_ref())
            {
                self.queue.add(Key::of(rs.as_ref()));
            }
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(rs) = K::informer(&self.ctx)
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        let uid = rs.uid().unwrap_or_default();
        let deleting = rs.meta().deletion_timestamp.is_some();
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        // Before reading the cache, as kube-controller-manager: a creation
        // seen between the read and this check would otherwise let a stale
        // view through, and pods be created twice.
        let satisfied = self.expectations.satisfied(&key);

        // Owned and orphans, active only (kube-controller-manager filters
        // before it claims); one pass, as a large owner has many.
        let candidates = self
            .ctx
            .pods_controlled_by(&uid)
            .into_iter()
            .chain(self.ctx.orphan_pods_in(&key.namespace))
            .filter(|p| is_active(p));
        let claimer = Claimer {
            owner: owner_ref(rs.as_ref()),
            owner_deleting: deleting,
            namespace: &key.namespace,
        };
        let active = claimer
            .claim(&pods, candidates, |p| {
                rs.selects(p.metadata.labels.as_ref())
            })
            .await?;
        let failure = if !deleting && satisfied {
            self.manage(&rs, &key, &pods, &active).await.err()
        } else {
            None
        };
        let requeue = self
            .write_status(&rs, &key, &active, failure.as_ref())
            .await?;
        match failure {
            Some(e) => Err(e),
            None => Ok(requeue),
        }
    }

    async fn manage(
        &self,
        rs: &K,
        key: &Key,
        pods: &Api<Pod>,
        active: &[Arc<Pod>],
    ) -> Result<(), ControllerError> {
        let want = rs.replicas().max(0) as usize;
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
            debug!(controller = K::CONTROLLER, owner = %key, created, "created pods");
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
            debug!(controller = K::CONTROLLER, owner = %key, deleted = surplus, "deleted pods");
        }
        Ok(())
    }

    async fn write_status(
        &self,
        rs: &K,
        key: &Key,
        active: &[Arc<Pod>],
        failure: Option<&ControllerError>,
    ) -> Result<Option<Duration>, ControllerError> {
        let min_ready = rs.min_ready_seconds();
        let cur = rs.replica_status();
        let status = status_of(rs, active, failure, &cur, Timestamp::now());
        if status != cur {
            let api: Api<K> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
            let mut patch = json!({
                "replicas": status.replicas,
                "fullyLabeledReplicas": status.fully_labeled_replicas,
                "readyReplicas": status.ready_replicas,
                "availableReplicas": status.available_replicas,
                "observedGeneration": status.observed_generation,
            });
            if status.conditions != cur.conditions {
                patch["conditions"] = serde_json::to_value(&status.conditions)?;
            }
            api.patch_status(
                &key.name,
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": patch })),
            )
            .await?;
        }
        // Pods ready but not yet for minReadySeconds: look again then.
        Ok(
            (min_ready > 0 && status.available_replicas < status.ready_replicas)
                .then(|| Duration::from_secs(min_ready as u64)),
        )
    }
}

/// The status `rs` should have with `active` pods at `now`, after its pods
/// were created or deleted with `failure` (kube-controller-manager's
/// `calculateStatus`): the `ReplicaFailure` condition is added when a
/// failure starts and removed when creating or deleting succeeds again.
fn status_of<K: Replicated>(
    rs: &K,
    active: &[Arc<Pod>],
    failure: Option<&ControllerError>,
    cur: &ReplicaStatus,
    now: Timestamp,
) -> ReplicaStatus {
    let min_ready = rs.min_ready_seconds();
    let template_labels = rs
        .template()
        .and_then(|t| t.metadata.as_ref())
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
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
    let mut conditions = cur.conditions.clone();
    let failing = conditions.iter().any(|c| c.type_ == REPLICA_FAILURE);
    match failure {
        Some(e) if !failing => {
            let want = rs.replicas().max(0) as usize;
            let reason = match active.len().cmp(&want) {
                std::cmp::Ordering::Less => Some("FailedCreate".to_string()),
                std::cmp::Ordering::Greater => Some("FailedDelete".to_string()),
                std::cmp::Ordering::Equal => None,
            };
            conditions.push(Condition {
                type_: REPLICA_FAILURE.to_string(),
                status: "True".to_string(),
                last_transition_time: Some(Time(now)),
                reason,
                message: Some(e.to_string()),
            });
        }
        None if failing => conditions.retain(|c| c.type_ != REPLICA_FAILURE),
        _ => {}
    }
    ReplicaStatus {
        replicas: active.len() as i32,
        fully_labeled_replicas: fully,
        ready_replicas: ready,
        available_replicas: available,
        observed_generation: rs.meta().generation,
        conditions,
    }
}

/// Whether `old` and `new` differ in status (and resourceVersion, managed
/// fields) only: nothing the reconcile reads.
fn status_only<K: Replicated>(old: &K, new: &K) -> bool {
    let (o, n) = (old.meta(), new.meta());
    old.same_spec(new)
        && o.generation == n.generation
        && o.labels == n.labels
        && o.annotations == n.annotations
        && o.owner_references == n.owner_references
        && o.deletion_timestamp == n.deletion_timestamp
        && o.finalizers == n.finalizers
}

/// A pod for `rs`, from its template.
fn new_pod<K: Replicated>(rs: &K) -> Result<Pod, serde_json::Error> {
    let template = rs.template().cloned().unwrap_or_default();
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

    fn pod(labels: serde_json::Value, ready: bool) -> Arc<Pod> {
        let status = if ready {
            json!({"conditions": [{"type": "Ready", "status": "True",
                                   "lastTransitionTime": "2020-01-01T00:00:00Z"}]})
        } else {
            json!({})
        };
        Arc::new(
            serde_json::from_value(json!({"metadata": {"labels": labels}, "status": status}))
                .expect("a pod"),
        )
    }

    fn rs(replicas: i32) -> ReplicaSet {
        serde_json::from_value(json!({
            "metadata": {"name": "rs", "generation": 3},
            "spec": {"replicas": replicas, "minReadySeconds": 10,
                     "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b", "tier": "x"}}}}
        }))
        .expect("a ReplicaSet")
    }

    #[test]
    fn status_counts_labeled_ready_and_available_pods() {
        let active = [
            pod(json!({"a": "b", "tier": "x"}), true),
            pod(json!({"a": "b"}), true),
            pod(json!({"a": "b", "tier": "x"}), false),
        ];
        let rs = rs(3);
        let since = "2020-01-01T00:00:05Z".parse().expect("a time");
        let s = status_of(&rs, &active, None, &rs.replica_status(), since);
        assert_eq!(
            (s.replicas, s.fully_labeled_replicas, s.ready_replicas),
            (3, 2, 2)
        );
        assert_eq!(
            s.available_replicas, 0,
            "ready for 5s of minReadySeconds 10"
        );
        assert_eq!(s.observed_generation, Some(3));
        let later = "2020-01-01T00:00:10Z".parse().expect("a time");
        let s = status_of(&rs, &active, None, &rs.replica_status(), later);
        assert_eq!(s.available_replicas, 2);
        assert!(s.conditions.is_empty());
    }

    #[test]
    fn a_failure_to_create_sets_replica_failure_until_it_succeeds() {
        let rs = rs(3);
        let now = Timestamp::UNIX_EPOCH;
        let err = ControllerError::from(serde_json::from_str::<Pod>("!").expect_err("bad"));
        let failed = status_of(&rs, &[], Some(&err), &rs.replica_status(), now);
        assert_eq!(failed.conditions.len(), 1);
        let c = &failed.conditions[0];
        assert_eq!(
            (c.type_.as_str(), c.status.as_str()),
            ("ReplicaFailure", "True")
        );
        assert_eq!(c.reason.as_deref(), Some("FailedCreate"));
        // Still failing: the condition is kept as it was, not added twice.
        let again = status_of(&rs, &[], Some(&err), &failed, now);
        assert_eq!(again.conditions, failed.conditions);
        // Succeeded: removed.
        let ok = status_of(&rs, &[], None, &failed, now);
        assert!(ok.conditions.is_empty());
        // Failing to delete surplus pods.
        let surplus = [pod(json!({"a": "b"}), false), pod(json!({"a": "b"}), false)];
        let one: ReplicaSet = self::rs(1);
        let failed = status_of(&one, &surplus, Some(&err), &one.replica_status(), now);
        assert_eq!(failed.conditions[0].reason.as_deref(), Some("FailedDelete"));
    }

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
