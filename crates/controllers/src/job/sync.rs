//! What a Job needs next, as a plain function of the Job, its pods and
//! the time (kube-controller-manager's `syncJob` without the I/O): the
//! status to write, the pods to create and delete, the events to record
//! and when to look again.
//!
//! Counting is the "legacy" way (no `batch.kubernetes.io/job-tracking`
//! pod finalizers): succeeded and failed are counted from the pods that
//! exist, never going down, and the active pods deleted when a Job fails
//! are added to `failed`. A pod removed by someone else before it
//! finished is therefore not counted (replaced, as Kubernetes does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobSpec, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use super::failure_policy::{self, Action};
use super::indexes;
use crate::pods::{deletion_order, is_active, is_failed, is_ready, is_succeeded, is_terminal};

/// The first delay before replacing a failed pod, doubled with each
/// failure since the last success, up to the maximum.
const BACKOFF_BASE: Duration = Duration::from_secs(10);
const BACKOFF_MAX: Duration = Duration::from_secs(360);
/// Most pods created in one pass.
const BURST: usize = 500;

pub const COMPLETE: &str = "Complete";
pub const FAILED: &str = "Failed";
pub const SUCCESS_CRITERIA_MET: &str = "SuccessCriteriaMet";
pub const FAILURE_TARGET: &str = "FailureTarget";
pub const SUSPENDED: &str = "Suspended";

/// An Event to record about the Job.
#[derive(Debug, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// One pass of the Job controller over one Job.
#[derive(Debug, Default)]
pub struct Plan {
    pub status: JobStatus,
    /// Pods to create: their completion index (Indexed Jobs) or `None`.
    pub create: Vec<Option<i32>>,
    pub delete: Vec<Arc<Pod>>,
    /// With backoffLimitPerIndex: the failures so far of each index to
    /// create (the pods' `job-index-failure-count` annotation).
    pub index_failures: BTreeMap<i32, i32>,
    pub events: Vec<Event>,
    pub requeue: Option<Duration>,
}

/// Why a Job is finishing (the interim and final conditions share it).
struct Finish {
    success: bool,
    reason: String,
    message: String,
}

/// Whether `job` has a condition of type `t` with status True.
pub fn has_condition(job: &Job, t: &str) -> bool {
    job.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == t && c.status == "True"))
}

/// When the Job finished (its Complete or Failed condition became True).
pub fn finished_at(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == COMPLETE || c.type_ == FAILED) && c.status == "True")
        .map(|c| {
            c.last_transition_time
                .as_ref()
                .map_or(Timestamp::UNIX_EPOCH, |t| t.0)
        })
}

fn condition(t: &str, status: &str, reason: &str, message: &str, now: Timestamp) -> JobCondition {
    JobCondition {
        type_: t.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    }
}

/// Sets condition `t` to `status`; adds it if missing unless `status` is
/// False. True if something changed.
fn ensure_condition(
    conds: &mut Vec<JobCondition>,
    t: &str,
    status: &str,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    match conds.iter_mut().find(|c| c.type_ == t) {
        Some(c) if c.status == status => false,
        Some(c) => {
            *c = condition(t, status, reason, message, now);
            true
        }
        None if status == "False" => false,
        None => {
            conds.push(condition(t, status, reason, message, now));
            true
        }
    }
}

/// When a finished pod finished: its containers' latest finishedAt, else
/// when it stopped being ready, else when it was created.
fn finish_time(pod: &Pod) -> Timestamp {
    let status = pod.status.as_ref();
    let finished = status
        .into_iter()
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    finished
        .or_else(|| {
            status?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "Ready")?
                .last_transition_time
                .as_ref()
                .map(|t| t.0)
        })
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(Timestamp::UNIX_EPOCH)
}

