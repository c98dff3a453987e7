//! What the DaemonSet controller decides, without I/O: which nodes get a
//! new daemon pod and which pods go (kube-controller-manager's `manage`
//! and `rollingUpdate`), from what it sees of nodes and their pods.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// What `plan` sees of a daemon pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct PodView {
    pub(super) name: String,
    /// Carries the current revision's hash.
    pub(super) updated: bool,
    pub(super) failed: bool,
    pub(super) available: bool,
}

/// What `plan` sees of a node.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct NodeView {
    pub(super) name: String,
    /// A new pod may go there.
    pub(super) should_run: bool,
    /// A pod there may stay.
    pub(super) should_continue: bool,
    /// The node's non-terminating daemon pods, oldest first.
    pub(super) pods: Vec<PodView>,
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Strategy {
    OnDelete,
    Rolling {
        max_surge: i32,
        max_unavailable: i32,
    },
}

#[derive(Debug, Default, PartialEq)]
pub(super) struct Plan {
    /// Nodes to put a new pod on.
    pub(super) create: Vec<String>,
    /// Pods to delete.
    pub(super) delete: Vec<String>,
}

/// What to do next, as `manage` and `rollingUpdate` decide it.
pub(super) fn plan(nodes: &[NodeView], strategy: Strategy) -> Plan {
    let mut p = Plan::default();
    let surge = matches!(strategy, Strategy::Rolling { max_surge, .. } if max_surge > 0);
    for n in nodes {
        if n.should_run || n.should_continue {
            if !n.should_continue {
                p.delete.extend(n.pods.iter().map(|x| x.name.clone()));
                continue;
            }
            let (failed, running): (Vec<&PodView>, Vec<&PodView>) =
                n.pods.iter().partition(|x| x.failed);
            p.delete.extend(failed.iter().map(|x| x.name.clone()));
            if running.is_empty() {
                if n.should_run {
                    p.create.push(n.name.clone());
                }
                continue;
            }
            // More than one: keep the oldest (the oldest new and the
            // oldest old one while surging).
            let mut kept_new = false;
            let mut kept_old = false;
            for (i, x) in running.iter().enumerate() {
                let keep = if surge {
                    let slot = if x.updated {
                        &mut kept_new
                    } else {
                        &mut kept_old
                    };
                    !std::mem::replace(slot, true)
                } else {
                    i == 0
                };
                if !keep {
                    p.delete.push(x.name.clone());
                }
            }
        } else {
            p.delete.extend(n.pods.iter().map(|x| x.name.clone()));
        }
    }
    let Strategy::Rolling {
        max_surge,
        max_unavailable,
    } = strategy
    else {
        return p;
    };
    let eligible = nodes.iter().filter(|n| n.should_run && n.should_continue);
    if surge {
        let mut surging = 0;
        let mut candidates = Vec::new();
        for n in eligible.clone() {
            let new = n.pods.iter().find(|x| x.updated && !x.failed);
            let old = n.pods.iter().find(|x| !x.updated && !x.failed);
            match (new, old) {
                (_, None) => {}
                (None, Some(o)) if !o.available => p.create.push(n.name.clone()),
                (None, Some(_)) => candidates.push(n.name.clone()),
                (Some(nw), Some(o)) => {
                    if nw.available {
                        p.delete.push(o.name.clone());
                    }
                    surging += 1;
                }
            }
        }
        let room = usize::try_from(max_surge - surging).unwrap_or(0);
        p.create.extend(candidates.into_iter().take(room));
    } else {
        let mut unavailable = 0;
        let mut free = Vec::new();
        let mut candidates = Vec::new();
        for n in eligible {
            let new = n.pods.iter().find(|x| x.updated && !x.failed);
            let old = n.pods.iter().find(|x| !x.updated && !x.failed);
            match (new, old) {
                (None, None) => unavailable += 1,
                (Some(nw), None) => {
                    if !nw.available {
                        unavailable += 1;
                    }
                }
                (Some(_), Some(o)) => {
                    // Left over from a surge: the old one goes.
                    free.push(o.name.clone());
                }
                (None, Some(o)) => {
                    if o.available {
                        candidates.push(o.name.clone());
                    } else {
                        free.push(o.name.clone());
                        unavailable += 1;
                    }
                }
            }
        }
        let room = usize::try_from(max_unavailable.max(0) - unavailable).unwrap_or(0);
        p.delete.extend(free);
        p.delete.extend(candidates.into_iter().take(room));
    }
    p.delete.sort();
    p.delete.dedup();
    p
}

/// An int or a percentage of `total`, rounded up.
pub(super) fn scaled(v: Option<&IntOrString>, total: i32, default: i32) -> i32 {
    match v {
        None => default,
        Some(IntOrString::Int(i)) => *i,
        Some(IntOrString::String(s)) => s
            .strip_suffix('%')
            .and_then(|p| p.parse::<i64>().ok())
            .map(|p| ((p * i64::from(total) + 99) / 100) as i32)
            .unwrap_or(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, pods: &[(&str, bool, bool)]) -> NodeView {
        NodeView {
            name: name.into(),
            should_run: true,
            should_continue: true,
            pods: pods
                .iter()
                .map(|(n, updated, available)| PodView {
                    name: (*n).into(),
                    updated: *updated,
                    failed: false,
                    available: *available,
                })
                .collect(),
        }
    }

    const ROLL1: Strategy = Strategy::Rolling {
        max_surge: 0,
        max_unavailable: 1,
    };

    #[test]
    fn one_pod_per_eligible_node() {
        let mut tainted = node("n3", &[]);
        tainted.should_run = false;
        let mut gone = node("n4", &[("d", true, true)]);
        gone.should_run = false;
        gone.should_continue = false;
        let nodes = [
            node("n1", &[]),
            node("n2", &[("a", true, true), ("b", true, true)]),
            tainted,
            gone,
        ];
        let p = plan(&nodes, ROLL1);
        assert_eq!(p.create, ["n1"]);
        assert_eq!(p.delete, ["b", "d"]);
    }

    #[test]
    fn max_unavailable_replaces_one_old_pod_at_a_time() {
        let nodes = [
            node("n1", &[("a", false, true)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, ROLL1).delete, ["a"]);
        let nodes = [node("n1", &[]), node("n2", &[("b", false, true)])];
        let p = plan(&nodes, ROLL1);
        assert_eq!(
            (p.create.as_slice(), p.delete.len()),
            (["n1".to_string()].as_slice(), 0)
        );
        let nodes = [
            node("n1", &[("a2", true, true)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, ROLL1).delete, ["b"]);
        assert_eq!(plan(&nodes, Strategy::OnDelete), Plan::default());
    }

    #[test]
    fn max_surge_starts_new_pods_before_deleting_old_ones() {
        let surge = Strategy::Rolling {
            max_surge: 1,
            max_unavailable: 0,
        };
        let nodes = [
            node("n1", &[("a", false, true)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, surge).create, ["n1"]);
        let nodes = [
            node("n1", &[("a", false, true), ("a2", true, false)]),
            node("n2", &[("b", false, true)]),
        ];
        assert_eq!(plan(&nodes, surge), Plan::default());
        let nodes = [
            node("n1", &[("a", false, true), ("a2", true, true)]),
            node("n2", &[("b", false, true)]),
        ];
        let p = plan(&nodes, surge);
        assert_eq!(p.delete, ["a"]);
        assert!(p.create.is_empty());
    }
}
