//! What the pod spec says, read the way the kubelet reads it: restart
//! policies (the pod's, and `restartPolicy: Always` on init containers for
//! sidecars), grace periods, the active deadline.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::{Container, EphemeralContainer, Pod, PodSpec};

/// The pod's `restartPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// The kubelet's default `terminationGracePeriodSeconds`.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(30);

fn spec(pod: &Pod) -> Option<&PodSpec> {
    pod.spec.as_ref()
}

/// `restartPolicy` (default Always).
pub fn restart_policy(pod: &Pod) -> RestartPolicy {
    match spec(pod).and_then(|s| s.restart_policy.as_deref()) {
        Some("OnFailure") => RestartPolicy::OnFailure,
        Some("Never") => RestartPolicy::Never,
        _ => RestartPolicy::Always,
    }
}

/// The pod's main containers.
pub fn containers(pod: &Pod) -> &[Container] {
    spec(pod).map(|s| s.containers.as_slice()).unwrap_or(&[])
}

/// The pod's init containers, sidecars included, in order.
pub fn init_containers(pod: &Pod) -> &[Container] {
    spec(pod)
        .and_then(|s| s.init_containers.as_deref())
        .unwrap_or(&[])
}

/// The pod's ephemeral containers (`kubectl debug`), in order.
pub fn ephemeral_containers(pod: &Pod) -> &[EphemeralContainer] {
    spec(pod)
        .and_then(|s| s.ephemeral_containers.as_deref())
        .unwrap_or(&[])
}

/// Ephemeral container `name` as a container (the same fields, less
/// `targetContainerName`), with its `targetContainerName`.
pub fn ephemeral_container(pod: &Pod, name: &str) -> Option<(Container, Option<String>)> {
    let e = ephemeral_containers(pod).iter().find(|e| e.name == name)?;
    let mut value = serde_json::to_value(e).ok()?;
    if let Some(m) = value.as_object_mut() {
        m.remove("targetContainerName");
    }
    let c: Container = serde_json::from_value(value).ok()?;
    Some((c, e.target_container_name.clone().filter(|t| !t.is_empty())))
}

/// An init container with `restartPolicy: Always`: a sidecar.
pub fn is_sidecar(c: &Container) -> bool {
    c.restart_policy.as_deref() == Some("Always")
}

/// The container of that name, and whether it is an init container.
pub fn find_container<'a>(pod: &'a Pod, name: &str) -> Option<(&'a Container, bool)> {
    if let Some(c) = init_containers(pod).iter().find(|c| c.name == name) {
        return Some((c, true));
    }
    containers(pod)
        .iter()
        .find(|c| c.name == name)
        .map(|c| (c, false))
}

/// `terminationGracePeriodSeconds` (default 30 s).
pub fn termination_grace(pod: &Pod) -> Duration {
    spec(pod)
        .and_then(|s| s.termination_grace_period_seconds)
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(DEFAULT_GRACE)
}

/// The grace period of a deletion in progress (`deletionGracePeriodSeconds`,
/// else the pod's).
pub fn deletion_grace(pod: &Pod) -> Duration {
    pod.metadata
        .deletion_grace_period_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or_else(|| termination_grace(pod))
}

/// Whether the pod is being deleted.
pub fn is_deleting(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

/// The phase the API shows.
pub fn api_phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Whether the API shows the pod Failed or Succeeded.
pub fn is_api_terminal(pod: &Pod) -> bool {
    matches!(api_phase(pod), "Failed" | "Succeeded")
}

/// `status.startTime`.
pub fn start_time(pod: &Pod) -> Option<SystemTime> {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map(|t| SystemTime::from(t.0))
}

/// Whether `activeDeadlineSeconds` has passed since the pod started.
pub fn deadline_exceeded(pod: &Pod, now: SystemTime) -> bool {
    let Some(deadline) = spec(pod).and_then(|s| s.active_deadline_seconds) else {
        return false;
    };
    let Some(start) = start_time(pod) else {
        return false;
    };
    now.duration_since(start)
        .is_ok_and(|d| d >= Duration::from_secs(deadline.max(0) as u64))
}

/// `hostNetwork: true`.
pub fn host_network(pod: &Pod) -> bool {
    spec(pod).and_then(|s| s.host_network).unwrap_or(false)
}

/// `namespace/name`, for logs.
pub fn pod_key(pod: &Pod) -> String {
    format!(
        "{}/{}",
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.name.as_deref().unwrap_or_default()
    )
}

/// `name_namespace(uid)`, as the kubelet names a pod in messages.
pub fn pod_desc(pod: &Pod) -> String {
    format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}