/// How long to wait before replacing failed pods: 10s × 2^(failures since
/// the last success − 1), at most 6 minutes, from the last failure.
fn backoff_remaining(
    failures: &[Timestamp],
    successes: &[Timestamp],
    now: Timestamp,
) -> Option<Duration> {
    let last_success = successes.iter().max();
    let since: Vec<Timestamp> = failures
        .iter()
        .copied()
        .filter(|f| last_success.is_none_or(|s| f > s))
        .collect();
    let last = since.iter().max()?;
    let delay = BACKOFF_BASE
        .saturating_mul(1u32 << (since.len() - 1).min(20))
        .min(BACKOFF_MAX);
    let elapsed = Duration::try_from(now.duration_since(*last)).unwrap_or_default();
    delay.checked_sub(elapsed).filter(|d| !d.is_zero())
}

/// `restartPolicy: OnFailure`: the container restarts of running pods
/// reached backoffLimit.
fn past_backoff_on_failure(job: &Job, pods: &[Arc<Pod>], backoff_limit: i32) -> bool {
    let on_failure = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref())
        == Some("OnFailure");
    if !on_failure {
        return false;
    }
    let restarts: i32 = pods
        .iter()
        .filter(|p| is_active(p))
        .filter_map(|p| p.status.as_ref())
        .flat_map(|s| {
            s.container_statuses
                .iter()
                .flatten()
                .chain(s.init_container_statuses.iter().flatten())
        })
        .map(|c| c.restart_count)
        .sum();
    if backoff_limit == 0 {
        restarts > 0
    } else {
        restarts >= backoff_limit
    }
}

/// The backoff of one index after `n` failures, the last at `last`.
fn index_backoff(n: i32, last: Timestamp, now: Timestamp) -> Option<Duration> {
    if n <= 0 {
        return None;
    }
    let delay = BACKOFF_BASE
        .saturating_mul(1u32 << (n - 1).min(20))
        .min(BACKOFF_MAX);
    let elapsed = Duration::try_from(now.duration_since(last)).unwrap_or_default();
    delay.checked_sub(elapsed).filter(|d| !d.is_zero())
}

/// The index of the first `successPolicy` rule the succeeded indexes
/// meet (Indexed Jobs).
fn success_policy_match(spec: &JobSpec, completions: i32, done: &BTreeSet<i32>) -> Option<usize> {
    let policy = spec.success_policy.as_ref()?;
    if done.is_empty() {
        return None;
    }
    policy.rules.iter().position(|rule| {
        let count = rule.succeeded_count;
        match rule.succeeded_indexes.as_deref() {
            Some(s) => {
                let required = indexes::parse(s, completions);
                if required.is_empty() {
                    return false;
                }
                let met = required.intersection(done).count();
                match count {
                    None => met == required.len(),
                    Some(n) => met as i64 >= i64::from(n),
                }
            }
            None => count.is_some_and(|n| done.len() as i64 >= i64::from(n)),
        }
    })
}

