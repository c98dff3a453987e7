//! A pod's QoS class as the kubelet computes it (only `cpu` and `memory`
//! count), the cgroup it runs in, and the OOM score adjustment its
//! containers get.

use k8s_openapi::api::core::v1::{Container, Pod};

use crate::kubelet::container::quantity::{container_milli, container_value, Limit};

/// `Guaranteed`, `Burstable` or `BestEffort`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum QosClass {
    BestEffort,
    Burstable,
    Guaranteed,
}

impl QosClass {
    /// The name written to `status.qosClass`.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

const COMPUTE: [&str; 2] = ["cpu", "memory"];

/// The pod's QoS class: BestEffort when no container requests or limits
/// CPU or memory; Guaranteed when every container has CPU and memory
/// limits and its requests (where set) equal them; Burstable otherwise.
pub fn qos_class(pod: &Pod) -> QosClass {
    let Some(spec) = pod.spec.as_ref() else {
        return QosClass::BestEffort;
    };
    let all: Vec<&Container> = spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in all {
        for r in COMPUTE {
            let req = container_milli(c, Limit::Request, r).filter(|v| *v != 0);
            let lim = container_milli(c, Limit::Limit, r).filter(|v| *v != 0);
            if req.is_some() || lim.is_some() {
                any = true;
            }
            match (req, lim) {
                (_, None) => guaranteed = false,
                (Some(q), Some(l)) if q != l => guaranteed = false,
                _ => {}
            }
        }
    }
    if !any {
        QosClass::BestEffort
    } else if guaranteed {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// The pod's cgroup relative to the cgroup root, as the kubelet's cgroupfs
/// driver names it.
pub fn cgroup_parent(pod: &Pod) -> String {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    match qos_class(pod) {
        QosClass::Guaranteed => format!("kubepods/pod{uid}"),
        QosClass::Burstable => format!("kubepods/burstable/pod{uid}"),
        QosClass::BestEffort => format!("kubepods/besteffort/pod{uid}"),
    }
}

/// Pods at or above this priority are critical (`system-cluster-critical`
/// and `system-node-critical`).
const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// The container's `oom_score_adj` as the kubelet sets it: -997 for
/// Guaranteed and critical pods, 1000 for BestEffort, and for Burstable
/// `1000 - 1000 × memory request / memory capacity` kept within 3..=999.
pub fn oom_score_adj(pod: &Pod, container: &Container, memory_capacity: i128) -> i32 {
    let critical = pod
        .spec
        .as_ref()
        .and_then(|s| s.priority)
        .is_some_and(|p| p >= SYSTEM_CRITICAL_PRIORITY);
    if critical {
        return -997;
    }
    match qos_class(pod) {
        QosClass::Guaranteed => -997,
        QosClass::BestEffort => 1000,
        QosClass::Burstable => {
            let request = container_value(container, Limit::Request, "memory").unwrap_or(0);
            let adj = if memory_capacity > 0 {
                1000 - (1000 * request) / memory_capacity
            } else {
                1000
            };
            adj.clamp(3, 999) as i32
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(containers: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1"},
            "spec": {"containers": containers},
        }))
        .expect("test input")
    }

    #[test]
    fn classes_follow_cpu_and_memory_only() {
        let be = pod(json!([{"name": "a"}]));
        assert_eq!(qos_class(&be), QosClass::BestEffort);
        assert_eq!(cgroup_parent(&be), "kubepods/besteffort/podu1");
        let storage_only = pod(json!([{"name": "a",
            "resources": {"limits": {"ephemeral-storage": "1Gi"}}}]));
        assert_eq!(qos_class(&storage_only), QosClass::BestEffort);
        let g = pod(json!([{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"},
            "requests": {"cpu": "1000m", "memory": "1Gi"}}}]));
        assert_eq!(qos_class(&g), QosClass::Guaranteed);
        assert_eq!(cgroup_parent(&g), "kubepods/podu1");
        let b = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "100m"}}}]));
        assert_eq!(qos_class(&b), QosClass::Burstable);
        assert_eq!(cgroup_parent(&b), "kubepods/burstable/podu1");
    }

    #[test]
    fn oom_score_adj_by_class() {
        let g = pod(json!([{"name": "a", "resources": {
            "limits": {"cpu": "1", "memory": "1Gi"}}}]));
        assert_eq!(
            oom_score_adj(
                &g,
                &g.spec.as_ref().expect("test input").containers[0],
                4 << 30
            ),
            -997
        );
        let be = pod(json!([{"name": "a"}]));
        assert_eq!(
            oom_score_adj(
                &be,
                &be.spec.as_ref().expect("test input").containers[0],
                4 << 30
            ),
            1000
        );
        let b = pod(json!([{"name": "a", "resources": {"requests": {"memory": "1Gi"}}}]));
        let c = &b.spec.as_ref().expect("test input").containers[0];
        assert_eq!(oom_score_adj(&b, c, 4 << 30), 750);
        assert_eq!(oom_score_adj(&b, c, 1 << 30), 3);
        let tiny = pod(json!([{"name": "a", "resources": {"requests": {"cpu": "1m"}}}]));
        assert_eq!(
            oom_score_adj(
                &tiny,
                &tiny.spec.as_ref().expect("test input").containers[0],
                1 << 30
            ),
            999
        );
    }
}
