//! What the StatefulSet controller decides, without I/O: which ordinals
//! to create or delete next (kube-controller-manager's
//! `updateStatefulSet`: OrderedReady or Parallel, scale down from the top,
//! RollingUpdate down to the partition), from what it sees of the set and
//! its pods.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What `plan` sees of one pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PodView {
    pub(super) revision: String,
    pub(super) terminating: bool,
    /// Succeeded or Failed: to be replaced.
    pub(super) finished: bool,
    pub(super) running_ready: bool,
    pub(super) available: bool,
}

/// What `plan` sees of the set.
#[derive(Clone, Debug)]
pub(super) struct SetView {
    pub(super) start: i32,
    pub(super) replicas: i32,
    pub(super) parallel: bool,
    pub(super) rolling: bool,
    pub(super) partition: i32,
    pub(super) max_unavailable: i32,
    pub(super) update_revision: String,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Action {
    /// Create the pod (and its claims) at this ordinal from the update
    /// revision (true) or the current one.
    Create(i32, bool),
    Delete(i32),
}

/// What to do next, as `updateStatefulSet` decides it.
pub(super) fn plan(set: &SetView, pods: &BTreeMap<i32, PodView>) -> Vec<Action> {
    let mut actions = Vec::new();
    let monotonic = !set.parallel;
    let end = set.start + set.replicas;
    // Replace finished pods, create missing ones, in order.
    for ord in set.start..end {
        match pods.get(&ord) {
            None => {
                let update = !set.rolling || ord >= set.start + set.partition;
                actions.push(Action::Create(ord, update));
                if monotonic {
                    return actions;
                }
            }
            Some(p) if p.finished && !p.terminating => {
                actions.push(Action::Delete(ord));
                if monotonic {
                    return actions;
                }
            }
            Some(p) if p.terminating || !p.running_ready || !p.available => {
                if monotonic {
                    return actions;
                }
            }
            Some(_) => {}
        }
    }
    // Condemned pods, highest ordinal first.
    let first_unhealthy = (set.start..end)
        .chain(
            pods.keys()
                .rev()
                .copied()
                .filter(|o| *o < set.start || *o >= end),
        )
        .find(|o| pods.get(o).is_some_and(|p| !p.running_ready));
    for (&ord, p) in pods.iter().rev() {
        if ord >= set.start && ord < end {
            continue;
        }
        if p.terminating {
            if monotonic {
                return actions;
            }
            continue;
        }
        if monotonic && !p.running_ready && first_unhealthy != Some(ord) {
            return actions;
        }
        actions.push(Action::Delete(ord));
        if monotonic {
            return actions;
        }
    }
    if !set.rolling {
        return actions;
    }
    // Rolling update: outdated pods from the top, within maxUnavailable.
    let unavailable = (set.start..end)
        .filter(|o| {
            pods.get(o)
                .is_none_or(|p| p.terminating || !p.running_ready || !p.available)
        })
        .count() as i32;
    let mut budget = set.max_unavailable.max(1) - unavailable;
    let low = set.start + set.partition.max(0);
    for ord in (low..end).rev() {
        if budget <= 0 {
            break;
        }
        let Some(p) = pods.get(&ord) else { continue };
        if p.revision != set.update_revision && !p.terminating {
            actions.push(Action::Delete(ord));
            budget -= 1;
        }
    }
    actions
}

/// `<set>-<ordinal>` → ordinal.
pub(super) fn ordinal_of(set: &str, pod: &str) -> Option<i32> {
    let rest = pod.strip_prefix(set)?.strip_prefix('-')?;
    if rest.is_empty() || (rest.len() > 1 && rest.starts_with('0')) {
        return None;
    }
    rest.parse().ok().filter(|o: &i32| *o >= 0)
}

/// An int or a percentage of `total` (rounded down, at least 1).
pub(super) fn scaled(v: Option<&IntOrString>, total: i32) -> i32 {
    let n = match v {
        None => 1,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| (p * i64::from(total) / 100) as i32)
            .unwrap_or(1),
    };
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(replicas: i32, parallel: bool, partition: i32) -> SetView {
        SetView {
            start: 0,
            replicas,
            parallel,
            rolling: true,
            partition,
            max_unavailable: 1,
            update_revision: "web-b".into(),
        }
    }