fn min_requeue(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The plan for a Job that has not finished (no Complete or Failed
/// condition) and whose pods are `pods` (owned, matching its selector).
pub fn plan(job: &Job, pods: &[Arc<Pod>], now: Timestamp) -> Plan {
    let spec = job.spec.clone().unwrap_or_default();
    let prev = job.status.clone().unwrap_or_default();
    let mut plan = Plan {
        status: prev.clone(),
        ..Plan::default()
    };
    let mut conds = prev.conditions.clone().unwrap_or_default();
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let indexed = spec.completion_mode.as_deref() == Some("Indexed");
    let suspended = spec.suspend == Some(true);
    let only_failed = spec.pod_replacement_policy.as_deref() == Some("Failed");

    let active: Vec<&Arc<Pod>> = pods.iter().filter(|p| is_active(p)).collect();
    let terminating: Vec<&Arc<Pod>> = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && !is_terminal(p))
        .collect();

    // Failures, as the pod failure policy reads them.
    let mut failures: Vec<Timestamp> = Vec::new();
    let mut fail_job: Option<(Timestamp, String)> = None;
    let per_index = indexed.then_some(spec.backoff_limit_per_index).flatten();
    let c = spec.completions.unwrap_or(0);
    // Per index: failures counted, when the last one was, and whether a
    // FailIndex rule matched.
    let mut index_failures: BTreeMap<i32, (i32, Timestamp, bool)> = BTreeMap::new();
    for p in pods.iter().filter(|p| is_failed(p)) {
        let at = finish_time(p);
        let action = failure_policy::action(spec.pod_failure_policy.as_ref(), p);
        if let (Some(_), Some(i), false) =
            (per_index, indexes::of_pod(p, c), action == Action::Ignore)
        {
            let before = indexes::failure_count(p);
            let e = index_failures.entry(i).or_insert((0, at, false));
            e.0 = (e.0 + 1).max(before + 1);
            e.1 = e.1.max(at);
            e.2 |= action == Action::FailIndex;
        }
        match action {
            Action::Ignore => {}
            Action::Count | Action::FailIndex => failures.push(at),
            Action::FailJob(msg) => {
                failures.push(at);
                if fail_job.as_ref().is_none_or(|(t, _)| at < *t) {
                    fail_job = Some((at, msg));
                }
            }
        }
    }
    let successes: Vec<Timestamp> = pods
        .iter()
        .filter(|p| is_succeeded(p))
        .map(|p| finish_time(p))
        .collect();
    let completions = spec.completions;
    let mut done = BTreeSet::new();
    let succeeded = if indexed {
        done = indexes::parse(prev.completed_indexes.as_deref().unwrap_or_default(), c);
        done.extend(
            pods.iter()
                .filter(|p| is_succeeded(p))
                .filter_map(|p| indexes::of_pod(p, c)),
        );
        done.len() as i32
    } else {
        (successes.len() as i32).max(prev.succeeded.unwrap_or(0))
    };
    let mut failed = (failures.len() as i32).max(prev.failed.unwrap_or(0));
    let mut failed_indexes = BTreeSet::new();
    if let Some(limit) = per_index {
        failed_indexes = indexes::parse(prev.failed_indexes.as_deref().unwrap_or_default(), c);
        failed_indexes.extend(
            index_failures
                .iter()
                .filter(|(i, (n, _, fail_index))| (*fail_index || *n > limit) && !done.contains(*i))
                .map(|(i, _)| *i),
        );
    }

    let interim = conds
        .iter()
        .find(|c| {
            (c.type_ == SUCCESS_CRITERIA_MET || c.type_ == FAILURE_TARGET) && c.status == "True"
        })
        .map(|c| Finish {
            success: c.type_ == SUCCESS_CRITERIA_MET,
            reason: c.reason.clone().unwrap_or_default(),
            message: c.message.clone().unwrap_or_default(),
        });
    let mut finish: Option<Finish> = None;
    let mut deleted_active = 0usize;
    let mut created = 0usize;

    if interim.is_none() {
        if plan.status.start_time.is_none() && !suspended {
            plan.status.start_time = Some(Time(now));
        }
        let deadline = spec
            .active_deadline_seconds
            .zip(plan.status.start_time.as_ref())
            .filter(|_| !suspended)
            .map(|(secs, start)| {
                let elapsed = now.duration_since(start.0).as_secs_f64();
                secs as f64 - elapsed
            });
        if let Some((_, msg)) = fail_job {
            finish = Some(Finish {
                success: false,
                reason: "PodFailurePolicy".into(),
                message: msg,
            });
        } else if failed > backoff_limit || past_backoff_on_failure(job, pods, backoff_limit) {
            finish = Some(Finish {
                success: false,
                reason: "BackoffLimitExceeded".into(),
                message: "Job has reached the specified backoff limit".into(),
            });
        } else if deadline.is_some_and(|left| left <= 0.0) {
            finish = Some(Finish {
                success: false,
                reason: "DeadlineExceeded".into(),
                message: "Job was active longer than specified deadline".into(),
            });
        } else if let Some(left) = deadline {
            plan.requeue = Duration::try_from_secs_f64(left).ok();
        }
        if finish.is_none() && per_index.is_some() {
            let failed_n = failed_indexes.len();
            if spec
                .max_failed_indexes
                .is_some_and(|max| failed_n > max.max(0) as usize)
            {
                finish = Some(Finish {
                    success: false,
                    reason: "MaxFailedIndexesExceeded".into(),
                    message: "Job has exceeded the specified maximal number of failed indexes"
                        .into(),
                });
            } else if failed_n > 0 && (failed_n + done.len()) as i32 >= c {
                finish = Some(Finish {
                    success: false,
                    reason: "FailedIndexes".into(),
                    message: "Job has failed indexes".into(),
                });
            }
        }
        if finish.is_none() && indexed {
            if let Some(index) = success_policy_match(&spec, c, &done) {
                finish = Some(Finish {
                    success: true,
                    reason: "SuccessPolicy".into(),
                    message: format!("Matched rules at index {index}"),
                });
            }
        }
    }

    if interim.is_none() && finish.is_none() {
        if suspended {
            if ensure_condition(
                &mut conds,
                SUSPENDED,
                "True",
                "JobSuspended",
                "Job suspended",
                now,
            ) {
                plan.events.push(Event {
                    warning: false,
                    reason: "Suspended".into(),
                    message: "Job suspended".into(),
                });
            }
            plan.delete.extend(active.iter().map(|p| Arc::clone(p)));
            deleted_active = active.len();
        } else {
            if ensure_condition(
                &mut conds,
                SUSPENDED,
                "False",
                "JobResumed",
                "Job resumed",
                now,
            ) {
                plan.events.push(Event {
                    warning: false,
                    reason: "Resumed".into(),
                    message: "Job resumed".into(),
                });
                // activeDeadlineSeconds counts from the resumption.
                plan.status.start_time = Some(Time(now));
            }
            let backoff = backoff_remaining(&failures, &successes, now);
            let occupied_extra = if only_failed { terminating.len() } else { 0 };
            if indexed {
                let left = c - succeeded - failed_indexes.len() as i32;
                let want = left.clamp(0, parallelism) as usize;
                let mut by_index: BTreeMap<i32, &Arc<Pod>> = BTreeMap::new();
                let mut ordered = active.clone();
                ordered.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
                for p in ordered {
                    match indexes::of_pod(p, c) {
                        Some(i)
                            if !done.contains(&i)
                                && !failed_indexes.contains(&i)
                                && !by_index.contains_key(&i) =>
                        {
                            by_index.insert(i, p);
                        }
                        _ => plan.delete.push(Arc::clone(p)),
                    }
                }
                // Highest indexes go first.
                while by_index.len() > want {
                    if let Some((_, p)) = by_index.pop_last() {
                        plan.delete.push(Arc::clone(p));
                    }
                }
                deleted_active = plan.delete.len();
                let mut taken: BTreeSet<i32> = by_index.keys().copied().collect();
                if only_failed {
                    taken.extend(terminating.iter().filter_map(|p| indexes::of_pod(p, c)));
                }
                taken.extend(failed_indexes.iter().copied());
                let missing = want.saturating_sub(by_index.len());
                if missing > 0 && per_index.is_some() {
                    // Each index waits for its own backoff.
                    for i in (0..c).filter(|i| !done.contains(i) && !taken.contains(i)) {
                        if plan.create.len() >= missing.min(BURST) {
                            break;
                        }
                        let (n, last) = index_failures.get(&i).map_or((0, now), |f| (f.0, f.1));
                        match index_backoff(n, last, now) {
                            Some(wait) => plan.requeue = min_requeue(plan.requeue, Some(wait)),
                            None => {
                                plan.create.push(Some(i));
                                plan.index_failures.insert(i, n);
                            }
                        }
                    }
                } else if missing > 0 {
                    match backoff {
                        Some(wait) => plan.requeue = min_requeue(plan.requeue, Some(wait)),
                        None => plan.create.extend(
                            (0..c)
                                .filter(|i| !done.contains(i) && !taken.contains(i))
                                .take(missing.min(BURST))
                                .map(Some),
                        ),
                    }
                }
            } else {
                let active_n = active.len() as i32;
                let want = match completions {
                    None if succeeded > 0 => active_n.min(parallelism),
                    None => parallelism,
                    Some(c) => (c - succeeded).clamp(0, parallelism),
                } as usize;
                if active.len() > want {
                    let mut ranked = active.clone();
                    ranked.sort_by(|a, b| deletion_order(a, b));
                    plan.delete.extend(
                        ranked
                            .iter()
                            .take(active.len() - want)
                            .map(|p| Arc::clone(p)),
                    );
                    deleted_active = plan.delete.len();
                } else {
                    let missing = want.saturating_sub(active.len() + occupied_extra);
                    if missing > 0 {
                        match backoff {
                            Some(wait) => plan.requeue = min_requeue(plan.requeue, Some(wait)),
                            None => plan.create.extend((0..missing.min(BURST)).map(|_| None)),
                        }
                    }
                }
            }
            created = plan.create.len();
            let active_after = active.len() - deleted_active + created;
            let complete = match completions {
                None => succeeded > 0 && active_after == 0,
                Some(c) => succeeded >= c,
            };
            if complete {
                finish = Some(Finish {
                    success: true,
                    reason: "CompletionsReached".into(),
                    message: "Reached expected number of succeeded pods".into(),
                });
                plan.create.clear();
                created = 0;
            }
        }
    }

    let newly = finish.is_some();
    if let Some(f) = finish.as_ref().or(interim.as_ref()) {
        // Finishing: no pod may keep running.
        let remaining: Vec<&Arc<Pod>> = active
            .iter()
            .filter(|p| !plan.delete.iter().any(|d| Arc::ptr_eq(d, p)))
            .copied()
            .collect();
        plan.delete.extend(remaining.iter().map(|p| Arc::clone(p)));
        if newly && !f.success {
            // The pods stopped count as failures.
            failed += active.len() as i32;
        }
        deleted_active = active.len();
        let interim_type = if f.success {
            SUCCESS_CRITERIA_MET
        } else {
            FAILURE_TARGET
        };
        ensure_condition(&mut conds, interim_type, "True", &f.reason, &f.message, now);
        if active.is_empty() && terminating.is_empty() {
            let final_type = if f.success { COMPLETE } else { FAILED };
            ensure_condition(&mut conds, final_type, "True", &f.reason, &f.message, now);
            if f.success {
                plan.status.completion_time = Some(Time(now));
                plan.events.push(Event {
                    warning: false,
                    reason: "Completed".into(),
                    message: "Job completed".into(),
                });
            } else {
                plan.events.push(Event {
                    warning: true,
                    reason: f.reason.clone(),
                    message: f.message.clone(),
                });
            }
            plan.requeue = None;
        }
    }

    let kept: Vec<&&Arc<Pod>> = active
        .iter()
        .filter(|p| !plan.delete.iter().any(|d| Arc::ptr_eq(d, p)))
        .collect();
    plan.status.active = Some((active.len() - deleted_active + created) as i32);
    plan.status.ready = Some(kept.iter().filter(|p| is_ready(p)).count() as i32);
    plan.status.terminating = Some((terminating.len() + plan.delete.len()) as i32);
    plan.status.succeeded = Some(succeeded);
    plan.status.failed = Some(failed);
    if indexed {
        plan.status.completed_indexes = Some(indexes::format(&done));
    }
    if per_index.is_some() {
        plan.status.failed_indexes = Some(indexes::format(&failed_indexes));
    }
    plan.status.conditions = (!conds.is_empty()).then_some(conds);
    plan
}
