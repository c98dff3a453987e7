#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::time::Duration;

use serde_json::json;

use super::*;
use crate::kubelet::pods::testutil::{exited, pod, running, sandbox, t};
use crate::kubelet::pods::view::ProbeState;

fn run(pod: &Pod, rt: &PodRuntime, probes: &ProbeResults, backoff: &Backoff, now: u64) -> Plan {
    plan(&PlanInput {
        pod,
        runtime: rt,
        probes,
        backoff,
        now: t(now),
    })
}

fn simple(pod: &Pod, rt: &PodRuntime, now: u64) -> Vec<Action> {
    run(pod, rt, &ProbeResults::new(), &Backoff::default(), now).actions
}

fn start(name: &str, attempt: u32, restart: Option<u64>) -> Action {
    Action::StartContainer {
        name: name.into(),
        attempt,
        restart: restart.map(t),
    }
}

fn one(policy: &str) -> Pod {
    pod(json!({"restartPolicy": policy, "containers": [{"name": "app", "image": "busybox"}]}))
}

#[test]
fn a_new_pod_gets_a_sandbox_and_its_containers() {
    let p = pod(json!({"containers": [{"name": "a"}, {"name": "b"}]}));
    assert_eq!(
        simple(&p, &PodRuntime::default(), 0),
        vec![
            Action::CreateSandbox { attempt: 0 },
            start("a", 0, None),
            start("b", 0, None)
        ]
    );
}

#[test]
fn a_running_pod_needs_nothing() {
    let p = one("Always");
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    assert_eq!(simple(&p, &rt, 5), vec![]);
}

#[test]
fn restart_policy_always_restarts_every_exit() {
    let p = one("Always");
    for code in [0, 1] {
        let rt = PodRuntime {
            sandboxes: vec![sandbox("s1", 0, true)],
            containers: vec![exited("c1", "app", "s1", 0, code, 1, 2)],
        };
        assert_eq!(simple(&p, &rt, 3), vec![start("app", 1, Some(2))]);
    }
}

#[test]
fn restart_policy_on_failure_restarts_failures_only_and_completes() {
    let p = one("OnFailure");
    let failed = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![exited("c1", "app", "s1", 0, 3, 1, 2)],
    };
    assert_eq!(simple(&p, &failed, 3), vec![start("app", 1, Some(2))]);
    let ok = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![exited("c1", "app", "s1", 0, 0, 1, 2)],
    };
    assert_eq!(
        simple(&p, &ok, 3),
        vec![Action::KillPod {
            reason: KillReason::Completed
        }]
    );
}

#[test]
fn restart_policy_never_never_restarts_and_gets_no_second_sandbox() {
    let p = one("Never");
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![exited("c1", "app", "s1", 0, 3, 1, 2)],
    };
    assert_eq!(
        simple(&p, &rt, 3),
        vec![Action::KillPod {
            reason: KillReason::Completed
        }]
    );
    // Once the sandbox is stopped, nothing more.
    let stopped = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, false)],
        ..rt
    };
    assert_eq!(simple(&p, &stopped, 4), vec![]);
}

#[test]
fn a_completed_pod_stops_its_running_sidecar() {
    let p = pod(json!({"restartPolicy": "Never",
        "initContainers": [{"name": "side", "restartPolicy": "Always"}],
        "containers": [{"name": "app"}]}));
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, false)],
        containers: vec![
            running("c0", "side", "s1", 0, 1),
            exited("c1", "app", "s1", 0, 0, 2, 3),
        ],
    };
    assert_eq!(
        simple(&p, &rt, 4),
        vec![Action::KillPod {
            reason: KillReason::Completed
        }]
    );
}

#[test]
fn back_off_holds_a_restart_and_names_its_delay() {
    let p = one("Always");
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![exited("c2", "app", "s1", 1, 1, 10, 11)],
    };
    let mut b = Backoff::default();
    b.record("app", t(2), t(10));
    let held = run(&p, &rt, &ProbeResults::new(), &b, 15);
    assert_eq!(held.actions, vec![]);
    assert_eq!(held.backing_off.get("app"), Some(&Duration::from_secs(10)));
    let later = run(&p, &rt, &ProbeResults::new(), &b, 21);
    assert_eq!(later.actions, vec![start("app", 2, Some(11))]);
    assert!(later.backing_off.is_empty());
}

