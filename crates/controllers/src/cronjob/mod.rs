//! The CronJob controller (kube-controller-manager's cronjob-controller,
//! "v2"): creates a Job from `spec.jobTemplate` at each scheduled time.
//!
//! - schedules are robfig/cron's standard ones (`schedule.rs`), in
//!   `spec.timeZone` or else the controller's local zone;
//! - the time to run is the most recent unmet schedule time since
//!   `status.lastScheduleTime` (or creation), not older than
//!   `startingDeadlineSeconds`; more than 100 missed: TooManyMissedTimes;
//! - `concurrencyPolicy` Allow, Forbid (skip while a Job runs) or Replace
//!   (delete the running Jobs first), `suspend`;
//! - Jobs are named `<cronjob>-<scheduled time in minutes since the
//!   epoch>` with annotation `batch.kubernetes.io/cronjob-scheduled-timestamp`
//!   and a controller ownerReference;
//! - `status.active` (finished Jobs leave it: SawCompletedJob),
//!   `lastScheduleTime`, `lastSuccessfulTime`; finished Jobs beyond
//!   `successfulJobsHistoryLimit`/`failedJobsHistoryLimit` are deleted,
//!   oldest first;
//! - the CronJob is looked at again just after its next schedule time.

mod schedule;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use kube::runtime::reflector::ObjectRef;
use kube::ResourceExt;
use rkube_events::Recorder;
use serde_json::json;
use tokio::task::JoinHandle;
use tracing::{debug, info};

use crate::framework::context::Context;
use crate::framework::informer::Change;
use crate::framework::owner::owner_ref;
use crate::framework::queue::{Key, Queue};
use crate::framework::runner::{spawn_workers, Outcome};
use crate::pods::controller_of;
use crate::ControllerError;
use schedule::{local_time_zone, time_zone, Schedule};

pub const NAME: &str = "cronjob-controller";
const WORKERS: usize = 5;
/// The annotation with the time a Job was scheduled for (RFC 3339, in
/// the CronJob's zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";
/// How long after a schedule time the CronJob is looked at.
const NEXT_SCHEDULE_DELTA: Duration = Duration::from_millis(100);

struct Controller {
    ctx: Arc<Context>,
    queue: Queue,
    recorder: Recorder,
}

fn cronjob_owner(job: &Job) -> Option<Key> {
    let o = controller_of(&job.metadata)?;
    (o.kind == "CronJob").then(|| Key::new(job.namespace().unwrap_or_default(), o.name.clone()))
}

pub fn start(ctx: &Arc<Context>) -> Vec<JoinHandle<()>> {
    let c = Arc::new(Controller {
        ctx: ctx.clone(),
        queue: Queue::default(),
        recorder: ctx.recorder(NAME),
    });
    let queue = c.queue.clone();
    ctx.informers
        .cronjobs
        .on_change(move |change| match change {
            Change::Applied { new, .. } => queue.add(Key::of(*new)),
            Change::Deleted(cj) => queue.add(Key::of(*cj)),
        });
    let queue = c.queue.clone();
    ctx.informers.jobs.on_change(move |change| {
        let job = match change {
            Change::Applied { new, .. } => *new,
            Change::Deleted(j) => *j,
        };
        if let Some(k) = cronjob_owner(job) {
            queue.add(k);
        }
    });
    let me = c.clone();
    spawn_workers(NAME, c.queue.clone(), WORKERS, move |key| {
        let me = me.clone();
        async move { me.reconcile(key).await }
    })
}

/// How many schedule times went by unmet.
#[derive(Debug, PartialEq, Eq)]
enum Missed {
    None,
    Few,
    Many,
}

