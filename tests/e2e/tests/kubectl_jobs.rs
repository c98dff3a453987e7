//! Jobs and CronJobs through kubectl 1.37 against `rkube up --sim-nodes 3`:
//! a Job runs its completions at most `parallelism` at a time and
//! completes; a Job whose pods fail stops at its backoffLimit, or at once
//! when its podFailurePolicy says so; an Indexed Job runs each index once;
//! a finished Job with ttlSecondsAfterFinished goes away; a CronJob
//! starts a Job at the next minute, which completes.
//!
//! The simulated nodes finish pods that do not restart after annotation
//! `sim.rkube.io/run-for`, with exit code `sim.rkube.io/exit-code`.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use rkube_e2e::Cluster;
use serde_json::Value;

fn cluster() -> Cluster {
    Cluster::up_with(&["--sim-nodes", "3"])
}

fn get(c: &Cluster, what: &[&str], path: &str) -> String {
    let jsonpath = format!("jsonpath={path}");
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    args.extend_from_slice(&["-o", &jsonpath]);
    c.ok(&args)
}

fn json(c: &Cluster, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.ok(&a)).expect("kubectl printed JSON")
}

/// The phases of the pods of Job `job`.
fn pod_phases(c: &Cluster, job: &str) -> Vec<String> {
    let label = format!("job-name={job}");
    let pods = json(c, &["get", "pods", "-l", &label]);
    pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            p["status"]["phase"]
                .as_str()
                .unwrap_or("Pending")
                .to_string()
        })
        .collect()
}

