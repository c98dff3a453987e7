#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::kubelet::pods::testutil::{exited, pod, running, sandbox, t};
use crate::kubelet::pods::view::ProbeState;

struct Case {
    pod: Pod,
    rt: PodRuntime,
    probes: ProbeResults,
    waiting: BTreeMap<String, Waiting>,
    backing_off: BTreeMap<String, Duration>,
    logs: HashMap<String, String>,
    deadline: bool,
    terminal: bool,
}

fn case(pod: Pod, rt: PodRuntime) -> Case {
    Case {
        pod,
        rt,
        probes: ProbeResults::new(),
        waiting: BTreeMap::new(),
        backing_off: BTreeMap::new(),
        logs: HashMap::new(),
        deadline: false,
        terminal: false,
    }
}

impl Case {
    fn status(&self) -> PodStatus {
        pod_status(&StatusInput {
            pod: &self.pod,
            runtime: &self.rt,
            probes: &self.probes,
            waiting: &self.waiting,
            backing_off: &self.backing_off,
            log_messages: &self.logs,
            host_ip: "192.168.1.2".parse().unwrap(),
            deadline_exceeded: self.deadline,
            terminal: self.terminal,
            now: t(100),
        })
    }
}

fn cond(s: &PodStatus, type_: &str) -> (String, Option<String>, Option<String>) {
    let c = s
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap();
    (c.status.clone(), c.reason.clone(), c.message.clone())
}

fn state(s: &ApiStatus) -> serde_json::Value {
    serde_json::to_value(s.state.as_ref().unwrap()).unwrap()
}

fn one(policy: &str) -> Pod {
    pod(json!({"restartPolicy": policy, "containers": [{"name": "app", "image": "busybox"}]}))
}

fn up(runs: Vec<rkube_cri::ContainerStatus>) -> PodRuntime {
    PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: runs,
    }
}

#[test]
fn a_new_pod_is_pending_with_container_creating() {
    let s = case(one("Always"), PodRuntime::default()).status();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(
        state(c),
        json!({"waiting": {"reason": "ContainerCreating"}})
    );
    assert_eq!(cond(&s, "PodReadyToStartContainers").0, "False");
    assert_eq!(
        cond(&s, "Ready"),
        (
            "False".into(),
            Some("ContainersNotReady".into()),
            Some("containers with unready status: [app]".into())
        )
    );
    assert_eq!(s.qos_class.as_deref(), Some("BestEffort"));
    assert_eq!(s.host_ip.as_deref(), Some("192.168.1.2"));
    assert!(s.start_time.is_some());
}

#[test]
fn a_running_container_is_ready_without_a_readiness_probe() {
    let s = case(one("Always"), up(vec![running("c1", "app", "s1", 0, 5)])).status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert!(c.ready);
    assert_eq!(c.started, Some(true));
    assert_eq!(c.container_id.as_deref(), Some("runc://c1"));
    assert_eq!(c.image_id, "sha256:abc");
    assert_eq!(
        state(c),
        json!({"running": {"startedAt": "2027-01-15T08:00:05Z"}})
    );
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
    ] {
        assert_eq!(cond(&s, t).0, "True", "{t}");
    }
    assert_eq!(s.pod_ip.as_deref(), Some("10.244.0.5"));
    assert_eq!(s.pod_ips.as_ref().unwrap()[0].ip, "10.244.0.5");
}

#[test]
fn a_readiness_probe_gates_ready() {
    let p = pod(json!({"containers": [{"name": "app",
        "readinessProbe": {"exec": {"command": ["true"]}}}]}));
    let mut c = case(p, up(vec![running("c1", "app", "s1", 0, 5)]));
    let s = c.status();
    assert!(!s.container_statuses.as_ref().unwrap()[0].ready);
    assert_eq!(cond(&s, "Ready").0, "False");
    assert_eq!(s.phase.as_deref(), Some("Running"));
    c.probes.insert(
        "c1".into(),
        ProbeState {
            started: true,
            ready: true,
            ..ProbeState::default()
        },
    );
    let s = c.status();
    assert!(s.container_statuses.as_ref().unwrap()[0].ready);
    assert_eq!(cond(&s, "Ready").0, "True");
}

