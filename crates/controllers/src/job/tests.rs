//! The Job controller's decisions (`sync::plan`), without a server.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde_json::{json, Value};

use super::sync::{plan, Event, Plan};
use super::{generate_name, new_pod};

fn now() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().expect("time")
}

fn ago(secs: i64) -> String {
    (now() - SignedDuration::from_secs(secs)).to_string()
}

fn job(spec: Value, status: Value) -> Job {
    let mut spec = spec;
    spec["template"] = json!({"metadata": {"labels": {"app": "x"}},
        "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}});
    serde_json::from_value(json!({
        "metadata": {"name": "work", "namespace": "ns", "uid": "job-uid"},
        "spec": spec,
        "status": status,
    }))
    .expect("job")
}

/// A pod in `phase` ("Running", "Succeeded", "Failed", "Terminating"),
/// finished (or created) `secs` ago, with an optional completion index.
fn pod(name: &str, phase: &str, secs: i64, index: Option<i32>, code: i32) -> Arc<Pod> {
    let annotations = index.map_or(
        json!({}),
        |i| json!({"batch.kubernetes.io/job-completion-index": i.to_string()}),
    );
    let deleting = phase == "Terminating";
    let phase = if deleting { "Running" } else { phase };
    let mut p = json!({
        "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}"),
            "creationTimestamp": ago(secs + 5), "annotations": annotations},
        "spec": {"nodeName": "n1", "containers": [{"name": "main"}]},
        "status": {"phase": phase},
    });
    if deleting {
        p["metadata"]["deletionTimestamp"] = json!(ago(0));
    }
    if phase == "Succeeded" || phase == "Failed" {
        p["status"]["containerStatuses"] = json!([{"name": "main", "image": "busybox",
            "imageID": "", "ready": false, "restartCount": 0,
            "state": {"terminated": {"exitCode": code, "finishedAt": ago(secs)}}}]);
    } else if phase == "Running" {
        p["status"]["conditions"] =
            json!([{"type": "Ready", "status": "True", "lastTransitionTime": ago(secs)}]);
    }
    Arc::new(serde_json::from_value(p).expect("pod"))
}

fn conditions(p: &Plan) -> Vec<(String, String, String)> {
    p.status
        .conditions
        .iter()
        .flatten()
        .map(|c| {
            (
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
            )
        })
        .collect()
}

fn names(p: &Plan) -> Vec<String> {
    p.delete
        .iter()
        .map(|p| p.metadata.name.clone().unwrap_or_default())
        .collect()
}

fn reasons(p: &Plan) -> Vec<&str> {
    p.events.iter().map(|e| e.reason.as_str()).collect()
}

#[test]
fn a_new_job_starts_parallelism_pods() {
    let j = job(json!({"completions": 5, "parallelism": 2}), json!({}));
    let p = plan(&j, &[], now());
    assert_eq!(p.create, vec![None, None]);
    assert_eq!(p.status.active, Some(2));
    assert_eq!(p.status.succeeded, Some(0));
    assert_eq!(p.status.start_time.map(|t| t.0), Some(now()));
    assert!(p.events.is_empty());
}