/// The most recent schedule time at or before `now` that has not run
/// (Kubernetes' `mostRecentScheduleTime`): searched from `since` (the
/// last schedule time, else the CronJob's creation), or from
/// `startingDeadlineSeconds` ago if that is later.
fn most_recent_schedule(
    schedule: &Schedule,
    tz: &TimeZone,
    since: Timestamp,
    starting_deadline: Option<i64>,
    now: Timestamp,
) -> Result<(Option<Timestamp>, Missed), String> {
    let mut earliest = since;
    if let Some(d) = starting_deadline {
        let deadline = now - SignedDuration::from_secs(d);
        if deadline > earliest {
            earliest = deadline;
        }
    }
    let Some(t1) = schedule.next(earliest, tz) else {
        return Ok((None, Missed::None));
    };
    if now < t1 {
        return Ok((None, Missed::None));
    }
    let Some(t2) = schedule.next(t1, tz).filter(|t2| now >= *t2) else {
        return Ok((Some(t1), Missed::None));
    };
    let between = t2.duration_since(t1).as_secs_f64().round() as i64;
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".into());
    }
    let elapsed = now.duration_since(t1).as_secs();
    let missed = elapsed / between + 1;
    // Start one interval early: schedules need not be regular.
    let mut t = t1 + SignedDuration::from_secs((missed - 2) * between);
    let mut most_recent = t1;
    while let Some(next) = schedule.next(t, tz).filter(|n| *n <= now) {
        most_recent = next;
        t = next;
    }
    let class = match missed {
        m if m > 100 => Missed::Many,
        m if m > 1 => Missed::Few,
        _ => Missed::None,
    };
    Ok((Some(most_recent), class))
}

/// `<cronjob>-<minutes since the epoch>`.
fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// RFC 3339 in `tz`, as Go's `time.RFC3339` writes it (`Z` for UTC).
fn rfc3339_in(t: Timestamp, tz: &TimeZone) -> String {
    let offset = tz.to_offset(t).seconds();
    let dt = tz.to_datetime(t);
    let zone = if offset == 0 {
        "Z".to_string()
    } else {
        let sign = if offset < 0 { '-' } else { '+' };
        let o = offset.abs();
        format!("{sign}{:02}:{:02}", o / 3600, o % 3600 / 60)
    };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{zone}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// The type of the Job's finished condition (Complete or Failed), if any.
fn finished(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

fn job_ref(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

/// The finished Jobs to delete beyond the history limits, oldest first.
fn over_history_limits<'a>(cj: &CronJob, jobs: &'a [Arc<Job>]) -> Vec<&'a Arc<Job>> {
    let spec = &cj.spec;
    let mut out = Vec::new();
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit),
        ("Failed", spec.failed_jobs_history_limit),
    ] {
        let Some(limit) = limit else { continue };
        let mut done: Vec<&Arc<Job>> = jobs.iter().filter(|j| finished(j) == Some(kind)).collect();
        // Oldest start first; never started last; then by name.
        done.sort_by_key(|j| {
            let start = j
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0);
            (start.is_none(), start, j.name_any())
        });
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        out.extend(done.into_iter().take(excess));
    }
    out
}