#[test]
fn a_startup_probe_gates_started_and_ready() {
    let p = pod(json!({"containers": [{"name": "app",
        "startupProbe": {"exec": {"command": ["true"]}}}]}));
    let s = case(p, up(vec![running("c1", "app", "s1", 0, 5)])).status();
    let c = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(c.started, Some(false));
    assert!(!c.ready);
}

#[test]
fn crash_loop_back_off_shows_waiting_with_the_last_exit() {
    let mut c = case(
        one("Always"),
        up(vec![
            exited("c2", "app", "s1", 2, 1, 50, 51),
            exited("c1", "app", "s1", 1, 1, 20, 21),
        ]),
    );
    c.backing_off.insert("app".into(), Duration::from_secs(20));
    let s = c.status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let st = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(st.restart_count, 2);
    assert_eq!(
        state(st),
        json!({"waiting": {"reason": "CrashLoopBackOff",
            "message": "back-off 20s restarting failed container=app pod=p_default(u1)"}})
    );
    let last = st.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 1);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert_eq!(last.container_id.as_deref(), Some("runc://c2"));
}

#[test]
fn a_restarted_container_shows_its_previous_run_as_last_state() {
    let s = case(
        one("Always"),
        up(vec![
            running("c2", "app", "s1", 1, 50),
            exited("c1", "app", "s1", 0, 137, 20, 40),
        ]),
    )
    .status();
    let st = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(st.restart_count, 1);
    assert!(state(st).get("running").is_some());
    assert_eq!(
        st.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        137
    );
}

#[test]
fn jobs_succeed_or_fail_with_their_exit_codes() {
    for (policy, code, phase, reason) in [
        ("Never", 0, "Succeeded", "Completed"),
        ("Never", 3, "Failed", "Error"),
        ("OnFailure", 0, "Succeeded", "Completed"),
    ] {
        let s = case(
            one(policy),
            up(vec![exited("c1", "app", "s1", 0, code, 1, 2)]),
        )
        .status();
        assert_eq!(s.phase.as_deref(), Some(phase), "{policy} {code}");
        let st = &s.container_statuses.as_ref().unwrap()[0];
        let term = st.state.as_ref().unwrap().terminated.as_ref().unwrap();
        assert_eq!(term.exit_code, code);
        assert_eq!(term.reason.as_deref(), Some(reason));
        assert!(!st.ready);
    }
    // OnFailure with a failure keeps running (it restarts).
    let s = case(
        one("OnFailure"),
        up(vec![exited("c1", "app", "s1", 0, 3, 1, 2)]),
    )
    .status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    // A completed pod: Ready False with PodCompleted.
    let s = case(
        one("Never"),
        up(vec![exited("c1", "app", "s1", 0, 0, 1, 2)]),
    )
    .status();
    assert_eq!(cond(&s, "Ready").1.as_deref(), Some("PodCompleted"));
}

#[test]
fn oom_killed_is_shown_as_the_runtime_says() {
    let mut run = exited("c1", "app", "s1", 0, 137, 1, 2);
    run.reason = "OOMKilled".into();
    let s = case(one("Never"), up(vec![run])).status();
    let st = &s.container_statuses.as_ref().unwrap()[0];
    let term = st.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(term.reason.as_deref(), Some("OOMKilled"));
    assert_eq!(s.phase.as_deref(), Some("Failed"));
}

