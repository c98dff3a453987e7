//! The pod's status as the kubelet's status manager writes it (pure): the
//! phase (the kubelet's `getPhase`), the conditions PodReadyToStartContainers,
//! Initialized, ContainersReady, Ready (PodScheduled and others are kept),
//! containerStatuses and initContainerStatuses (state, lastState, reasons,
//! restartCount, ready, started, image, imageID, containerID), host and pod
//! IPs, qosClass and startTime.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{
    Container, ContainerState as ApiState, ContainerStateRunning, ContainerStateTerminated,
    ContainerStateWaiting, ContainerStatus as ApiStatus, HostIP, Pod, PodCondition, PodIP,
    PodStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use rkube_cri::{ContainerState, ContainerStatus};

use crate::kubelet::container::qos_class;
use crate::kubelet::pods::spec::{self, RestartPolicy};
use crate::kubelet::pods::view::{is_running, PodRuntime, ProbeResults};

/// A reason and message a container waits with (from the worker: image
/// pulls, configuration and start errors).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub reason: String,
    pub message: String,
}

/// Everything the status is computed from.
pub struct StatusInput<'a> {
    pub pod: &'a Pod,
    pub runtime: &'a PodRuntime,
    pub probes: &'a ProbeResults,
    /// Containers that could not be started, by name.
    pub waiting: &'a BTreeMap<String, Waiting>,
    /// Containers held back by their back-off, by name (from the plan).
    pub backing_off: &'a BTreeMap<String, Duration>,
    /// Messages from the logs of failed containers with
    /// `FallbackToLogsOnError`, by container id.
    pub log_messages: &'a HashMap<String, String>,
    pub host_ip: IpAddr,
    /// The pod was killed for its `activeDeadlineSeconds`.
    pub deadline_exceeded: bool,
    /// The pod is being deleted and nothing of it runs any more.
    pub terminal: bool,
    pub now: SystemTime,
}

/// `metav1.Time` of an instant (seconds, as the API stores it).
pub fn time(t: SystemTime) -> Option<Time> {
    Timestamp::try_from(t).ok().map(Time)
}

fn terminated(run: &ContainerStatus, log_messages: &HashMap<String, String>) -> ApiState {
    let reason = if run.reason.is_empty() {
        if run.exit_code == 0 {
            "Completed".to_string()
        } else {
            "Error".to_string()
        }
    } else {
        run.reason.clone()
    };
    let message = if run.message.is_empty() {
        log_messages.get(&run.id).cloned()
    } else {
        Some(run.message.clone())
    };
    ApiState {
        terminated: Some(ContainerStateTerminated {
            exit_code: run.exit_code,
            reason: Some(reason),
            message: message.filter(|m| !m.is_empty()),
            started_at: run.started_at.and_then(time),
            finished_at: run.finished_at.and_then(time),
            container_id: Some(container_id(&run.id)),
            ..ContainerStateTerminated::default()
        }),
        ..ApiState::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ApiState {
    ApiState {
        waiting: Some(ContainerStateWaiting {
            reason: Some(reason.to_string()),
            message,
        }),
        ..ApiState::default()
    }
}

/// `runc://<id>`.
pub fn container_id(id: &str) -> String {
    format!("runc://{id}")
}

/// The back-off message of CrashLoopBackOff (`back-off 20s restarting
/// failed container=app pod=web_default(uid)`).
pub fn backoff_message(delay: Duration, name: &str, pod: &Pod) -> String {
    format!(
        "back-off {}s restarting failed container={name} pod={}",
        delay.as_secs(),
        spec::pod_desc(pod)
    )
}

fn is_started(c: &Container, run: &ContainerStatus, probes: &ProbeResults) -> bool {
    run.state == ContainerState::Running
        && probes
            .get(&run.id)
            .map(|p| p.started)
            .unwrap_or(c.startup_probe.is_none())
}

fn is_ready(c: &Container, run: &ContainerStatus, probes: &ProbeResults) -> bool {
    is_started(c, run, probes)
        && probes
            .get(&run.id)
            .map(|p| p.ready || c.readiness_probe.is_none())
            .unwrap_or(c.readiness_probe.is_none())
}

struct Builder<'a> {
    input: &'a StatusInput<'a>,
    initializing: bool,
}

impl Builder<'_> {
    fn status(&self, c: &Container, init: bool) -> ApiStatus {
        let input = self.input;
        let runs = input.runtime.runs(&c.name);
        let latest = runs.first().copied();
        let previous = runs.get(1).copied();
        let sidecar = init && spec::is_sidecar(c);
        let mut last_state = previous.map(|p| terminated(p, input.log_messages));
        let state = match latest {
            Some(r) if is_running(r) => {
                if r.state == ContainerState::Created {
                    waiting("ContainerCreating", None)
                } else {
                    ApiState {
                        running: Some(ContainerStateRunning {
                            started_at: r.started_at.and_then(time),
                        }),
                        ..ApiState::default()
                    }
                }
            }
            Some(r) => {
                if let Some(delay) = input.backing_off.get(&c.name) {
                    last_state = Some(terminated(r, input.log_messages));
                    waiting(
                        "CrashLoopBackOff",
                        Some(backoff_message(*delay, &c.name, input.pod)),
                    )
                } else if let Some(w) = input.waiting.get(&c.name) {
                    last_state = Some(terminated(r, input.log_messages));
                    waiting(&w.reason, Some(w.message.clone()))
                } else {
                    terminated(r, input.log_messages)
                }
            }
            None => match input.waiting.get(&c.name) {
                Some(w) => waiting(&w.reason, Some(w.message.clone())),
                None if init || self.initializing => waiting("PodInitializing", None),
                None => waiting("ContainerCreating", None),
            },
        };
        let running = latest.is_some_and(|r| r.state == ContainerState::Running);
        let ready = match latest {
            Some(r) if init && !sidecar => r.state == ContainerState::Exited && r.exit_code == 0,
            Some(r) => running && is_ready(c, r, input.probes),
            None => false,
        };
        let started = latest.is_some_and(|r| running && is_started(c, r, input.probes));
        ApiStatus {
            name: c.name.clone(),
            image: c.image.clone().unwrap_or_default(),
            image_id: latest.map(|r| r.image_id.clone()).unwrap_or_default(),
            container_id: latest.map(|r| container_id(&r.id)),
            restart_count: latest.map(|r| r.attempt as i32).unwrap_or(0),
            ready,
            started: Some(started),
            state: Some(state),
            last_state: Some(last_state.unwrap_or_default()),
            ..ApiStatus::default()
        }
    }
}

