//! Synthetic usage of simulated nodes and their pods (nothing is ever
//! asked of a simulated node: the figures follow from the objects).
//!
//! A pod's containers use what its annotation `rkube.io/sim-usage` says —
//! comma-separated `cpu=<quantity>` and `memory=<quantity>` for the whole
//! pod (split evenly over the containers without a figure of their own),
//! and `<container>.cpu=` / `<container>.memory=` for one container —
//! and, for what it does not say, half of the container's request (1m CPU
//! and 4Mi memory without a request). A node uses the sum of its running
//! pods plus a base: the same annotation on the Node, else 50m and 128Mi.
//! Entries that do not parse are ignored (the default stands), so a typo
//! never hides a pod from `kubectl top`.

use serde_json::Value;

use super::usage::{parse_bytes, parse_cpu_nanos, Usage};

/// The annotation with a pod's (or a simulated node's base) usage.
pub const USAGE_ANNOTATION: &str = "rkube.io/sim-usage";

/// A container without a CPU request uses this (nanocores).
const DEFAULT_CPU: u64 = 1_000_000;
/// A container without a memory request uses this (bytes).
const DEFAULT_MEMORY: u64 = 4 << 20;
/// A node's own usage, beside its pods' (nanocores).
const NODE_BASE_CPU: u64 = 50_000_000;
/// A node's own usage, beside its pods' (bytes).
const NODE_BASE_MEMORY: u64 = 128 << 20;

/// What an annotation sets: per resource, for the pod and per container.
#[derive(Debug, Default, PartialEq, Eq)]
struct Given {
    cpu: Option<u64>,
    memory: Option<u64>,
    containers: Vec<(String, Option<u64>, Option<u64>)>,
}

impl Given {
    fn parse(text: &str) -> Given {
        let mut g = Given::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let Some((key, value)) = entry.split_once('=') else {
                continue;
            };
            let (container, resource) = match key.trim().rsplit_once('.') {
                Some((c, r)) => (Some(c.trim()), r.trim()),
                None => (None, key.trim()),
            };
            let (cpu, memory) = match resource {
                "cpu" => (parse_cpu_nanos(value), None),
                "memory" => (None, parse_bytes(value)),
                _ => continue,
            };
            if cpu.is_none() && memory.is_none() {
                continue;
            }
            match container {
                None => {
                    g.cpu = cpu.or(g.cpu);
                    g.memory = memory.or(g.memory);
                }
                Some(name) => match g.containers.iter_mut().find(|c| c.0 == name) {
                    Some(c) => {
                        c.1 = cpu.or(c.1);
                        c.2 = memory.or(c.2);
                    }
                    None => g.containers.push((name.to_string(), cpu, memory)),
                },
            }
        }
        g
    }

    fn of(obj: &Value) -> Given {
        obj.pointer("/metadata/annotations")
            .and_then(|a| a.get(USAGE_ANNOTATION))
            .and_then(Value::as_str)
            .map(Given::parse)
            .unwrap_or_default()
    }
}

/// Half of the container's request of `resource`, or `default`.
fn from_request(container: &Value, resource: &str, default: u64) -> u64 {
    let request = container
        .pointer("/resources/requests")
        .and_then(|r| r.get(resource))
        .and_then(Value::as_str);
    let parsed = match resource {
        "cpu" => request.and_then(parse_cpu_nanos),
        _ => request.and_then(parse_bytes),
    };
    parsed.map_or(default, |v| v / 2)
}

/// Whether a pod runs (has usage): bound and `Running`.
pub fn is_running(pod: &Value) -> bool {
    pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
}

/// The usage of each of a pod's containers, in the pod's order.
pub fn pod_usage(pod: &Value) -> Vec<(String, Usage)> {
    let given = Given::of(pod);
    let containers: Vec<&Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    let own = |name: &str| given.containers.iter().find(|c| c.0 == name);
    // A pod-wide figure is shared by the containers without their own.
    let share = |total: Option<u64>, has_own: &dyn Fn(&str) -> bool| {
        let n = containers
            .iter()
            .filter(|c| !has_own(c["name"].as_str().unwrap_or_default()))
            .count() as u64;
        total.map(|t| t / n.max(1))
    };
    let cpu_share = share(given.cpu, &|n| own(n).is_some_and(|c| c.1.is_some()));
    let memory_share = share(given.memory, &|n| own(n).is_some_and(|c| c.2.is_some()));
    containers
        .iter()
        .map(|c| {
            let name = c["name"].as_str().unwrap_or_default().to_string();
            let mine = own(&name);
            let cpu = mine
                .and_then(|m| m.1)
                .or(cpu_share)
                .unwrap_or_else(|| from_request(c, "cpu", DEFAULT_CPU));
            let memory = mine
                .and_then(|m| m.2)
                .or(memory_share)
                .unwrap_or_else(|| from_request(c, "memory", DEFAULT_MEMORY));
            (
                name,
                Usage {
                    cpu_nanos: cpu,
                    memory_bytes: memory,
                },
            )
        })
        .collect()
}

/// A simulated node's usage: its base plus its running pods'.
pub fn node_usage<'a>(node: &Value, pods: impl IntoIterator<Item = &'a Value>) -> Usage {
    let given = Given::of(node);
    let base = Usage {
        cpu_nanos: given.cpu.unwrap_or(NODE_BASE_CPU),
        memory_bytes: given.memory.unwrap_or(NODE_BASE_MEMORY),
    };
    pods.into_iter()
        .filter(|p| is_running(p))
        .flat_map(pod_usage)
        .fold(base, |sum, (_, u)| sum + u)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(annotation: Option<&str>, containers: Value) -> Value {
        let mut p = json!({"metadata": {"name": "p"}, "spec": {"containers": containers},
                           "status": {"phase": "Running"}});
        if let Some(a) = annotation {
            p["metadata"]["annotations"] = json!({USAGE_ANNOTATION: a});
        }
        p
    }

    fn usage(cpu_m: u64, memory_mi: u64) -> Usage {
        Usage {
            cpu_nanos: cpu_m * 1_000_000,
            memory_bytes: memory_mi << 20,
        }
    }

    #[test]
    fn without_an_annotation_a_container_uses_half_its_requests() {
        let p = pod(
            None,
            json!([{"name": "a", "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}},
                   {"name": "b"}]),
        );
        assert_eq!(
            pod_usage(&p),
            vec![("a".into(), usage(100, 32)), ("b".into(), usage(1, 4))]
        );
    }

    #[test]
    fn the_pod_figure_is_shared_and_a_container_figure_wins() {
        let p = pod(
            Some("cpu=300m, memory=96Mi, b.cpu=50m, bogus, c.disk=1, a.memory=oops"),
            json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]),
        );
        assert_eq!(
            pod_usage(&p),
            vec![
                ("a".into(), usage(150, 32)),
                ("b".into(), usage(50, 32)),
                ("c".into(), usage(150, 32)),
            ]
        );
    }

    #[test]
    fn a_node_uses_its_base_and_its_running_pods() {
        let node = json!({"metadata": {"name": "n"}});
        let running = pod(Some("cpu=250m,memory=64Mi"), json!([{"name": "a"}]));
        let mut pending = running.clone();
        pending["status"]["phase"] = json!("Pending");
        assert_eq!(
            node_usage(&node, [&running, &pending]),
            usage(50 + 250, 128 + 64)
        );
        let small = json!({"metadata": {"annotations": {USAGE_ANNOTATION: "cpu=10m,memory=1Mi"}}});
        assert_eq!(node_usage(&small, [&running]), usage(260, 65));
    }
}