#[test]
fn init_containers_run_one_at_a_time_in_order() {
    let p = pod(json!({
        "initContainers": [{"name": "i1"}, {"name": "i2"}],
        "containers": [{"name": "app"}]}));
    let mut rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![],
    };
    assert_eq!(simple(&p, &rt, 1), vec![start("i1", 0, None)]);
    rt.containers.push(running("c1", "i1", "s1", 0, 1));
    assert_eq!(simple(&p, &rt, 2), vec![]);
    rt.containers[0] = exited("c1", "i1", "s1", 0, 0, 1, 2);
    assert_eq!(simple(&p, &rt, 3), vec![start("i2", 0, None)]);
    rt.containers.push(exited("c2", "i2", "s1", 0, 0, 3, 4));
    assert_eq!(simple(&p, &rt, 5), vec![start("app", 0, None)]);
    // Once the main container ran, init containers are not run again even
    // if their runs are removed.
    rt.containers = vec![running("c3", "app", "s1", 0, 5)];
    assert_eq!(simple(&p, &rt, 6), vec![]);
}

#[test]
fn a_failed_init_container_restarts_unless_never() {
    let spec = |policy: &str| {
        pod(json!({"restartPolicy": policy,
            "initContainers": [{"name": "i1"}],
            "containers": [{"name": "app"}]}))
    };
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![exited("c1", "i1", "s1", 0, 1, 1, 2)],
    };
    assert_eq!(
        simple(&spec("Always"), &rt, 3),
        vec![start("i1", 1, Some(2))]
    );
    assert_eq!(
        simple(&spec("OnFailure"), &rt, 3),
        vec![start("i1", 1, Some(2))]
    );
    assert_eq!(
        simple(&spec("Never"), &rt, 3),
        vec![Action::KillPod {
            reason: KillReason::Completed
        }]
    );
}

#[test]
fn a_sidecar_must_be_started_before_the_next_init_container() {
    let p = pod(json!({
        "initContainers": [
            {"name": "side", "restartPolicy": "Always", "startupProbe": {"exec": {"command": ["true"]}}},
            {"name": "i2"}],
        "containers": [{"name": "app"}]}));
    let mut rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![],
    };
    assert_eq!(simple(&p, &rt, 0), vec![start("side", 0, None)]);
    rt.containers.push(running("c1", "side", "s1", 0, 1));
    // Running, but its startup probe has not passed.
    assert_eq!(simple(&p, &rt, 2), vec![]);
    let mut probes = ProbeResults::new();
    probes.insert(
        "c1".into(),
        ProbeState {
            started: true,
            ..ProbeState::default()
        },
    );
    assert_eq!(
        run(&p, &rt, &probes, &Backoff::default(), 3).actions,
        vec![start("i2", 0, None)]
    );
    rt.containers.push(exited("c2", "i2", "s1", 0, 0, 3, 4));
    assert_eq!(
        run(&p, &rt, &probes, &Backoff::default(), 5).actions,
        vec![start("app", 0, None)]
    );
}

#[test]
fn a_sidecar_that_exits_restarts_whatever_the_pod_policy() {
    let p = pod(json!({"restartPolicy": "Never",
        "initContainers": [{"name": "side", "restartPolicy": "Always"}],
        "containers": [{"name": "app"}]}));
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![
            exited("c1", "side", "s1", 0, 0, 1, 5),
            running("c2", "app", "s1", 0, 2),
        ],
    };
    assert_eq!(simple(&p, &rt, 6), vec![start("side", 1, Some(5))]);
}

#[test]
fn a_liveness_failure_kills_the_container_then_it_restarts() {
    let p = one("Always");
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    let mut probes = ProbeResults::new();
    probes.insert(
        "c1".into(),
        ProbeState {
            started: true,
            liveness_failed: true,
            ..ProbeState::default()
        },
    );
    assert_eq!(
        run(&p, &rt, &probes, &Backoff::default(), 40).actions,
        vec![Action::KillContainer {
            id: "c1".into(),
            name: "app".into(),
            reason: ContainerKill::LivenessFailed
        }]
    );
    let killed = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![exited("c1", "app", "s1", 0, 137, 1, 41)],
    };
    assert_eq!(
        run(&p, &killed, &probes, &Backoff::default(), 42).actions,
        vec![start("app", 1, Some(41))]
    );
}

