//! The Job controller (kube-controller-manager's job-controller) and the
//! TTL-after-finished controller for Jobs.
//!
//! - pods from `spec.template`, owned through a controller ownerReference
//!   (the API server's Job defaulting already put the selector and the
//!   `batch.kubernetes.io/controller-uid`/`job-name` labels, legacy ones
//!   included, on the template); orphans matching the selector are
//!   adopted, owned pods that stop matching are released;
//! - `parallelism`, `completions` (none: work-queue semantics), Indexed
//!   completion mode (index annotation and label, `JOB_COMPLETION_INDEX`,
//!   hostname `<job>-<index>`, `status.completedIndexes`), `backoffLimit`
//!   with Kubernetes' replacement backoff (10s doubling, at most 6m),
//!   `activeDeadlineSeconds`, `podFailurePolicy`, `suspend`,
//!   `podReplacementPolicy`, and for Indexed Jobs `successPolicy` and
//!   `backoffLimitPerIndex`/`maxFailedIndexes` (`status.failedIndexes`,
//!   a backoff per index): the decisions are in `sync.rs`;
//! - finishing as 1.37 does: SuccessCriteriaMet or FailureTarget first,
//!   Complete or Failed once no pod is left running or terminating;
//! - `ttlSecondsAfterFinished`: a finished Job is deleted (background
//!   propagation) that long after its Complete/Failed condition.
//!
//! Jobs with another `spec.managedBy` are left alone. No
//! `batch.kubernetes.io/job-tracking` finalizers: see `sync.rs` for
//! how pods are counted.

mod failure_policy;
mod indexes;
mod sync;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, Preconditions, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_apimachinery::matching::label_selector_matches;
use rkube_events::Recorder;
use serde_json::{json, Value};
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::framework::claim::Claimer;
use crate::framework::context::Context;
use crate::framework::expectations::Expectations;
use crate::framework::informer::Change;
use crate::framework::owner::owner_ref;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::{controller_of, is_active};
use crate::ControllerError;

pub const NAME: &str = "job-controller";
const WORKERS: usize = 5;
/// `spec.managedBy` of the Jobs this controller runs (or none).
const MANAGED_BY: &str = "kubernetes.io/job-controller";
/// Longest generateName prefix (the API server adds 5 characters).
const MAX_GENERATE_NAME: usize = 58;

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    expectations: Expectations,
    recorder: Recorder,
}

