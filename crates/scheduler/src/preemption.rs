//! Preemption (kube-scheduler's DefaultPreemption): when no node fits a
//! pod, find a node where deleting pods of lower priority would make it
//! fit, choosing the victims and the node as Kubernetes does — remove every
//! lower-priority pod, then give back (reprieve) as many as still let the
//! pod fit, highest priority first; prefer the node whose highest victim
//! priority is lowest, then the smallest sum of victim priorities, then the
//! fewest victims. Only what resources and host ports block is resolved by
//! preemption; taints, selectors and affinity are not.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use crate::cache::{Cache, NodeInfo, PodMeta};
use crate::filter::fits;
use crate::resources::Amounts;

/// The node chosen and the pods (uid, meta) to delete there.
pub struct Plan {
    pub node: String,
    pub victims: Vec<(String, Arc<PodMeta>)>,
}

fn priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Whether the pod may preempt at all (`preemptionPolicy: Never` may not).
pub fn may_preempt(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.preemption_policy.as_deref())
        != Some("Never")
}

/// `info` as it would be without `gone` (resources only; host ports stay,
/// a conservative choice).
fn without(info: &NodeInfo, gone: &[&Arc<PodMeta>]) -> NodeInfo {
    let mut requested = info.requested;
    for v in gone {
        requested.sub(&v.amounts);
    }
    NodeInfo {
        node: info.node.clone(),
        pods: HashMap::new(),
        allocatable: info.allocatable,
        requested,
        ports: info.ports.clone(),
        owners: HashMap::new(),
    }
}

/// `must_evict`: pods (uids) that have to go wherever the pod lands (they
/// hold its ReadWriteOncePod claims); `volumes_fit`: the pod's volumes
/// allow the node.
pub fn find(
    pod: &Pod,
    requests: &Amounts,
    cache: &Cache,
    must_evict: &[String],
    volumes_fit: &dyn Fn(&NodeInfo) -> bool,
) -> Option<Plan> {
    if !may_preempt(pod) {
        return None;
    }
    let mine = priority(pod);
    let mut best: Option<((i32, i64, usize), Plan)> = None;
    for (name, info) in &cache.nodes {
        let forced = must_evict.iter().all(|u| {
            info.pods
                .get(u)
                .is_some_and(|p| p.priority < mine && !p.deleting)
        });
        if !forced || !volumes_fit(info) {
            continue;
        }
        // Pods already on their way out free their room soon: wait for them.
        if info.pods.values().any(|p| p.deleting && p.priority < mine) {
            continue;
        }
        let mut lower: Vec<(&String, &Arc<PodMeta>)> = info
            .pods
            .iter()
            .filter(|(_, p)| p.priority < mine)
            .collect();
        if lower.is_empty() {
            continue;
        }
        let all: Vec<&Arc<PodMeta>> = lower.iter().map(|(_, p)| *p).collect();
        if fits(pod, requests, &without(info, &all)).is_err() {
            continue;
        }
        // Reprieve the most important first.
        lower.sort_by_key(|(_, p)| std::cmp::Reverse(p.priority));
        let mut victims: Vec<(&String, &Arc<PodMeta>)> = lower.clone();
        for candidate in &lower {
            if must_evict.contains(candidate.0) {
                continue;
            }
            let trial: Vec<&Arc<PodMeta>> = victims
                .iter()
                .filter(|(u, _)| *u != candidate.0)
                .map(|(_, p)| *p)
                .collect();
            if fits(pod, requests, &without(info, &trial)).is_ok() {
                victims.retain(|(u, _)| *u != candidate.0);
            }
        }
        let key = (
            victims
                .iter()
                .map(|(_, p)| p.priority)
                .max()
                .unwrap_or(i32::MIN),
            victims
                .iter()
                .map(|(_, p)| i64::from(p.priority))
                .sum::<i64>(),
            victims.len(),
        );
        if best.as_ref().is_none_or(|(k, _)| key < *k) {
            best = Some((
                key,
                Plan {
                    node: name.clone(),
                    victims: victims
                        .into_iter()
                        .map(|(u, p)| (u.clone(), p.clone()))
                        .collect(),
                },
            ));
        }
    }
    best.map(|(_, plan)| plan)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::resources::pod_requests;

    fn pod(name: &str, prio: i32, cpu: &str) -> Pod {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "ns"},
            "spec": {"priority": prio, "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
        .expect("pod")
    }

    #[test]
    fn the_fewest_least_important_pods_make_room() {
        let mut c = Cache::default();
        for n in ["a", "b"] {
            c.set_node(
                serde_json::from_value(json!({"metadata": {"name": n},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"}}}))
                .expect("node"),
            );
        }
        // a: two low (10) pods of 2 cpu; b: one 100 pod of 2 cpu and one 10 pod of 2 cpu.
        c.place("1", "a", &pod("l1", 10, "2"));
        c.place("2", "a", &pod("l2", 10, "2"));
        c.place("3", "b", &pod("m", 100, "2"));
        c.place("4", "b", &pod("l3", 10, "2"));
        let big = pod("big", 1000, "2");
        let plan = find(&big, &pod_requests(&big), &c, &[], &|_| true).expect("a plan");
        // One victim of priority 10 on either node; a and b tie on priority, a wins on sum? b's victim is one pod (10) too: tie → first node.
        assert_eq!(plan.victims.len(), 1);
        assert_eq!(plan.victims[0].1.priority, 10);
        let lowly = pod("lowly", 5, "2");
        assert!(
            find(&lowly, &pod_requests(&lowly), &c, &[], &|_| true).is_none(),
            "nothing below priority 5"
        );
        let mut never = pod("never", 1000, "2");
        if let Some(s) = never.spec.as_mut() {
            s.preemption_policy = Some("Never".into());
        }
        assert!(find(&never, &pod_requests(&never), &c, &[], &|_| true).is_none());
    }

    #[test]
    fn the_holder_of_a_read_write_once_pod_claim_is_the_victim_on_its_node() {
        let mut c = Cache::default();
        for n in ["a", "b"] {
            c.set_node(
                serde_json::from_value(json!({"metadata": {"name": n},
                    "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "10"}}}))
                .expect("node"),
            );
        }
        c.place("holder", "b", &pod("holder", 10, "1"));
        c.place("other", "b", &pod("other", 10, "1"));
        let p = pod("p", 100, "1");
        let holders = ["holder".to_string()];
        let plan = find(&p, &pod_requests(&p), &c, &holders, &|_| true).expect("a plan");
        assert_eq!(plan.node, "b");
        let victims: Vec<&str> = plan.victims.iter().map(|(u, _)| u.as_str()).collect();
        assert_eq!(victims, ["holder"]);
        // A node the pod's volumes rule out is no candidate.
        assert!(find(&p, &pod_requests(&p), &c, &holders, &|i| i
            .node
            .metadata
            .name
            .as_deref()
            != Some("b"))
        .is_none());
        // A holder of higher priority stays.
        let low = pod("low", 5, "1");
        assert!(find(&low, &pod_requests(&low), &c, &holders, &|_| true).is_none());
    }
}
