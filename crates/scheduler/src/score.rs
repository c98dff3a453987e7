//! Score plugins: of the nodes that fit, which is best. Each gives 0–100;
//! the weighted sum decides (ties go to the first node looked at).
//!
//! - least allocated: the free share of cpu and memory after the pod;
//! - balanced allocation: cpu and memory used in similar proportions;
//! - preferred node affinity: the weights of the matching terms, scaled;
//! - spreading (weight 2, as kube-scheduler's default topology spread by
//!   hostname): fewer pods of the same controller on the node is better.

use k8s_openapi::api::core::v1::Pod;
use rkube_apimachinery::matching::term_matches;

use crate::cache::NodeInfo;
use crate::resources::Amounts;

fn share(used: i128, total: i128) -> f64 {
    if total <= 0 {
        1.0
    } else {
        (used as f64 / total as f64).clamp(0.0, 1.0)
    }
}

/// `owner` is the pod's controller's uid (`cache::owner_of`), looked up
/// once per pod rather than once per node.
pub fn score(pod: &Pod, requests: &Amounts, owner: Option<&str>, info: &NodeInfo) -> i64 {
    let a = &info.allocatable;
    let r = &info.requested;
    let cpu = share(r.cpu + requests.cpu, a.cpu);
    let mem = share(r.memory + requests.memory, a.memory);
    let least = ((1.0 - cpu) + (1.0 - mem)) / 2.0 * 100.0;
    let balanced = (1.0 - (cpu - mem).abs()) * 100.0;
    least as i64 + balanced as i64 + preferred_affinity(pod, info) + spread(owner, info)
}

fn spread(owner: Option<&str>, info: &NodeInfo) -> i64 {
    match owner {
        Some(o) => 200 / (1 + i64::from(info.owners.get(o).copied().unwrap_or(0))),
        None => 0,
    }
}

fn preferred_affinity(pod: &Pod, info: &NodeInfo) -> i64 {
    let Some(prefs) = pod
        .spec
        .as_ref()
        .and_then(|s| s.affinity.as_ref())
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.preferred_during_scheduling_ignored_during_execution
                .as_ref()
        })
    else {
        return 0;
    };
    let total: i64 = prefs.iter().map(|p| i64::from(p.weight)).sum();
    if total == 0 {
        return 0;
    }
    let matched: i64 = prefs
        .iter()
        .filter(|p| term_matches(&p.preference, &info.node))
        .map(|p| i64::from(p.weight))
        .sum();
    matched * 100 / total
}