fn job_owner(pod: &Pod) -> Option<Key> {
    let o = controller_of(&pod.metadata)?;
    (o.kind == "Job" && o.api_version.starts_with("batch/"))
        .then(|| Key::new(pod.namespace().unwrap_or_default(), o.name.clone()))
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        expectations: Expectations::default(),
        recorder: ctx.recorder(NAME),
    });
    let me = c.clone();
    ctx.informers.jobs.on_change(move |change| match change {
        Change::Applied { new, .. } => me.queue.add(Key::of(*new)),
        Change::Deleted(job) => {
            let key = Key::of(*job);
            me.expectations.forget(&key);
            me.queue.add(key);
        }
    });
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
    fn pod_changed(&self, change: &Change<'_, Pod>) {
        match change {
            Change::Applied { old, new } => {
                let owner = job_owner(new);
                if let Some(o) = &owner {
                    if old.is_none() {
                        self.expectations.creation_observed(o);
                    }
                    if new.metadata.deletion_timestamp.is_some() {
                        self.expectations
                            .deletion_observed(o, &new.uid().unwrap_or_default());
                    }
                    self.queue.add(o.clone());
                }
                if let Some(o) = old.as_deref().and_then(job_owner) {
                    if Some(&o) != owner.as_ref() {
                        self.queue.add(o);
                    }
                }
                if owner.is_none() && is_active(new) {
                    self.enqueue_matching(new);
                }
            }
            Change::Deleted(pod) => {
                if let Some(o) = job_owner(pod) {
                    self.expectations
                        .deletion_observed(&o, &pod.uid().unwrap_or_default());
                    self.queue.add(o);
                }
            }
        }
    }

    /// Queues the Jobs whose selector matches an orphan pod.
    fn enqueue_matching(&self, pod: &Pod) {
        let ns = pod.namespace().unwrap_or_default();
        for job in self.ctx.informers.jobs.store().state() {
            let selector = job.spec.as_ref().and_then(|s| s.selector.as_ref());
            if job.namespace().as_deref() == Some(ns.as_str())
                && label_selector_matches(selector, pod.metadata.labels.as_ref())
            {
                self.queue.add(Key::of(job.as_ref()));
            }
        }
    }

    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(job) = self
            .ctx
            .informers
            .jobs
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        if job.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        let managed_by = job.spec.as_ref().and_then(|s| s.managed_by.as_deref());
        if managed_by.is_some_and(|m| m != MANAGED_BY) {
            // Another controller's Job.
            return Ok(None);
        }
        if sync::finished_at(&job).is_some() {
            return self.expire(&job, &key).await;
        }
        if !self.expectations.satisfied(&key) {
            // The pods' events bring the Job back.
            return Ok(None);
        }
        let pods: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let owned = self.claim_pods(&job, &key, &pods).await?;
        let mut plan = sync::plan(&job, &owned, Timestamp::now());

        self.expectations.expect(
            &key,
            plan.create.len() as i64,
            plan.delete.iter().map(|p| p.uid().unwrap_or_default()),
        );
        self.delete_pods(&job, &key, &pods, &plan.delete).await?;
        let failed_creates = self
            .create_pods(&job, &key, &pods, &plan.create, &plan.index_failures)
            .await;
        if let Some(active) = plan.status.active.as_mut() {
            *active -= failed_creates.as_ref().map_or(0, |(n, _)| *n as i32);
        }

        let changed = serde_json::to_value(&plan.status)?
            != serde_json::to_value(job.status.clone().unwrap_or_default())?;
        if changed {
            let mut updated = (*job).clone();
            updated.status = Some(plan.status.clone());
            let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
            api.replace_status(&key.name, &PostParams::default(), &updated)
                .await?;
            debug!(job = %key, status = ?plan.status, "job status written");
        }
        for e in &plan.events {
            if e.warning {
                self.recorder.warning(job.as_ref(), &e.reason, &e.message);
            } else {
                self.recorder.normal(job.as_ref(), &e.reason, &e.message);
            }
        }
        if let Some((_, e)) = failed_creates {
            return Err(e);
        }
        let after = Job {
            status: Some(plan.status),
            ..(*job).clone()
        };
        if sync::finished_at(&after).is_some() {
            info!(job = %key, complete = sync::has_condition(&after, sync::COMPLETE), "job finished");
            return self.expire(&after, &key).await;
        }
        Ok(plan.requeue)
    }

    /// The pods the Job controls: adopts orphans matching its selector,
    /// releases its pods that no longer match.
    async fn claim_pods(
        &self,
        job: &Job,
        key: &Key,
        pods: &Api<Pod>,
    ) -> Result<Vec<Arc<Pod>>, ControllerError> {
        let uid = job.uid().unwrap_or_default();
        let selector = job.spec.as_ref().and_then(|s| s.selector.as_ref());
        // Its own pods, finished or not; only active orphans are adopted.
        let candidates = self.ctx.pods_controlled_by(&uid).into_iter().chain(
            self.ctx
                .orphan_pods_in(&key.namespace)
                .into_iter()
                .filter(|p| is_active(p)),
        );
        let claimer = Claimer {
            owner: owner_ref(job),
            owner_deleting: job.metadata.deletion_timestamp.is_some(),
            namespace: &key.namespace,
        };
        let owned = claimer
            .claim(pods, candidates, |p| {
                label_selector_matches(selector, p.metadata.labels.as_ref())
            })
            .await?;
        Ok(owned)
    }

    async fn delete_pods(
        &self,
        job: &Job,
        key: &Key,
        pods: &Api<Pod>,
        victims: &[Arc<Pod>],
    ) -> Result<(), ControllerError> {
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
        let mut first_error = None;
        for (p, r) in victims.iter().zip(results) {
            match r {
                Ok(_) => {
                    self.recorder.normal(
                        job,
                        "SuccessfulDelete",
                        &format!("Deleted pod: {}", p.name_any()),
                    );
                    continue;
                }
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => {
                    self.recorder
                        .warning(job, "FailedDelete", &format!("Error deleting: {e}"));
                    first_error.get_or_insert(e);
                }
            }
            self.expectations
                .deletion_observed(key, &p.uid().unwrap_or_default());
        }
        match first_error {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// Creates the pods, in slow-start batches (1, 2, 4, …); on a failure
    /// stops and says how many were not created, and why.
    async fn create_pods(
        &self,
        job: &Job,
        key: &Key,
        pods: &Api<Pod>,
        indexes: &[Option<i32>],
        failures: &BTreeMap<i32, i32>,
    ) -> Option<(usize, ControllerError)> {
        let pp = PostParams::default();
        let mut done = 0;
        let mut batch = 1;
        while done < indexes.len() {
            let n = batch.min(indexes.len() - done);
            let templates: Result<Vec<Pod>, serde_json::Error> = indexes[done..done + n]
                .iter()
                .map(|i| new_pod(job, *i, i.and_then(|i| failures.get(&i).copied())))
                .collect();
            let templates = match templates {
                Ok(t) => t,
                Err(e) => {
                    for _ in done..indexes.len() {
                        self.expectations.creation_observed(key);
                    }
                    return Some((indexes.len() - done, e.into()));
                }
            };
            let results = join_all(templates.iter().map(|t| pods.create(&pp, t))).await;
            done += n;
            let mut failed = 0;
            let mut first_error = None;
            for r in results {
                match r {
                    Ok(p) => self.recorder.normal(
                        job,
                        "SuccessfulCreate",
                        &format!("Created pod: {}", p.name_any()),
                    ),
                    Err(e) => {
                        failed += 1;
                        self.expectations.creation_observed(key);
                        self.recorder
                            .warning(job, "FailedCreate", &format!("Error creating: {e}"));
                        first_error.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = first_error {
                // The rest are not coming.
                for _ in done..indexes.len() {
                    self.expectations.creation_observed(key);
                }
                return Some((failed + indexes.len() - done, e.into()));
            }
            batch *= 2;
        }
        if !indexes.is_empty() {
            debug!(job = %key, created = indexes.len(), "created pods");
        }
        None
    }

    /// The TTL-after-finished controller: deletes a finished Job once
    /// `ttlSecondsAfterFinished` passed since it finished.
    async fn expire(&self, job: &Job, key: &Key) -> Outcome {
        let Some(ttl) = job.spec.as_ref().and_then(|s| s.ttl_seconds_after_finished) else {
            return Ok(None);
        };
        let Some(finished) = sync::finished_at(job) else {
            return Ok(None);
        };
        let age = Timestamp::now().duration_since(finished).as_secs_f64();
        let left = f64::from(ttl) - age;
        if left > 0.0 {
            return Ok(Duration::try_from_secs_f64(left).ok());
        }
        let api: Api<Job> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            preconditions: Some(Preconditions {
                uid: job.uid(),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&key.name, &dp).await {
            Ok(_) => {
                info!(job = %key, ttl, "finished job deleted after its TTL");
                Ok(None)
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// `<job>-` or, for a completion index, `<job>-<index>-`, cut to fit.
fn generate_name(job: &str, index: Option<i32>) -> String {
    let suffix = match index {
        Some(i) => format!("-{i}-"),
        None => "-".to_string(),
    };
    let room = MAX_GENERATE_NAME.saturating_sub(suffix.len());
    let mut base = job.to_string();
    if base.len() > room {
        let mut cut = room;
        while !base.is_char_boundary(cut) {
            cut -= 1;
        }
        base.truncate(cut);
    }
    base + &suffix
}

/// A pod for `job` from its template (with its completion index, and how
/// often that index failed before, with backoffLimitPerIndex).
fn new_pod(job: &Job, index: Option<i32>, failures: Option<i32>) -> Result<Pod, serde_json::Error> {
    let template = job
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut labels = meta.labels.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    let mut spec = serde_json::to_value(template.spec.unwrap_or_default())?;
    if let Some(i) = index {
        labels.insert(indexes::INDEX_KEY.to_string(), i.to_string());
        annotations.insert(indexes::INDEX_KEY.to_string(), i.to_string());
        if let Some(n) = failures {
            annotations.insert(indexes::FAILURE_COUNT_KEY.to_string(), n.to_string());
        }
        add_index_env(&mut spec);
        if spec
            .get("hostname")
            .is_none_or(|h| h.as_str().is_none_or(str::is_empty))
        {
            spec["hostname"] = json!(format!("{}-{i}", job.name_any()));
        }
    }
    serde_json::from_value(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": generate_name(&job.name_any(), index),
            "namespace": job.namespace(),
            "labels": labels,
            "annotations": annotations,
            "finalizers": meta.finalizers,
            "ownerReferences": [owner_ref(job)],
        },
        "spec": spec,
    }))
}

/// `JOB_COMPLETION_INDEX` from the index annotation, in every container
/// that does not set it.
fn add_index_env(spec: &mut Value) {
    for list in ["initContainers", "containers"] {
        let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
            continue;
        };
        for c in containers {
            let Some(c) = c.as_object_mut() else { continue };
            let env = c.entry("env").or_insert_with(|| json!([]));
            let Some(env) = env.as_array_mut() else {
                continue;
            };
            if env
                .iter()
                .any(|e| e.get("name").and_then(Value::as_str) == Some("JOB_COMPLETION_INDEX"))
            {
                continue;
            }
            env.push(json!({
                "name": "JOB_COMPLETION_INDEX",
                "valueFrom": {"fieldRef": {
                    "apiVersion": "v1",
                    "fieldPath": format!("metadata.annotations['{}']", indexes::INDEX_KEY),
                }},
            }));
        }
    }
}

#[cfg(test)]
mod tests;