impl Controller {
    async fn reconcile(&self, key: Key) -> Outcome {
        let Some(cj) = self
            .ctx
            .informers
            .cronjobs
            .store()
            .get(&ObjectRef::new(&key.name).within(&key.namespace))
        else {
            return Ok(None);
        };
        let uid = cj.uid().unwrap_or_default();
        let jobs: Vec<Arc<Job>> = self
            .ctx
            .informers
            .jobs
            .store()
            .state()
            .into_iter()
            .filter(|j| {
                j.metadata.namespace.as_deref() == Some(key.namespace.as_str())
                    && controller_of(&j.metadata).is_some_and(|o| o.uid == uid)
            })
            .collect();
        let job_api: Api<Job> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
        let old = cj.status.clone().unwrap_or_default();
        let mut status = old.clone();
        let mut active = status.active.take().unwrap_or_default();

        // Which Jobs still run.
        for j in &jobs {
            let listed = active.iter().any(|r| r.uid == j.metadata.uid);
            match finished(j) {
                None if !listed => {
                    active.push(job_ref(j));
                    // A Job this CronJob scheduled (a lost status write):
                    // its time counts as scheduled.
                    let at = j
                        .annotations()
                        .get(SCHEDULED_TIMESTAMP)
                        .and_then(|t| t.parse::<Timestamp>().ok());
                    if let Some(at) =
                        at.filter(|at| status.last_schedule_time.as_ref().is_none_or(|l| *at > l.0))
                    {
                        status.last_schedule_time = Some(Time(at));
                    }
                }
                Some(cond) if listed => {
                    active.retain(|r| r.uid != j.metadata.uid);
                    self.recorder.normal(
                        cj.as_ref(),
                        "SawCompletedJob",
                        &format!("Saw completed job: {}, condition: {cond}", j.name_any()),
                    );
                }
                _ => {}
            }
            if finished(j) == Some("Complete") {
                let done = j.status.as_ref().and_then(|s| s.completion_time.clone());
                if done.as_ref().is_some_and(|d| {
                    status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|l| d.0 > l.0)
                }) {
                    status.last_successful_time = done;
                }
            }
        }
        let mut gone = Vec::new();
        for r in &active {
            if !jobs.iter().any(|j| j.metadata.uid == r.uid) {
                let name = r.name.clone().unwrap_or_default();
                match job_api.get_opt(&name).await? {
                    Some(j) if j.metadata.uid == r.uid => {}
                    _ => {
                        self.recorder.normal(
                            cj.as_ref(),
                            "MissingJob",
                            &format!("Active job went missing: {name}"),
                        );
                        gone.push(r.uid.clone());
                    }
                }
            }
        }
        active.retain(|r| !gone.contains(&r.uid));

        // History limits.
        for j in over_history_limits(&cj, &jobs) {
            self.delete_job(&cj, &job_api, &j.name_any()).await?;
        }

        let requeue = if cj.metadata.deletion_timestamp.is_some() {
            None
        } else {
            self.schedule(&cj, &key, &job_api, &mut status, &mut active)
                .await?
        };