#[test]
fn init_containers_keep_the_pod_pending_and_initializing() {
    let p = pod(json!({
        "initContainers": [{"name": "i1"}, {"name": "i2"}],
        "containers": [{"name": "app"}]}));
    let s = case(p.clone(), up(vec![running("c1", "i1", "s1", 0, 1)])).status();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(
        cond(&s, "Initialized"),
        (
            "False".into(),
            Some("ContainersNotInitialized".into()),
            Some("containers with incomplete status: [i1 i2]".into())
        )
    );
    let init = s.init_container_statuses.as_ref().unwrap();
    assert!(state(&init[0]).get("running").is_some());
    assert_eq!(
        state(&init[1]),
        json!({"waiting": {"reason": "PodInitializing"}})
    );
    assert_eq!(
        state(&s.container_statuses.as_ref().unwrap()[0]),
        json!({"waiting": {"reason": "PodInitializing"}})
    );
    // Both done, the main container running.
    let s = case(
        p,
        up(vec![
            exited("c1", "i1", "s1", 0, 0, 1, 2),
            exited("c2", "i2", "s1", 0, 0, 2, 3),
            running("c3", "app", "s1", 0, 4),
        ]),
    )
    .status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(cond(&s, "Initialized").0, "True");
    let init = s.init_container_statuses.as_ref().unwrap();
    assert!(init[0].ready && init[1].ready);
    assert_eq!(
        init[0]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
}

#[test]
fn a_failed_init_container_fails_a_never_pod_and_crash_loops_otherwise() {
    let spec = |policy: &str| {
        pod(json!({"restartPolicy": policy,
            "initContainers": [{"name": "i1"}], "containers": [{"name": "app"}]}))
    };
    let rt = up(vec![exited("c1", "i1", "s1", 0, 1, 1, 2)]);
    assert_eq!(
        case(spec("Never"), rt.clone()).status().phase.as_deref(),
        Some("Failed")
    );
    let mut c = case(spec("Always"), rt);
    c.backing_off.insert("i1".into(), Duration::from_secs(10));
    let s = c.status();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(
        state(&s.init_container_statuses.as_ref().unwrap()[0])["waiting"]["reason"],
        "CrashLoopBackOff"
    );
}

#[test]
fn sidecars_count_for_readiness_and_initialization() {
    let p = pod(json!({
        "initContainers": [{"name": "side", "restartPolicy": "Always"}],
        "containers": [{"name": "app"}]}));
    let s = case(
        p,
        up(vec![
            running("c1", "side", "s1", 0, 1),
            running("c2", "app", "s1", 0, 2),
        ]),
    )
    .status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    let side = &s.init_container_statuses.as_ref().unwrap()[0];
    assert!(side.ready);
    assert_eq!(side.started, Some(true));
    assert_eq!(cond(&s, "Ready").0, "True");
}

#[test]
fn image_pull_and_config_errors_show_as_waiting_reasons() {
    for (reason, msg) in [
        ("ErrImagePull", "failed to pull"),
        ("ImagePullBackOff", "Back-off pulling image \"nope\""),
        ("CreateContainerConfigError", "secret \"s\" not found"),
        ("ErrImageNeverPull", "not present"),
    ] {
        let mut c = case(one("Always"), up(vec![]));
        c.waiting.insert(
            "app".into(),
            Waiting {
                reason: reason.into(),
                message: msg.into(),
            },
        );
        let s = c.status();
        assert_eq!(s.phase.as_deref(), Some("Pending"));
        assert_eq!(
            state(&s.container_statuses.as_ref().unwrap()[0]),
            json!({"waiting": {"reason": reason, "message": msg}})
        );
    }
}

#[test]
fn a_run_container_error_after_an_exit_keeps_the_exit_as_last_state() {
    let mut c = case(
        one("Always"),
        up(vec![exited("c1", "app", "s1", 0, 1, 1, 2)]),
    );
    c.waiting.insert(
        "app".into(),
        Waiting {
            reason: "RunContainerError".into(),
            message: "exec: \"nope\": not found".into(),
        },
    );
    let s = c.status();
    let st = &s.container_statuses.as_ref().unwrap()[0];
    assert_eq!(state(st)["waiting"]["reason"], "RunContainerError");
    assert_eq!(
        st.last_state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .exit_code,
        1
    );
}

#[test]
fn the_deadline_fails_the_pod_with_its_reason() {
    let mut c = case(
        one("Always"),
        up(vec![exited("c1", "app", "s1", 0, 137, 1, 2)]),
    );
    c.deadline = true;
    let s = c.status();
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.reason.as_deref(), Some("DeadlineExceeded"));
}

