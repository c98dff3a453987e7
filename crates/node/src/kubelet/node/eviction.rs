//! Node-pressure eviction decisions, pure (measurements injected): pods
//! whose emptyDir use exceeds its `sizeLimit` or whose ephemeral-storage
//! use (emptyDir and logs) exceeds their containers' limits; and under a
//! crossed hard threshold one victim per round, ranked as the kubelet
//! ranks them — pods using more than they request first, then lower
//! priority, then by use above request. Critical pods are never chosen.
//! The messages are the kubelet's.

use k8s_openapi::api::core::v1::Pod;

use crate::kubelet::container::quantity::{container_value, Limit};
use crate::kubelet::node::conditions::Signal;

/// Pods at or above this priority are never evicted.
const SYSTEM_CRITICAL_PRIORITY: i32 = 2_000_000_000;

/// One emptyDir volume's use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmptyDirUse {
    pub name: String,
    pub used: u64,
    /// `sizeLimit` in bytes, and as written.
    pub limit: Option<(u64, String)>,
}

/// What a pod uses, as measured.
#[derive(Clone, Debug)]
pub struct PodStats {
    pub pod: Pod,
    /// Bytes of memory its cgroup uses.
    pub memory: u64,
    /// Bytes of ephemeral storage: emptyDir volumes on disk and logs.
    pub ephemeral: u64,
    pub empty_dirs: Vec<EmptyDirUse>,
}

/// A pod to evict and why (the status message and the event's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Eviction {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub message: String,
}

impl Eviction {
    fn of(pod: &Pod, message: String) -> Self {
        Eviction {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            message,
        }
    }
}

/// Bytes as a quantity (`100Mi`, `51200Ki`, `1234`).
pub fn format_bytes(b: u64) -> String {
    if b > 0 && b.is_multiple_of(1 << 20) {
        format!("{}Mi", b >> 20)
    } else if b > 0 && b.is_multiple_of(1024) {
        format!("{}Ki", b >> 10)
    } else {
        b.to_string()
    }
}

fn critical(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.priority)
        .is_some_and(|p| p >= SYSTEM_CRITICAL_PRIORITY)
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// The sum of the containers' `name` requests or limits (None: none set).
fn pod_total(pod: &Pod, which: Limit, name: &str) -> Option<u64> {
    let spec = pod.spec.as_ref()?;
    let mut any = false;
    let mut sum: i128 = 0;
    for c in &spec.containers {
        if let Some(v) = container_value(c, which, name) {
            any = true;
            sum += v;
        }
    }
    // An init container's own need counts when larger (they run alone).
    for c in spec.init_containers.iter().flatten() {
        if let Some(v) = container_value(c, which, name) {
            any = true;
            sum = sum.max(v);
        }
    }
    any.then_some(sum.max(0) as u64)
}

/// Pods over an emptyDir `sizeLimit` or their ephemeral-storage limit.
pub fn local_storage_evictions(pods: &[PodStats]) -> Vec<Eviction> {
    let mut out = Vec::new();
    for s in pods.iter().filter(|s| !critical(&s.pod)) {
        let over = s.empty_dirs.iter().find_map(|e| {
            let (limit, shown) = e.limit.as_ref()?;
            (e.used > *limit).then(|| {
                format!(
                    "Usage of EmptyDir volume \"{}\" exceeds the limit \"{shown}\". ",
                    e.name
                )
            })
        });
        if let Some(message) = over {
            out.push(Eviction::of(&s.pod, message));
            continue;
        }
        if let Some(limit) = pod_total(&s.pod, Limit::Limit, "ephemeral-storage") {
            if s.ephemeral > limit {
                out.push(Eviction::of(
                    &s.pod,
                    format!(
                        "Pod ephemeral local storage usage exceeds the total limit of containers {}. ",
                        format_bytes(limit)
                    ),
                ));
            }
        }
    }
    out
}