/// Counts for the phase, as `getPhase`.
fn phase(
    pod: &Pod,
    init: &[ApiStatus],
    main: &[ApiStatus],
    initialized_by_main: bool,
    terminal: bool,
) -> &'static str {
    let policy = spec::restart_policy(pod);
    let mut pending_init = 0;
    let mut failed_init = 0;
    if !initialized_by_main {
        for (c, s) in spec::init_containers(pod).iter().zip(init) {
            let state = s.state.clone().unwrap_or_default();
            if spec::is_sidecar(c) {
                if !(state.running.is_some() && s.started == Some(true)) {
                    pending_init += 1;
                }
                continue;
            }
            if state.running.is_some() {
                pending_init += 1;
            } else if let Some(t) = &state.terminated {
                if t.exit_code != 0 {
                    failed_init += 1;
                }
            } else {
                match s.last_state.as_ref().and_then(|l| l.terminated.as_ref()) {
                    Some(t) if t.exit_code != 0 => failed_init += 1,
                    Some(_) => {}
                    None => pending_init += 1,
                }
            }
        }
    }
    if failed_init > 0 && policy == RestartPolicy::Never {
        return "Failed";
    }
    let (mut running, mut stopped, mut succeeded, mut waiting) = (0, 0, 0, 0);
    for s in main {
        let state = s.state.clone().unwrap_or_default();
        if state.running.is_some() {
            running += 1;
        } else if let Some(t) = &state.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if s
            .last_state
            .as_ref()
            .is_some_and(|l| l.terminated.is_some())
        {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if pending_init > 0 && !terminal {
        return "Pending";
    }
    if waiting > 0 {
        return "Pending";
    }
    if running > 0 {
        return "Running";
    }
    if stopped > 0 {
        if terminal {
            return if stopped == succeeded {
                "Succeeded"
            } else {
                "Failed"
            };
        }
        return match policy {
            RestartPolicy::Always => "Running",
            _ if stopped == succeeded => "Succeeded",
            RestartPolicy::Never => "Failed",
            RestartPolicy::OnFailure => "Running",
        };
    }
    "Pending"
}

fn condition(
    pod: &Pod,
    type_: &str,
    ok: bool,
    reason: Option<String>,
    message: Option<String>,
    now: SystemTime,
) -> PodCondition {
    let status = if ok { "True" } else { "False" };
    let previous = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == type_));
    let since = match previous {
        Some(p) if p.status == status => p.last_transition_time.clone(),
        _ => time(now),
    };
    PodCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason,
        message,
        last_transition_time: since,
        ..PodCondition::default()
    }
}

fn names(list: &[&str]) -> String {
    format!("[{}]", list.join(" "))
}