#[test]
fn a_startup_failure_kills_the_container() {
    let p = one("Always");
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    let mut probes = ProbeResults::new();
    probes.insert(
        "c1".into(),
        ProbeState {
            startup_failed: true,
            ..ProbeState::default()
        },
    );
    assert_eq!(
        run(&p, &rt, &probes, &Backoff::default(), 40).actions,
        vec![Action::KillContainer {
            id: "c1".into(),
            name: "app".into(),
            reason: ContainerKill::StartupFailed
        }]
    );
}

#[test]
fn a_lost_sandbox_is_replaced_and_the_containers_restart_with_their_counts() {
    let p = one("Always");
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, false)],
        containers: vec![exited("c1", "app", "s1", 3, 137, 1, 9)],
    };
    assert_eq!(
        simple(&p, &rt, 10),
        vec![Action::CreateSandbox { attempt: 1 }, start("app", 4, None)]
    );
    // A NotReady sandbox with containers still running: kill them first.
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, false)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    assert_eq!(
        simple(&p, &rt, 10),
        vec![
            Action::KillPod {
                reason: KillReason::SandboxChanged
            },
            Action::CreateSandbox { attempt: 1 },
            start("app", 1, None)
        ]
    );
}

#[test]
fn deletion_kills_then_finalizes() {
    let mut p = one("Always");
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::try_from(t(5)).unwrap(),
    ));
    let up = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    assert_eq!(
        simple(&p, &up, 6),
        vec![Action::KillPod {
            reason: KillReason::Deleted
        }]
    );
    let down = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, false)],
        containers: vec![exited("c1", "app", "s1", 0, 0, 1, 6)],
    };
    assert_eq!(simple(&p, &down, 7), vec![Action::Finalize]);
    // Also a pod that never got a sandbox.
    assert_eq!(
        simple(&p, &PodRuntime::default(), 7),
        vec![Action::Finalize]
    );
}

#[test]
fn an_evicted_pod_is_killed_and_not_restarted() {
    let mut p = one("Always");
    p.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Failed".into()),
        ..Default::default()
    });
    let up = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    assert_eq!(
        simple(&p, &up, 6),
        vec![Action::KillPod {
            reason: KillReason::Terminal
        }]
    );
    let down = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, false)],
        containers: vec![exited("c1", "app", "s1", 0, 137, 1, 6)],
    };
    assert_eq!(simple(&p, &down, 7), vec![]);
}

#[test]
fn the_active_deadline_kills_the_pod() {
    let mut p = pod(json!({"activeDeadlineSeconds": 30,
        "containers": [{"name": "app"}]}));
    p.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Running".into()),
        start_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            k8s_openapi::jiff::Timestamp::try_from(t(0)).unwrap(),
        )),
        ..Default::default()
    });
    let up = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    assert_eq!(simple(&p, &up, 29), vec![]);
    assert_eq!(
        simple(&p, &up, 30),
        vec![Action::KillPod {
            reason: KillReason::DeadlineExceeded
        }]
    );
}

#[test]
fn ephemeral_containers_start_once_in_the_running_sandbox() {
    let p = pod(json!({"containers": [{"name": "app", "image": "busybox"}],
        "ephemeralContainers": [
            {"name": "dbg", "image": "busybox"},
            {"name": "tgt", "image": "busybox", "targetContainerName": "app"}]}));
    // Not before the pod has a sandbox.
    assert_eq!(
        simple(&p, &PodRuntime::default(), 0),
        vec![Action::CreateSandbox { attempt: 0 }, start("app", 0, None)]
    );
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![running("c1", "app", "s1", 0, 1)],
    };
    assert_eq!(
        simple(&p, &rt, 5),
        vec![
            Action::StartEphemeral {
                name: "dbg".into(),
                target: None
            },
            Action::StartEphemeral {
                name: "tgt".into(),
                target: Some("c1".into())
            },
        ]
    );
    // Once run, never again (exited or not).
    let done = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![
            running("c1", "app", "s1", 0, 1),
            exited("e1", "dbg", "s1", 0, 1, 2, 3),
            running("e2", "tgt", "s1", 0, 2),
        ],
    };
    assert_eq!(simple(&p, &done, 6), vec![]);
    // A target that does not run: wait for it.
    let stopped = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![
            exited("c1", "app", "s1", 0, 1, 1, 2),
            exited("e1", "dbg", "s1", 0, 1, 2, 3),
        ],
    };
    assert_eq!(simple(&p, &stopped, 3), vec![start("app", 1, Some(2))]);
}
