//! What controllers ask of pods: active or not, ready and available, who
//! controls them, which to delete first when scaling down, and which
//! claims they use.

use std::cmp::Ordering;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;

/// The owner reference with `controller: true`.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
}

fn phase(pod: &Pod) -> &str {
    pod.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("Pending")
}

/// Not finished and not being deleted.
pub fn is_active(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase(pod), "Succeeded" | "Failed")
}

#[allow(dead_code)] // for the Job controller
pub fn is_terminal(pod: &Pod) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

#[allow(dead_code)] // for the Job controller
pub fn is_succeeded(pod: &Pod) -> bool {
    phase(pod) == "Succeeded"
}

#[allow(dead_code)] // for the Job controller
pub fn is_failed(pod: &Pod) -> bool {
    phase(pod) == "Failed"
}

/// When the pod's Ready condition last became True, if it is True.
pub fn ready_since(pod: &Pod) -> Option<Timestamp> {
    let c = pod
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")?;
    if c.status != "True" {
        return None;
    }
    Some(
        c.last_transition_time
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(Timestamp::UNIX_EPOCH),
    )
}

pub fn is_ready(pod: &Pod) -> bool {
    ready_since(pod).is_some()
}

/// Ready for at least `min_ready_seconds` at `now`.
pub fn is_available(pod: &Pod, min_ready_seconds: i32, now: Timestamp) -> bool {
    ready_since(pod).is_some_and(|since| ready_long_enough(since, min_ready_seconds, now))
}

/// Ready since `since`, and so available at `now` after `min_ready_seconds`.
pub fn ready_long_enough(since: Timestamp, min_ready_seconds: i32, now: Timestamp) -> bool {
    min_ready_seconds <= 0 || now.as_second() - since.as_second() >= i64::from(min_ready_seconds)
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).max().unwrap_or(0))
        .unwrap_or(0)
}

fn deletion_cost(pod: &Pod) -> i64 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get("controller.kubernetes.io/pod-deletion-cost"))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// Kubernetes' order for deleting pods when scaling down (first is
/// deleted first): unscheduled before scheduled; Pending before Unknown
/// before Running; not ready before ready; lower pod-deletion-cost first;
/// ready for less time first; more restarts first; newer first.
pub fn deletion_order(a: &Pod, b: &Pod) -> Ordering {
    let scheduled = |p: &Pod| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
    let phase_rank = |p: &Pod| match phase(p) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    };
    let created = |p: &Pod| p.metadata.creation_timestamp.as_ref().map(|t| t.0);
    scheduled(a)
        .cmp(&scheduled(b))
        .then(phase_rank(a).cmp(&phase_rank(b)))
        .then(is_ready(a).cmp(&is_ready(b)))
        .then(deletion_cost(a).cmp(&deletion_cost(b)))
        .then(ready_since(b).cmp(&ready_since(a)))
        .then(restarts(b).cmp(&restarts(a)))
        .then(created(b).cmp(&created(a)))
}

/// The names of the claims `pod` uses (its `persistentVolumeClaim`
/// volumes and the claims of its generic ephemeral volumes).
pub(crate) fn claims_of(pod: &Pod) -> Vec<String> {
    let pod_name = pod.name_any();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            if let Some(c) = &v.persistent_volume_claim {
                return Some(c.claim_name.clone());
            }
            v.ephemeral
                .as_ref()
                .map(|_| format!("{pod_name}-{}", v.name))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).expect("pod")
    }

    #[test]
    fn unscheduled_pending_and_unready_pods_go_first() {
        let running_ready = pod(
            json!({"metadata": {"name": "r"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}),
        );
        let running = pod(
            json!({"metadata": {"name": "u"}, "spec": {"nodeName": "n", "containers": []},
            "status": {"phase": "Running"}}),
        );
        let pending =
            pod(json!({"metadata": {"name": "p"}, "spec": {"nodeName": "n", "containers": []}}));
        let unscheduled = pod(json!({"metadata": {"name": "x"}, "spec": {"containers": []}}));
        let mut pods = [running_ready, running, pending, unscheduled];
        pods.sort_by(deletion_order);
        let names: Vec<_> = pods
            .iter()
            .map(|p| p.metadata.name.clone().unwrap_or_default())
            .collect();
        assert_eq!(names, ["x", "p", "u", "r"]);
        assert!(is_available(&pods[3], 0, Timestamp::now()));
        assert!(!is_available(&pods[2], 0, Timestamp::now()));
    }
}