#[test]
fn never_more_active_than_completions_left() {
    let j = job(json!({"completions": 5, "parallelism": 2}), json!({}));
    let pods = [
        pod("a", "Succeeded", 3, None, 0),
        pod("b", "Succeeded", 3, None, 0),
        pod("c", "Succeeded", 2, None, 0),
        pod("d", "Running", 2, None, 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(p.create, vec![None]);
    assert_eq!(p.status.active, Some(2));
    assert_eq!(p.status.ready, Some(1));
    assert_eq!(p.status.succeeded, Some(3));
    // Four succeeded, two running: one too many.
    let pods = [
        pod("a", "Succeeded", 3, None, 0),
        pod("b", "Succeeded", 3, None, 0),
        pod("c", "Succeeded", 2, None, 0),
        pod("e", "Succeeded", 2, None, 0),
        pod("d", "Running", 2, None, 0),
        pod("f", "Running", 9, None, 0),
    ];
    let p = plan(&j, &pods, now());
    assert!(p.create.is_empty());
    assert_eq!(names(&p), ["d"]);
    assert_eq!(p.status.active, Some(1));
}

#[test]
fn enough_successes_complete_the_job() {
    let j = job(
        json!({"completions": 2, "parallelism": 2}),
        json!({"startTime": ago(10)}),
    );
    let pods = [
        pod("a", "Succeeded", 3, None, 0),
        pod("b", "Succeeded", 1, None, 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(
        conditions(&p),
        [
            (
                "SuccessCriteriaMet".into(),
                "True".into(),
                "CompletionsReached".into()
            ),
            (
                "Complete".into(),
                "True".into(),
                "CompletionsReached".into()
            ),
        ]
    );
    assert_eq!(p.status.completion_time.map(|t| t.0), Some(now()));
    assert_eq!(
        p.events,
        [Event {
            warning: false,
            reason: "Completed".into(),
            message: "Job completed".into()
        }]
    );
    assert!(p.create.is_empty());
}

#[test]
fn work_queue_jobs_complete_when_one_succeeded_and_none_run() {
    let j = job(json!({"parallelism": 2}), json!({}));
    let pods = [
        pod("a", "Succeeded", 3, None, 0),
        pod("b", "Running", 5, None, 0),
    ];
    let p = plan(&j, &pods, now());
    assert!(p.create.is_empty() && p.delete.is_empty());
    assert!(conditions(&p).is_empty());
    let pods = [
        pod("a", "Succeeded", 3, None, 0),
        pod("b", "Succeeded", 1, None, 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(p.status.succeeded, Some(2));
    assert_eq!(reasons(&p), ["Completed"]);
}

#[test]
fn failed_pods_are_replaced_after_a_growing_backoff() {
    let j = job(
        json!({"completions": 1, "parallelism": 1, "backoffLimit": 6}),
        json!({}),
    );
    let pods = [pod("a", "Failed", 4, None, 1)];
    let p = plan(&j, &pods, now());
    assert!(p.create.is_empty());
    assert_eq!(p.requeue, Some(Duration::from_secs(6)));
    assert_eq!(p.status.failed, Some(1));
    let p = plan(&j, &[pod("a", "Failed", 11, None, 1)], now());
    assert_eq!(p.create, vec![None]);
    // Second failure since the last success: 20s.
    let pods = [
        pod("a", "Failed", 30, None, 1),
        pod("b", "Failed", 15, None, 1),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(p.requeue, Some(Duration::from_secs(5)));
}

#[test]
fn too_many_failures_fail_the_job_and_stop_its_pods() {
    let j = job(
        json!({"completions": 3, "parallelism": 2, "backoffLimit": 2}),
        json!({}),
    );
    let pods = [
        pod("a", "Failed", 30, None, 1),
        pod("b", "Failed", 20, None, 1),
        pod("c", "Failed", 1, None, 1),
        pod("d", "Running", 1, None, 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(
        conditions(&p),
        [(
            "FailureTarget".into(),
            "True".into(),
            "BackoffLimitExceeded".into()
        )]
    );
    assert_eq!(names(&p), ["d"]);
    assert_eq!(p.status.failed, Some(4));
    assert_eq!(p.status.active, Some(0));
    assert_eq!(p.status.terminating, Some(1));
    assert!(p.events.is_empty());
    // Once the pod is gone: Failed, and the event.
    let mut j = j;
    j.status = Some(p.status);
    let p = plan(&j, &pods[..3], now());
    assert_eq!(
        conditions(&p),
        [
            (
                "FailureTarget".into(),
                "True".into(),
                "BackoffLimitExceeded".into()
            ),
            (
                "Failed".into(),
                "True".into(),
                "BackoffLimitExceeded".into()
            ),
        ]
    );
    assert_eq!(p.status.failed, Some(4));
    assert_eq!(
        p.events,
        [Event {
            warning: true,
            reason: "BackoffLimitExceeded".into(),
            message: "Job has reached the specified backoff limit".into()
        }]
    );
}

#[test]
fn active_deadline() {
    let j = job(
        json!({"completions": 1, "activeDeadlineSeconds": 30}),
        json!({"startTime": ago(10)}),
    );
    let p = plan(&j, &[pod("a", "Running", 8, None, 0)], now());
    assert_eq!(p.requeue, Some(Duration::from_secs(20)));
    let j = job(
        json!({"completions": 1, "activeDeadlineSeconds": 5}),
        json!({"startTime": ago(10)}),
    );
    let p = plan(&j, &[pod("a", "Running", 8, None, 0)], now());
    assert_eq!(
        conditions(&p),
        [(
            "FailureTarget".into(),
            "True".into(),
            "DeadlineExceeded".into()
        )]
    );
    assert_eq!(names(&p), ["a"]);
}

#[test]
fn pod_failure_policy_fails_or_ignores() {
    let policy = json!({"rules": [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}},
        {"action": "Ignore", "onExitCodes": {"operator": "In", "values": [7]}},
    ]});
    let j = job(
        json!({"completions": 1, "backoffLimit": 0, "podFailurePolicy": policy}),
        json!({}),
    );
    // Exit 7 ignored: not counted, replaced at once.
    let p = plan(&j, &[pod("a", "Failed", 1, None, 7)], now());
    assert_eq!(p.status.failed, Some(0));
    assert_eq!(p.create, vec![None]);
    let p = plan(&j, &[pod("b", "Failed", 1, None, 42)], now());
    assert_eq!(
        conditions(&p),
        [
            (
                "FailureTarget".into(),
                "True".into(),
                "PodFailurePolicy".into()
            ),
            ("Failed".into(), "True".into(), "PodFailurePolicy".into()),
        ]
    );
    assert_eq!(
        p.events[0].message,
        "Container main for pod ns/b failed with exit code 42 matching FailJob rule at index 0"
    );
}

#[test]
fn indexed_jobs_create_missing_indexes_and_track_completed_ones() {
    let j = job(
        json!({"completions": 5, "parallelism": 3, "completionMode": "Indexed"}),
        json!({"completedIndexes": "0"}),
    );
    let pods = [
        pod("b", "Succeeded", 1, Some(2), 0),
        pod("c", "Running", 1, Some(3), 0),
        pod("d", "Running", 1, Some(2), 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(p.status.completed_indexes.as_deref(), Some("0,2"));
    assert_eq!(p.status.succeeded, Some(2));
    // Index 2 is done: its running duplicate goes; 1 and 4 start.
    assert_eq!(names(&p), ["d"]);
    assert_eq!(p.create, vec![Some(1), Some(4)]);
    assert_eq!(p.status.active, Some(3));
    let pod = new_pod(&j, Some(4), None).expect("pod");
    let meta = &pod.metadata;
    assert_eq!(meta.generate_name.as_deref(), Some("work-4-"));
    assert_eq!(
        meta.labels
            .as_ref()
            .and_then(|l| l.get("batch.kubernetes.io/job-completion-index")),
        Some(&"4".to_string())
    );
    assert_eq!(
        meta.annotations
            .as_ref()
            .and_then(|l| l.get("batch.kubernetes.io/job-completion-index")),
        Some(&"4".to_string())
    );
    let spec = pod.spec.expect("spec");
    assert_eq!(spec.hostname.as_deref(), Some("work-4"));
    let env = spec.containers[0].env.clone().unwrap_or_default();
    assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    assert_eq!(
        meta.owner_references.as_ref().map(|o| o[0].uid.as_str()),
        Some("job-uid")
    );
}

#[test]
fn suspending_stops_pods_and_resuming_restarts_the_clock() {
    let j = job(
        json!({"completions": 2, "suspend": true}),
        json!({"startTime": ago(60)}),
    );
    let p = plan(&j, &[pod("a", "Running", 1, None, 0)], now());
    assert_eq!(names(&p), ["a"]);
    assert_eq!(
        conditions(&p),
        [("Suspended".into(), "True".into(), "JobSuspended".into())]
    );
    assert_eq!(reasons(&p), ["Suspended"]);
    let mut j = j;
    j.status = Some(p.status);
    if let Some(s) = j.spec.as_mut() {
        s.suspend = Some(false);
    }
    let p = plan(&j, &[], now());
    assert_eq!(
        conditions(&p),
        [("Suspended".into(), "False".into(), "JobResumed".into())]
    );
    assert_eq!(reasons(&p), ["Resumed"]);
    assert_eq!(p.status.start_time.map(|t| t.0), Some(now()));
    assert_eq!(p.create.len(), 1);
}

#[test]
fn generated_names_fit() {
    assert_eq!(generate_name("pi", None), "pi-");
    assert_eq!(generate_name("pi", Some(3)), "pi-3-");
    let long = "a".repeat(70);
    assert_eq!(generate_name(&long, Some(12)).len(), 58);
    assert!(generate_name(&long, Some(12)).ends_with("a-12-"));
}

fn with_failure_count(p: Arc<Pod>, n: i32) -> Arc<Pod> {
    let mut p = (*p).clone();
    p.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            "batch.kubernetes.io/job-index-failure-count".into(),
            n.to_string(),
        );
    Arc::new(p)
}

#[test]
fn a_success_policy_finishes_an_indexed_job_early() {
    let j = job(
        json!({"completions": 5, "parallelism": 5, "completionMode": "Indexed",
            "successPolicy": {"rules": [{"succeededIndexes": "0-1"}]}}),
        json!({}),
    );
    let pods = [
        pod("a", "Succeeded", 2, Some(0), 0),
        pod("c", "Running", 2, Some(2), 0),
    ];
    // Index 1 not yet done: keep going.
    let p = plan(&j, &pods, now());
    assert!(conditions(&p).is_empty());
    assert_eq!(p.create, vec![Some(1), Some(3), Some(4)]);
    let pods = [
        pod("a", "Succeeded", 2, Some(0), 0),
        pod("b", "Succeeded", 1, Some(1), 0),
        pod("c", "Running", 2, Some(2), 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(
        conditions(&p),
        [(
            "SuccessCriteriaMet".into(),
            "True".into(),
            "SuccessPolicy".into()
        )]
    );
    assert_eq!(names(&p), ["c"]);
    assert!(p.create.is_empty());
    let mut j = j;
    j.status = Some(p.status);
    let p = plan(&j, &pods[..2], now());
    let complete = p
        .status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Complete")
        .and_then(|c| c.message.clone());
    assert_eq!(complete.as_deref(), Some("Matched rules at index 0"));
    assert_eq!(p.status.completed_indexes.as_deref(), Some("0-1"));
    // A count rule.
    let j = job(
        json!({"completions": 5, "parallelism": 1, "completionMode": "Indexed",
            "successPolicy": {"rules": [{"succeededCount": 2}]}}),
        json!({"completedIndexes": "3"}),
    );
    let p = plan(&j, &[pod("x", "Succeeded", 1, Some(0), 0)], now());
    assert_eq!(reasons(&p), ["Completed"]);
}

#[test]
fn backoff_limit_per_index_fails_indexes_not_the_job() {
    let spec = json!({"completions": 3, "parallelism": 3, "completionMode": "Indexed",
        "backoffLimit": 100, "backoffLimitPerIndex": 1});
    let j = job(spec.clone(), json!({}));
    let pods = [
        // Index 0 failed twice (the second pod knew of one failure before).
        pod("a", "Failed", 60, Some(0), 1),
        with_failure_count(pod("b", "Failed", 30, Some(0), 1), 1),
        // Index 1 failed once, 4s ago: waits 10s.
        pod("c", "Failed", 4, Some(1), 1),
        pod("d", "Running", 4, Some(2), 0),
    ];
    let p = plan(&j, &pods, now());
    assert_eq!(p.status.failed_indexes.as_deref(), Some("0"));
    assert_eq!(p.status.failed, Some(3));
    assert!(conditions(&p).is_empty());
    assert!(p.create.is_empty());
    assert_eq!(p.requeue, Some(Duration::from_secs(6)));
    // Later: index 1 again, told of its one failure.
    let later = now() + SignedDuration::from_secs(7);
    let p = plan(&j, &pods, later);
    assert_eq!(p.create, vec![Some(1)]);
    assert_eq!(p.index_failures.get(&1), Some(&1));
    let pod1 = new_pod(&j, Some(1), Some(1)).expect("pod");
    assert_eq!(
        pod1.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("batch.kubernetes.io/job-index-failure-count"))
            .map(String::as_str),
        Some("1")
    );
    // Every index succeeded or failed: FailedIndexes.
    let done = [
        pods[0].clone(),
        pods[1].clone(),
        pod("e", "Succeeded", 1, Some(1), 0),
        pod("f", "Succeeded", 1, Some(2), 0),
    ];
    let p = plan(&j, &done, now());
    assert_eq!(
        conditions(&p),
        [
            (
                "FailureTarget".into(),
                "True".into(),
                "FailedIndexes".into()
            ),
            ("Failed".into(), "True".into(), "FailedIndexes".into()),
        ]
    );
    // maxFailedIndexes 0: the first failed index fails the Job.
    let mut spec = spec;
    spec["maxFailedIndexes"] = json!(0);
    let p = plan(&job(spec, json!({})), &pods, now());
    assert_eq!(
        conditions(&p)[0],
        (
            "FailureTarget".into(),
            "True".into(),
            "MaxFailedIndexesExceeded".into()
        )
    );
    assert_eq!(names(&p), ["d"]);
}
