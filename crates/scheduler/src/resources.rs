//! Requests and allocatable amounts, in milli-units (cpu in millicores,
//! memory in milli-bytes, as `rkube_apimachinery::quantity` parses them).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Container, Node, Pod};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use rkube_apimachinery::quantity::parse_milli;

/// The amounts the scheduler counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Amounts {
    pub cpu: i128,
    pub memory: i128,
    pub pods: i128,
}

impl Amounts {
    pub fn add(&mut self, o: &Amounts) {
        self.cpu += o.cpu;
        self.memory += o.memory;
        self.pods += o.pods;
    }

    pub fn sub(&mut self, o: &Amounts) {
        self.cpu -= o.cpu;
        self.memory -= o.memory;
        self.pods -= o.pods;
    }
}

fn amount(list: Option<&BTreeMap<String, Quantity>>, key: &str) -> i128 {
    list.and_then(|l| l.get(key))
        .and_then(|q| parse_milli(&q.0))
        .unwrap_or(0)
}

fn container_requests(c: &Container) -> (i128, i128) {
    let r = c.resources.as_ref();
    let req = r.and_then(|r| r.requests.as_ref());
    // A limit without a request means a request of the same amount.
    let lim = r.and_then(|r| r.limits.as_ref());
    let pick = |k: &str| {
        let v = amount(req, k);
        if v == 0 {
            amount(lim, k)
        } else {
            v
        }
    };
    (pick("cpu"), pick("memory"))
}

/// What a pod asks for: the sum over its containers, or the largest init
/// container when that is more, plus its overhead; one pod.
pub fn pod_requests(pod: &Pod) -> Amounts {
    let Some(spec) = pod.spec.as_ref() else {
        return Amounts {
            pods: 1,
            ..Amounts::default()
        };
    };
    let (mut cpu, mut memory) = (0, 0);
    for c in &spec.containers {
        let (c, m) = container_requests(c);
        cpu += c;
        memory += m;
    }
    for c in spec.init_containers.iter().flatten() {
        let (c, m) = container_requests(c);
        cpu = cpu.max(c);
        memory = memory.max(m);
    }
    let overhead = spec.overhead.as_ref();
    Amounts {
        cpu: cpu + amount(overhead, "cpu"),
        memory: memory + amount(overhead, "memory"),
        pods: 1,
    }
}

/// What a node offers (`status.allocatable`, else `status.capacity`).
pub fn allocatable(node: &Node) -> Amounts {
    let status = node.status.as_ref();
    let list = status
        .and_then(|s| s.allocatable.as_ref())
        .or(status.and_then(|s| s.capacity.as_ref()));
    Amounts {
        cpu: amount(list, "cpu"),
        memory: amount(list, "memory"),
        pods: amount(list, "pods"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pod_requests_sum_containers_and_take_the_largest_init_container() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [
                    {"name": "a", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
                    {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                ],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
                "overhead": {"cpu": "10m"},
            }
        }))
        .expect("pod");
        let r = pod_requests(&pod);
        assert_eq!(r.cpu, 2_010);
        assert_eq!(r.memory, (64 + 1024) * 1024 * 1024 * 1000);
        assert_eq!(r.pods, 1);
    }
}