/// "reason: message" of the Events about `name`, in order.
fn events(c: &Cluster, name: &str) -> Vec<String> {
    let ev = json(c, &["get", "events"]);
    ev["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["involvedObject"]["name"] == name)
        .map(|e| {
            format!(
                "{}: {}",
                e["reason"].as_str().unwrap_or_default(),
                e["message"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Replays a `kubectl get pods -w --output-watch-events -o json` stream:
/// the phase of each pod of Job `par`, calling `f` after each change.
fn replay(
    stream: &str,
    phases: &mut std::collections::BTreeMap<String, String>,
    mut f: impl FnMut(&std::collections::BTreeMap<String, String>),
) {
    for ev in serde_json::Deserializer::from_str(stream).into_iter::<Value>() {
        let Ok(ev) = ev else { break };
        let pod = &ev["object"];
        if pod["metadata"]["labels"]["job-name"] != "par" {
            continue;
        }
        let name = pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if ev["type"] == "DELETED" {
            phases.remove(&name);
        } else {
            let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
            phases.insert(name, phase.to_string());
        }
        f(phases);
    }
}

fn job_yaml(name: &str, spec: &str, annotations: &str) -> String {
    format!(
        "apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
{spec}
  template:
    metadata:
      annotations:
{annotations}
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
"
    )
}

#[test]
fn a_job_runs_its_completions_at_most_parallelism_at_a_time() {
    let c = cluster();
    // Watch every pod change; a marker pod shows the watch is up.
    c.ok(&["run", "marker", "--image=busybox"]);
    let out = c.dir.path().join("pods.watch");
    let mut watch = c.spawn_kubectl(
        &["get", "pods", "-w", "--output-watch-events", "-o", "json"],
        &out,
    );
    let watched = || std::fs::read_to_string(&out).unwrap_or_default();
    c.wait_until("the pod watch is up", Duration::from_secs(20), || {
        watched().contains("\"marker\"")
    });
    let f = c.file(
        "par.yaml",
        &job_yaml(
            "par",
            "  completions: 5\n  parallelism: 2",
            "        sim.rkube.io/run-for: 700ms",
        ),
    );
    assert_eq!(
        c.ok(&["apply", "-f", f.to_str().expect("path")]).trim(),
        "job.batch/par created"
    );
    // The API server put the selector and labels on the template.
    let uid = get(&c, &["job", "par"], "{.metadata.uid}");
    assert_eq!(
        get(
            &c,
            &["job", "par"],
            "{.spec.template.metadata.labels.batch\\.kubernetes\\.io/controller-uid}"
        ),
        uid
    );
    c.wait_until(
        "the watch saw 5 pods succeed",
        Duration::from_secs(60),
        || {
            let mut phases = std::collections::BTreeMap::new();
            replay(&watched(), &mut phases, |_| {});
            phases.values().filter(|p| *p == "Succeeded").count() == 5
        },
    );
    let _ = watch.kill();
    let _ = watch.wait();
    // Replay the changes: never more than 2 pods running at once, and 2
    // at some point.
    let mut phases = std::collections::BTreeMap::new();
    let mut most_running = 0;
    replay(&watched(), &mut phases, |phases| {
        let running = phases
            .values()
            .filter(|p| *p != "Succeeded" && *p != "Failed")
            .count();
        assert!(running <= 2, "more than 2 pods running at once: {phases:?}");
        most_running = most_running.max(running);
    });
    assert_eq!(most_running, 2, "parallelism 2 was never used");
    assert_eq!(phases.len(), 5, "{phases:?}");
    assert_eq!(
        c.ok(&[
            "wait",
            "--for=condition=complete",
            "job/par",
            "--timeout=60s"
        ])
        .trim(),
        "job.batch/par condition met"
    );
    assert_eq!(
        get(
            &c,
            &["job", "par"],
            "{.status.succeeded}/{.status.failed}/{.status.active}/{.status.ready}/{.status.terminating}"
        ),
        "5/0/0/0/0"
    );
    assert_eq!(
        get(
            &c,
            &["job", "par"],
            r#"{.status.conditions[?(@.type=="Complete")].reason} {.status.conditions[?(@.type=="SuccessCriteriaMet")].message}"#
        ),
        "CompletionsReached Reached expected number of succeeded pods"
    );
    assert!(!get(&c, &["job", "par"], "{.status.completionTime}").is_empty());
    assert_eq!(pod_phases(&c, "par"), ["Succeeded"; 5]);
    let pods = json(&c, &["get", "pods", "-l", "job-name=par"]);
    for p in pods["items"].as_array().expect("items") {
        let owner = &p["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "Job");
        assert_eq!(owner["uid"].as_str(), Some(uid.as_str()));
        assert_eq!(owner["controller"], true);
        assert!(p["metadata"]["name"]
            .as_str()
            .is_some_and(|n| n.starts_with("par-")));
    }
    let table = c.ok(&["get", "job", "par"]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(
        row.starts_with("par") && row.contains("Complete") && row.contains("5/5"),
        "{table}"
    );
    let ev = events(&c, "par");
    assert_eq!(
        ev.iter()
            .filter(|e| e.starts_with("SuccessfulCreate: Created pod: par-"))
            .count(),
        5,
        "{ev:?}"
    );
    assert!(
        ev.contains(&"Completed: Job completed".to_string()),
        "{ev:?}"
    );
}

#[test]
fn failing_pods_stop_at_the_backoff_limit() {
    let c = cluster();
    let f = c.file(
        "fail.yaml",
        &job_yaml(
            "fail",
            "  backoffLimit: 2",
            "        sim.rkube.io/run-for: 200ms\n        sim.rkube.io/exit-code: \"1\"",
        ),
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    // Replacements wait 10s, then 20s, as in Kubernetes.
    assert_eq!(
        c.ok(&[
            "wait",
            "--for=condition=failed",
            "job/fail",
            "--timeout=60s"
        ])
        .trim(),
        "job.batch/fail condition met"
    );
    assert_eq!(
        get(
            &c,
            &["job", "fail"],
            r#"{.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message}"#
        ),
        "BackoffLimitExceeded: Job has reached the specified backoff limit"
    );
    assert_eq!(
        get(
            &c,
            &["job", "fail"],
            r#"{.status.conditions[?(@.type=="FailureTarget")].reason}"#
        ),
        "BackoffLimitExceeded"
    );
    assert_eq!(
        get(
            &c,
            &["job", "fail"],
            "{.status.failed}/{.status.succeeded}/{.status.active}"
        ),
        "3/0/0"
    );
    assert_eq!(pod_phases(&c, "fail"), ["Failed"; 3]);
    let ev = events(&c, "fail");
    assert!(
        ev.contains(&"BackoffLimitExceeded: Job has reached the specified backoff limit".into()),
        "{ev:?}"
    );
    let table = c.ok(&["get", "job", "fail"]);
    assert!(table.contains("Failed") && table.contains("0/1"), "{table}");
}

#[test]
fn a_pod_failure_policy_fails_the_job_at_once() {
    let c = cluster();
    let spec = "  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes:
        containerName: main
        operator: In
        values: [42]";
    let f = c.file(
        "pfp.yaml",
        &job_yaml(
            "pfp",
            spec,
            "        sim.rkube.io/run-for: 200ms\n        sim.rkube.io/exit-code: \"42\"",
        ),
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    c.ok(&["wait", "--for=condition=failed", "job/pfp", "--timeout=30s"]);
    let pod = get(
        &c,
        &["pods", "-l", "job-name=pfp"],
        "{.items[0].metadata.name}",
    );
    assert_eq!(
        get(
            &c,
            &["job", "pfp"],
            r#"{.status.conditions[?(@.type=="Failed")].reason}: {.status.conditions[?(@.type=="Failed")].message}"#
        ),
        format!("PodFailurePolicy: Container main for pod default/{pod} failed with exit code 42 matching FailJob rule at index 0")
    );
    assert_eq!(get(&c, &["job", "pfp"], "{.status.failed}"), "1");
}

#[test]
fn an_indexed_job_runs_every_index_once() {
    let c = cluster();
    let f = c.file(
        "idx.yaml",
        &job_yaml(
            "idx",
            "  completions: 4\n  parallelism: 2\n  completionMode: Indexed",
            "        sim.rkube.io/run-for: 300ms",
        ),
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    c.ok(&[
        "wait",
        "--for=condition=complete",
        "job/idx",
        "--timeout=60s",
    ]);
    assert_eq!(
        get(
            &c,
            &["job", "idx"],
            "{.status.completedIndexes} {.status.succeeded}"
        ),
        "0-3 4"
    );
    let pods = json(&c, &["get", "pods", "-l", "job-name=idx"]);
    let mut seen: Vec<String> = pods["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| {
            let i = p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]
                .as_str()
                .expect("index annotation")
                .to_string();
            assert_eq!(
                p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"],
                i.as_str()
            );
            assert_eq!(p["spec"]["hostname"], format!("idx-{i}"));
            assert!(p["metadata"]["name"]
                .as_str()
                .is_some_and(|n| n.starts_with(&format!("idx-{i}-"))));
            assert_eq!(
                p["spec"]["containers"][0]["env"][0]["name"],
                "JOB_COMPLETION_INDEX"
            );
            i
        })
        .collect();
    seen.sort();
    assert_eq!(seen, ["0", "1", "2", "3"]);
}

#[test]
fn a_finished_job_with_a_ttl_is_deleted() {
    let c = cluster();
    let f = c.file(
        "ttl.yaml",
        &job_yaml(
            "ttl",
            "  ttlSecondsAfterFinished: 1",
            "        sim.rkube.io/run-for: 200ms",
        ),
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    c.wait_until("job ttl is deleted", Duration::from_secs(30), || {
        let out = c.kubectl(&["get", "job", "ttl"]);
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("\"ttl\" not found")
    });
    // It was deleted after it completed, not before.
    let ev = events(&c, "ttl");
    assert!(
        ev.contains(&"Completed: Job completed".to_string()),
        "{ev:?}"
    );
}

#[test]
fn a_cronjob_starts_a_job_every_minute() {
    let c = cluster();
    let f = c.file(
        "tick.yaml",
        "apiVersion: batch/v1
kind: CronJob
metadata:
  name: tick
spec:
  schedule: '* * * * *'
  jobTemplate:
    metadata:
      labels: {from: tick}
    spec:
      template:
        metadata:
          annotations:
            sim.rkube.io/run-for: 300ms
        spec:
          restartPolicy: OnFailure
          containers:
          - name: main
            image: busybox
",
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    let mut job = String::new();
    c.wait_until("cronjob tick starts a job", Duration::from_secs(70), || {
        job = get(
            &c,
            &["jobs", "-l", "from=tick"],
            "{.items[*].metadata.name}",
        );
        !job.is_empty()
    });
    let minutes: i64 = job
        .strip_prefix("tick-")
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("job name {job}"));
    let scheduled = get(
        &c,
        &["job", &job],
        "{.metadata.annotations.batch\\.kubernetes\\.io/cronjob-scheduled-timestamp}",
    );
    let scheduled: Timestamp = scheduled.parse().expect("RFC 3339 scheduled timestamp");
    // The name is the scheduled time in minutes since the epoch, which
    // is the cronjob's last schedule time.
    assert_eq!(
        scheduled,
        Timestamp::from_second(minutes * 60).expect("time")
    );
    let last: Timestamp = get(&c, &["cronjob", "tick"], "{.status.lastScheduleTime}")
        .parse()
        .expect("lastScheduleTime");
    assert_eq!(last, scheduled);
    assert_eq!(
        get(
            &c,
            &["job", &job],
            "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}"
        ),
        "CronJob/tick"
    );
    c.ok(&[
        "wait",
        "--for=condition=complete",
        &format!("job/{job}"),
        "--timeout=30s",
    ]);
    c.wait_until(
        "the cronjob saw its job complete",
        Duration::from_secs(10),
        || {
            get(&c, &["cronjob", "tick"], "{.status.active}").is_empty()
                && !get(&c, &["cronjob", "tick"], "{.status.lastSuccessfulTime}").is_empty()
        },
    );
    let table = c.ok(&["get", "cronjob", "tick"]);
    let header = table.lines().next().unwrap_or_default();
    let row = table.lines().nth(1).unwrap_or_default();
    let at = header.find("LAST SCHEDULE").expect("LAST SCHEDULE column");
    let last = row.get(at..).unwrap_or_default().split_whitespace().next();
    assert!(
        last.is_some_and(|l| l != "<none>" && l.ends_with('s')),
        "{table}"
    );
    let ev = events(&c, "tick");
    assert!(
        ev.contains(&format!("SuccessfulCreate: Created job {job}")),
        "{ev:?}"
    );
    assert!(
        ev.contains(&format!(
            "SawCompletedJob: Saw completed job: {job}, condition: Complete"
        )),
        "{ev:?}"
    );
}

#[test]
fn a_suspended_job_starts_when_resumed() {
    let c = cluster();
    let f = c.file(
        "later.yaml",
        &job_yaml(
            "later",
            "  suspend: true\n  completions: 2\n  parallelism: 2",
            "        sim.rkube.io/run-for: 300ms",
        ),
    );
    c.ok(&["apply", "-f", f.to_str().expect("path")]);
    c.wait_until("job later is suspended", Duration::from_secs(20), || {
        get(
            &c,
            &["job", "later"],
            r#"{.status.conditions[?(@.type=="Suspended")].status}"#,
        ) == "True"
    });
    assert!(pod_phases(&c, "later").is_empty());
    assert_eq!(get(&c, &["job", "later"], "{.status.startTime}"), "");
    assert!(
        c.ok(&["get", "job", "later"]).contains("Suspended"),
        "kubectl shows the job suspended"
    );
    c.ok(&[
        "patch",
        "job",
        "later",
        "--type=merge",
        "-p",
        r#"{"spec":{"suspend":false}}"#,
    ]);
    c.ok(&[
        "wait",
        "--for=condition=complete",
        "job/later",
        "--timeout=30s",
    ]);
    assert_eq!(
        get(
            &c,
            &["job", "later"],
            r#"{.status.conditions[?(@.type=="Suspended")].status}/{.status.conditions[?(@.type=="Suspended")].reason}/{.status.succeeded}"#,
        ),
        "False/JobResumed/2"
    );
    let ev = events(&c, "later");
    assert!(
        ev.contains(&"Suspended: Job suspended".to_string())
            && ev.contains(&"Resumed: Job resumed".to_string()),
        "{ev:?}"
    );
}