/// The pod's status now.
pub fn pod_status(input: &StatusInput<'_>) -> PodStatus {
    let pod = input.pod;
    let rt = input.runtime;
    let initialized_by_main = spec::containers(pod)
        .iter()
        .any(|c| !rt.runs(&c.name).is_empty());
    // Which init containers are not done (regular: not exited 0; sidecars:
    // not running and started).
    let mut incomplete: Vec<&str> = Vec::new();
    if !initialized_by_main {
        for c in spec::init_containers(pod) {
            let done = match rt.latest(&c.name) {
                Some(r) if spec::is_sidecar(c) => is_started(c, r, input.probes),
                Some(r) => r.state == ContainerState::Exited && r.exit_code == 0,
                None => false,
            };
            if !done {
                incomplete.push(&c.name);
            }
        }
    }
    let builder = Builder {
        input,
        initializing: !incomplete.is_empty(),
    };
    let init: Vec<ApiStatus> = spec::init_containers(pod)
        .iter()
        .map(|c| builder.status(c, true))
        .collect();
    let main: Vec<ApiStatus> = spec::containers(pod)
        .iter()
        .map(|c| builder.status(c, false))
        .collect();
    // Ephemeral containers are never ready (they serve nothing).
    let ephemeral: Vec<ApiStatus> = spec::ephemeral_containers(pod)
        .iter()
        .filter_map(|e| spec::ephemeral_container(pod, &e.name))
        .map(|(c, _)| ApiStatus {
            ready: false,
            ..builder.status(&c, false)
        })
        .collect();

    let api_phase = spec::api_phase(pod);
    let mut reason = pod.status.as_ref().and_then(|s| s.reason.clone());
    let mut message = pod.status.as_ref().and_then(|s| s.message.clone());
    let phase = if matches!(api_phase, "Failed" | "Succeeded") {
        // Terminal phases are never left.
        api_phase.to_string()
    } else if input.deadline_exceeded {
        reason = Some("DeadlineExceeded".into());
        message = Some("Pod was active on the node longer than the specified deadline".into());
        "Failed".to_string()
    } else {
        phase(pod, &init, &main, initialized_by_main, input.terminal).to_string()
    };

    let sandbox_ready = rt.ready_sandbox().is_some();
    let mut unready: Vec<&str> = Vec::new();
    for (c, s) in spec::init_containers(pod).iter().zip(&init) {
        if spec::is_sidecar(c) && !s.ready {
            unready.push(&c.name);
        }
    }
    for s in &main {
        if !s.ready {
            unready.push(&s.name);
        }
    }
    let completed = phase == "Succeeded";
    let (ready_reason, ready_message) = if completed {
        (Some("PodCompleted".to_string()), None)
    } else if unready.is_empty() {
        (None, None)
    } else {
        (
            Some("ContainersNotReady".to_string()),
            Some(format!(
                "containers with unready status: {}",
                names(&unready)
            )),
        )
    };
    let ready = unready.is_empty() && !completed && phase == "Running";
    let (init_reason, init_message, initialized) = if incomplete.is_empty() {
        (completed.then(|| "PodCompleted".to_string()), None, true)
    } else {
        (
            Some("ContainersNotInitialized".to_string()),
            Some(format!(
                "containers with incomplete status: {}",
                names(&incomplete)
            )),
            false,
        )
    };
    let now = input.now;
    let mut conditions = vec![
        condition(
            pod,
            "PodReadyToStartContainers",
            sandbox_ready,
            None,
            None,
            now,
        ),
        condition(
            pod,
            "Initialized",
            initialized,
            init_reason,
            init_message,
            now,
        ),
        condition(
            pod,
            "Ready",
            ready,
            ready_reason.clone(),
            ready_message.clone(),
            now,
        ),
        condition(
            pod,
            "ContainersReady",
            ready,
            ready_reason,
            ready_message,
            now,
        ),
    ];
    // Conditions of others (PodScheduled, readiness gates, DisruptionTarget)
    // are kept.
    if let Some(old) = pod.status.as_ref().and_then(|s| s.conditions.as_ref()) {
        for c in old {
            if !conditions.iter().any(|n| n.type_ == c.type_) {
                conditions.push(c.clone());
            }
        }
    }

    let host = input.host_ip.to_string();
    let pod_ip = if spec::host_network(pod) {
        Some(host.clone())
    } else {
        rt.latest_sandbox()
            .and_then(|s| s.ip)
            .map(|ip| ip.to_string())
            .or_else(|| pod.status.as_ref().and_then(|s| s.pod_ip.clone()))
    };
    let start_time = pod
        .status
        .as_ref()
        .and_then(|s| s.start_time.clone())
        .or_else(|| time(now));
    PodStatus {
        phase: Some(phase),
        reason,
        message,
        conditions: Some(conditions),
        host_ip: Some(host.clone()),
        host_ips: Some(vec![HostIP { ip: host }]),
        pod_ips: pod_ip.clone().map(|ip| vec![PodIP { ip }]),
        pod_ip,
        qos_class: Some(qos_class(pod).as_str().to_string()),
        start_time,
        init_container_statuses: (!init.is_empty()).then_some(init),
        container_statuses: Some(main),
        ephemeral_container_statuses: (!ephemeral.is_empty()).then_some(ephemeral),
        ..PodStatus::default()
    }
}

#[cfg(test)]
#[path = "status_test.rs"]
mod tests;