#[test]
fn terminal_phases_are_kept_and_other_conditions_too() {
    let mut p = one("Always");
    p.status = Some(serde_json::from_value(json!({
        "phase": "Failed", "reason": "Evicted",
        "conditions": [{"type": "PodScheduled", "status": "True"},
                       {"type": "Ready", "status": "False", "lastTransitionTime": "2027-01-15T08:00:01Z"}]
    })).unwrap());
    let s = case(p, up(vec![running("c1", "app", "s1", 0, 1)])).status();
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    assert_eq!(s.reason.as_deref(), Some("Evicted"));
    assert_eq!(cond(&s, "PodScheduled").0, "True");
}

#[test]
fn transition_times_move_only_when_the_status_changes() {
    let mut p = one("Always");
    p.status = Some(serde_json::from_value(json!({
        "conditions": [
            {"type": "Ready", "status": "False", "lastTransitionTime": "2027-01-15T08:00:01Z"},
            {"type": "Initialized", "status": "True", "lastTransitionTime": "2027-01-15T08:00:01Z"}]
    })).unwrap());
    let s = case(p, up(vec![running("c1", "app", "s1", 0, 1)])).status();
    let get = |t: &str| {
        s.conditions
            .as_ref()
            .unwrap()
            .iter()
            .find(|c| c.type_ == t)
            .unwrap()
            .last_transition_time
            .clone()
    };
    assert_eq!(get("Initialized"), time(t(1)));
    assert_eq!(get("Ready"), time(t(100)));
}

#[test]
fn fallback_to_logs_fills_an_empty_message() {
    let mut c = case(
        one("Never"),
        up(vec![exited("c1", "app", "s1", 0, 2, 1, 2)]),
    );
    c.logs.insert("c1".into(), "panic: boom".into());
    let s = c.status();
    let term = s.container_statuses.as_ref().unwrap()[0]
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(term.message.as_deref(), Some("panic: boom"));
}

#[test]
fn host_network_pods_have_the_host_ip() {
    let p = pod(json!({"hostNetwork": true, "containers": [{"name": "app"}]}));
    let s = case(p, up(vec![running("c1", "app", "s1", 0, 1)])).status();
    assert_eq!(s.pod_ip.as_deref(), Some("192.168.1.2"));
}

#[test]
fn ephemeral_containers_get_their_own_statuses() {
    let p = pod(json!({"containers": [{"name": "app", "image": "busybox"}],
        "ephemeralContainers": [{"name": "dbg", "image": "busybox:1"},
                                {"name": "later", "image": "busybox"}]}));
    let rt = PodRuntime {
        sandboxes: vec![sandbox("s1", 0, true)],
        containers: vec![
            running("c1", "app", "s1", 0, 1),
            running("e1", "dbg", "s1", 0, 2),
        ],
    };
    let s = case(p, rt).status();
    let eph = s.ephemeral_container_statuses.unwrap();
    assert_eq!(eph.len(), 2);
    assert_eq!(eph[0].name, "dbg");
    assert_eq!(eph[0].image, "busybox:1");
    assert!(eph[0].state.as_ref().unwrap().running.is_some());
    assert!(!eph[0].ready);
    assert!(eph[1].state.as_ref().unwrap().waiting.is_some());
    // The ephemeral container is not one of the main ones.
    assert_eq!(s.container_statuses.unwrap().len(), 1);
}