        status.active = (!active.is_empty()).then_some(active);
        if serde_json::to_value(&status)? != serde_json::to_value(&old)? {
            let updated = CronJob {
                status: Some(status),
                ..(*cj).clone()
            };
            let api: Api<CronJob> = Api::namespaced(self.ctx.client.clone(), &key.namespace);
            api.replace_status(&key.name, &PostParams::default(), &updated)
                .await?;
        }
        Ok(requeue)
    }

    /// Starts the Job due now, if any; says when to look again.
    async fn schedule(
        &self,
        cj: &CronJob,
        key: &Key,
        job_api: &Api<Job>,
        status: &mut CronJobStatus,
        active: &mut Vec<ObjectReference>,
    ) -> Result<Option<Duration>, ControllerError> {
        let spec = &cj.spec;
        let tz = match spec.time_zone.as_deref() {
            None => local_time_zone(),
            Some(name) => match time_zone(name) {
                Some(tz) => tz,
                None => {
                    self.recorder.warning(
                        cj,
                        "UnknownTimeZone",
                        &format!("invalid timeZone: {name:?}: unknown time zone {name}"),
                    );
                    return Ok(None);
                }
            },
        };
        if spec.suspend == Some(true) {
            return Ok(None);
        }
        let schedule = match Schedule::parse(&spec.schedule) {
            Ok(s) => s,
            Err(e) => {
                self.recorder.warning(
                    cj,
                    "UnparseableSchedule",
                    &format!("unparseable schedule: {:?} : {e}", spec.schedule),
                );
                return Ok(None);
            }
        };
        let now = Timestamp::now();
        let next = |now: Timestamp| {
            schedule
                .next(now, &tz)
                .and_then(|t| Duration::try_from(t.duration_since(now)).ok())
                .map(|d| d + NEXT_SCHEDULE_DELTA)
        };
        let since = status
            .last_schedule_time
            .as_ref()
            .or(cj.metadata.creation_timestamp.as_ref())
            .map_or(now, |t| t.0);
        let (scheduled, missed) = match most_recent_schedule(
            &schedule,
            &tz,
            since,
            spec.starting_deadline_seconds,
            now,
        ) {
            Ok(r) => r,
            Err(e) => {
                self.recorder.warning(
                    cj,
                    "InvalidSchedule",
                    &format!("invalid schedule: {} : {e}", spec.schedule),
                );
                return Ok(None);
            }
        };
        if missed == Missed::Many {
            self.recorder.warning(
                cj,
                "TooManyMissedTimes",
                "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew",
            );
        }
        let Some(scheduled) = scheduled else {
            return Ok(next(now));
        };
        if let Some(d) = spec.starting_deadline_seconds {
            if scheduled + SignedDuration::from_secs(d) < now {
                self.recorder.warning(
                    cj,
                    "MissSchedule",
                    &format!(
                        "Missed scheduled time to start a job: {}",
                        rfc3339_in(scheduled, &TimeZone::UTC)
                    ),
                );
                return Ok(next(now));
            }
        }
        let name = job_name(&cj.name_any(), scheduled);
        if active
            .iter()
            .any(|r| r.name.as_deref() == Some(name.as_str()))
        {
            return Ok(next(now));
        }
        match spec.concurrency_policy.as_deref() {
            Some("Forbid") if !active.is_empty() => {
                self.recorder.normal(
                    cj,
                    "JobAlreadyActive",
                    "Not starting job because prior execution is running and concurrency policy is Forbid",
                );
                return Ok(next(now));
            }
            Some("Replace") => {
                for r in std::mem::take(active) {
                    self.delete_job(cj, job_api, r.name.as_deref().unwrap_or_default())
                        .await?;
                }
            }
            _ => {}
        }

        let template = &spec.job_template;
        let meta = template.metadata.clone().unwrap_or_default();
        let mut annotations = meta.annotations.unwrap_or_default();
        annotations.insert(SCHEDULED_TIMESTAMP.into(), rfc3339_in(scheduled, &tz));
        let job: Job = serde_json::from_value(json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "namespace": key.namespace,
                "labels": meta.labels,
                "annotations": annotations,
                "ownerReferences": [owner_ref(cj)],
            },
            "spec": template.spec,
        }))?;
        match job_api.create(&PostParams::default(), &job).await {
            Ok(created) => {
                self.recorder
                    .normal(cj, "SuccessfulCreate", &format!("Created job {name}"));
                info!(cronjob = %key, job = %name, "job created");
                active.push(job_ref(&created));
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Created before (a write of the status was lost).
                debug!(cronjob = %key, job = %name, "job already exists");
            }
            Err(e) => {
                self.recorder
                    .warning(cj, "FailedCreate", &format!("Error creating job: {e}"));
                return Err(e.into());
            }
        }
        status.last_schedule_time = Some(Time(scheduled));
        Ok(next(now))
    }

    async fn delete_job(
        &self,
        cj: &CronJob,
        job_api: &Api<Job>,
        name: &str,
    ) -> Result<(), ControllerError> {
        let dp = DeleteParams {
            propagation_policy: Some(PropagationPolicy::Background),
            ..DeleteParams::default()
        };
        match job_api.delete(name, &dp).await {
            Ok(_) => {
                self.recorder
                    .normal(cj, "SuccessfulDelete", &format!("Deleted job {name}"));
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(e) => {
                self.recorder
                    .warning(cj, "FailedDelete", &format!("Deleted job: {e}"));
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn recent(
        spec: &str,
        since: &str,
        deadline: Option<i64>,
        now: &str,
    ) -> (Option<String>, Missed) {
        let s = Schedule::parse(spec).expect("schedule");
        let (t, m) = most_recent_schedule(&s, &TimeZone::UTC, ts(since), deadline, ts(now))
            .expect("schedule times");
        (t.map(|t| t.to_string()), m)
    }

    #[test]
    fn the_most_recent_unmet_time_and_how_many_were_missed() {
        // Nothing due yet.
        assert_eq!(
            recent(
                "* * * * *",
                "2026-03-01T10:00:10Z",
                None,
                "2026-03-01T10:00:50Z"
            ),
            (None, Missed::None)
        );
        // One due.
        assert_eq!(
            recent(
                "* * * * *",
                "2026-03-01T10:00:10Z",
                None,
                "2026-03-01T10:01:05Z"
            ),
            (Some("2026-03-01T10:01:00Z".into()), Missed::None)
        );
        // Several: the latest one runs.
        assert_eq!(
            recent(
                "*/5 * * * *",
                "2026-03-01T10:00:00Z",
                None,
                "2026-03-01T10:22:00Z"
            ),
            (Some("2026-03-01T10:20:00Z".into()), Missed::Few)
        );
        // Irregular schedule.
        assert_eq!(
            recent(
                "30 6-16/4 * * 1-5",
                "2026-03-02T00:00:00Z",
                None,
                "2026-03-04T12:00:00Z"
            ),
            (Some("2026-03-04T10:30:00Z".into()), Missed::Few)
        );
        // Hours of minutes missed.
        assert_eq!(
            recent(
                "* * * * *",
                "2026-03-01T00:00:00Z",
                None,
                "2026-03-01T03:00:30Z"
            )
            .1,
            Missed::Many
        );
        // ...unless startingDeadlineSeconds bounds the search.
        assert_eq!(
            recent(
                "* * * * *",
                "2026-03-01T00:00:00Z",
                Some(200),
                "2026-03-01T03:00:30Z"
            ),
            (Some("2026-03-01T03:00:00Z".into()), Missed::Few)
        );
    }

    #[test]
    fn job_names_and_scheduled_timestamps() {
        let t = ts("2026-03-01T10:01:00Z");
        assert_eq!(
            job_name("hello", t),
            format!("hello-{}", t.as_second() / 60)
        );
        assert_eq!(rfc3339_in(t, &TimeZone::UTC), "2026-03-01T10:01:00Z");
        assert_eq!(
            rfc3339_in(t, &TimeZone::fixed(k8s_openapi::jiff::tz::offset(-5))),
            "2026-03-01T05:01:00-05:00"
        );
    }

    #[test]
    fn history_limits_delete_the_oldest_finished_jobs() {
        let job = |name: &str, cond: &str, start: &str| -> Arc<Job> {
            Arc::new(
                serde_json::from_value(json!({
                    "metadata": {"name": name},
                    "status": {"startTime": start,
                        "conditions": [{"type": cond, "status": "True"}]},
                }))
                .expect("job"),
            )
        };
        let jobs = [
            job("a", "Complete", "2026-03-01T10:00:00Z"),
            job("b", "Complete", "2026-03-01T10:01:00Z"),
            job("c", "Complete", "2026-03-01T10:02:00Z"),
            job("d", "Failed", "2026-03-01T10:03:00Z"),
            job("e", "Failed", "2026-03-01T10:04:00Z"),
            job("f", "Running", "2026-03-01T10:05:00Z"),
        ];
        let cj: CronJob = serde_json::from_value(json!({
            "metadata": {"name": "cj"},
            "spec": {"schedule": "* * * * *", "jobTemplate": {},
                "successfulJobsHistoryLimit": 1, "failedJobsHistoryLimit": 1},
        }))
        .expect("cronjob");
        let names: Vec<String> = over_history_limits(&cj, &jobs)
            .iter()
            .map(|j| j.name_any())
            .collect();
        assert_eq!(names, ["a", "b", "d"]);
    }
}