    fn healthy(rev: &str) -> PodView {
        PodView {
            revision: rev.into(),
            running_ready: true,
            available: true,
            ..PodView::default()
        }
    }

    #[test]
    fn ordered_ready_creates_one_pod_at_a_time() {
        let s = set(3, false, 0);
        let mut pods = BTreeMap::new();
        assert_eq!(plan(&s, &pods), [Action::Create(0, true)]);
        pods.insert(
            0,
            PodView {
                revision: "web-b".into(),
                ..PodView::default()
            },
        );
        assert_eq!(plan(&s, &pods), []);
        pods.insert(0, healthy("web-b"));
        assert_eq!(plan(&s, &pods), [Action::Create(1, true)]);
    }

    #[test]
    fn parallel_creates_everything_at_once() {
        let s = set(3, true, 0);
        assert_eq!(
            plan(&s, &BTreeMap::new()),
            [
                Action::Create(0, true),
                Action::Create(1, true),
                Action::Create(2, true)
            ]
        );
    }

    #[test]
    fn scale_down_from_the_highest_ordinal_one_at_a_time() {
        let s = set(1, false, 0);
        let mut pods: BTreeMap<i32, PodView> = (0..3).map(|o| (o, healthy("web-b"))).collect();
        assert_eq!(plan(&s, &pods), [Action::Delete(2)]);
        if let Some(p) = pods.get_mut(&2) {
            p.terminating = true;
        }
        assert_eq!(plan(&s, &pods), []);
        pods.remove(&2);
        assert_eq!(plan(&s, &pods), [Action::Delete(1)]);
    }

    #[test]
    fn rolling_update_respects_partition_from_the_top() {
        let s = set(3, false, 1);
        let mut pods: BTreeMap<i32, PodView> = (0..3).map(|o| (o, healthy("web-a"))).collect();
        assert_eq!(plan(&s, &pods), [Action::Delete(2)]);
        pods.insert(2, healthy("web-b"));
        assert_eq!(plan(&s, &pods), [Action::Delete(1)]);
        pods.insert(1, healthy("web-b"));
        assert_eq!(plan(&s, &pods), []);
        // A lost pod below the partition comes back at the current revision.
        pods.remove(&0);
        assert_eq!(plan(&s, &pods), [Action::Create(0, false)]);
    }

    #[test]
    fn max_unavailable_deletes_several_and_waits_for_unavailable() {
        let mut s = set(4, true, 0);
        s.max_unavailable = 2;
        let mut pods: BTreeMap<i32, PodView> = (0..4).map(|o| (o, healthy("web-a"))).collect();
        assert_eq!(plan(&s, &pods), [Action::Delete(3), Action::Delete(2)]);
        if let Some(p) = pods.get_mut(&3) {
            p.running_ready = false;
        }
        assert_eq!(plan(&s, &pods), [Action::Delete(3)]);
    }

    #[test]
    fn failed_pods_are_replaced_and_names_parse() {
        let s = set(2, false, 0);
        let mut pods: BTreeMap<i32, PodView> = (0..2).map(|o| (o, healthy("web-b"))).collect();
        if let Some(p) = pods.get_mut(&1) {
            p.finished = true;
        }
        assert_eq!(plan(&s, &pods), [Action::Delete(1)]);
        assert_eq!(ordinal_of("web", "web-12"), Some(12));
        assert_eq!(ordinal_of("web", "web-01"), None);
        assert_eq!(ordinal_of("web", "webx-1"), None);
        assert_eq!(ordinal_of("web", "web-"), None);
        assert_eq!(scaled(Some(&IntOrString::String("50%".into())), 5), 2);
        assert_eq!(scaled(None, 5), 1);
    }
}