/// The pod to evict for a crossed `signal` (`threshold` and `available` in
/// its unit), if any pod may be.
pub fn pick_victim(
    signal: Signal,
    threshold: u64,
    available: u64,
    pods: &[PodStats],
) -> Option<Eviction> {
    if signal == Signal::PidAvailable {
        return None;
    }
    let (resource, usage): (&str, fn(&PodStats) -> u64) = match signal {
        Signal::MemoryAvailable => ("memory", |s| s.memory),
        _ => ("ephemeral-storage", |s| s.ephemeral),
    };
    let victim = pods.iter().filter(|s| !critical(&s.pod)).max_by_key(|s| {
        let request = pod_total(&s.pod, Limit::Request, resource).unwrap_or(0);
        let used = usage(s);
        // Larger key: evicted first.
        (
            used > request,
            std::cmp::Reverse(priority(&s.pod)),
            used as i128 - request as i128,
        )
    })?;
    let shown = |v: u64| match signal {
        Signal::NodeFsInodesFree => v.to_string(),
        _ => format_bytes(v),
    };
    Some(Eviction::of(
        &victim.pod,
        format!(
            "The node was low on resource: {}. Threshold quantity: {}, available: {}. ",
            signal.resource(),
            shown(threshold),
            shown(available)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, priority: i32, resources: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": format!("uid-{name}")},
            "spec": {"priority": priority, "containers": [{"name": "c", "resources": resources}]},
        }))
        .expect("pod")
    }

    fn stats(pod: Pod, memory: u64, ephemeral: u64) -> PodStats {
        PodStats {
            pod,
            memory,
            ephemeral,
            empty_dirs: Vec::new(),
        }
    }

    #[test]
    fn memory_victims_rank_as_the_kubelet() {
        let pods = vec![
            // Within its request: last.
            stats(
                pod(
                    "guaranteed",
                    0,
                    json!({"requests": {"memory": "1Gi"}, "limits": {"memory": "1Gi"}}),
                ),
                500 << 20,
                0,
            ),
            // BestEffort using a little.
            stats(pod("besteffort", 0, json!({})), 10 << 20, 0),
            // Burstable over its request by more, but higher priority.
            stats(
                pod("important", 1000, json!({"requests": {"memory": "10Mi"}})),
                900 << 20,
                0,
            ),
            // Critical: never.
            stats(pod("critical", 2_000_001_000, json!({})), 4 << 30, 0),
        ];
        let v = pick_victim(Signal::MemoryAvailable, 100 << 20, 50 << 20, &pods).expect("victim");
        assert_eq!(v.name, "besteffort");
        assert_eq!(
            v.message,
            "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. "
        );
        let same_priority = vec![
            stats(pod("small", 0, json!({})), 10 << 20, 0),
            stats(
                pod("big", 0, json!({"requests": {"memory": "10Mi"}})),
                900 << 20,
                0,
            ),
        ];
        assert_eq!(
            pick_victim(Signal::MemoryAvailable, 1, 0, &same_priority)
                .expect("v")
                .name,
            "big"
        );
        assert!(pick_victim(Signal::MemoryAvailable, 1, 0, &pods[3..]).is_none());
        assert!(pick_victim(Signal::PidAvailable, 1, 0, &pods).is_none());
    }

    #[test]
    fn disk_victims_by_ephemeral_use() {
        let pods = vec![
            stats(pod("a", 0, json!({})), 0, 1 << 20),
            stats(pod("b", 0, json!({})), 0, 5 << 20),
        ];
        let v = pick_victim(Signal::NodeFsAvailable, 10 << 30, 1 << 30, &pods).expect("victim");
        assert_eq!(v.name, "b");
        assert!(v
            .message
            .starts_with("The node was low on resource: ephemeral-storage."));
    }

    #[test]
    fn local_storage_limits() {
        let mut over_dir = stats(pod("dir", 0, json!({})), 0, 3 << 20);
        over_dir.empty_dirs.push(EmptyDirUse {
            name: "cache".into(),
            used: 3 << 20,
            limit: Some((1 << 20, "1Mi".into())),
        });
        let over_pod = stats(
            pod("pod", 0, json!({"limits": {"ephemeral-storage": "2Mi"}})),
            0,
            3 << 20,
        );
        let fine = stats(
            pod("fine", 0, json!({"limits": {"ephemeral-storage": "2Mi"}})),
            0,
            1 << 20,
        );
        let e = local_storage_evictions(&[over_dir, over_pod, fine]);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].name, "dir");
        assert_eq!(
            e[0].message,
            "Usage of EmptyDir volume \"cache\" exceeds the limit \"1Mi\". "
        );
        assert_eq!(e[1].name, "pod");
        assert_eq!(
            e[1].message,
            "Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. "
        );
    }
}
