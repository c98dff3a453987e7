//! The garbage collector's picture of the cluster: every object by uid,
//! its owners and its dependents (Kubernetes' `GraphBuilder` and
//! `uidToNode`), with no I/O. Each change says which uids the workers
//! must look at again; `decide` says what to do with one dependent.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::discovery::ApiResource;

pub const FINALIZER_ORPHAN: &str = "orphan";
pub const FINALIZER_FOREGROUND: &str = "foregroundDeletion";

/// A watched resource.
#[derive(Debug, PartialEq, Eq)]
pub struct Res {
    pub ar: ApiResource,
    pub namespaced: bool,
}

impl Res {
    /// `plural.group` (`pods` for the core group), stable across versions.
    pub fn id(&self) -> String {
        if self.ar.group.is_empty() {
            self.ar.plural.clone()
        } else {
            format!("{}.{}", self.ar.plural, self.ar.group)
        }
    }
}

/// One object, as the graph keeps it.
#[derive(Debug, Clone)]
pub struct Node {
    pub res: Arc<Res>,
    pub namespace: Option<String>,
    pub name: String,
    /// The version last seen (writes are conditional on it).
    pub resource_version: Option<String>,
    pub owners: Vec<OwnerReference>,
    /// `deletionTimestamp` is set.
    pub deleting: bool,
    /// Has the `orphan` finalizer.
    pub orphan: bool,
    /// Has the `foregroundDeletion` finalizer.
    pub foreground: bool,
}

impl Node {
    /// Deleting, and waiting for its blocking dependents to go.
    pub fn deleting_dependents(&self) -> bool {
        self.deleting && self.foreground
    }

    /// Deleting, and waiting for its dependents to be orphaned.
    pub fn orphaning(&self) -> bool {
        self.deleting && self.orphan
    }
}

/// What a worker must look at again.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Work {
    /// An object whose owners may be gone (or an owner deleting in
    /// the foreground, whose dependents may be gone).
    Delete(String),
    /// An owner whose dependents must lose their reference to it.
    Orphan(String),
}

/// Objects by uid, and who depends on whom.
#[derive(Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owner uid → dependent uids (the owner may not be known: virtual).
    dependents: HashMap<String, HashSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The objects that name `owner` among their owners.
    pub fn dependents(&self, owner: &str) -> Vec<(String, Node)> {
        self.dependents
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d).map(|n| (d.clone(), n.clone())))
            .collect()
    }

    /// Dependents whose reference to `owner` has `blockOwnerDeletion`.
    pub fn blocking_dependents(&self, owner: &str) -> Vec<(String, Node)> {
        self.dependents(owner)
            .into_iter()
            .filter(|(_, n)| {
                n.owners
                    .iter()
                    .any(|r| r.uid == owner && r.block_owner_deletion == Some(true))
            })
            .collect()
    }

    /// Whether some object names `uid` among its owners.
    pub fn has_dependents(&self, uid: &str) -> bool {
        self.dependents.get(uid).is_some_and(|d| !d.is_empty())
    }

    /// An object was added or changed.
    pub fn upsert(&mut self, uid: String, node: Node) -> Vec<Work> {
        let mut work = Vec::new();
        let old = self.nodes.remove(&uid);
        let old_owners: HashSet<&str> = old
            .iter()
            .flat_map(|o| o.owners.iter().map(|r| r.uid.as_str()))
            .collect();
        let new_owners: HashSet<&str> = node.owners.iter().map(|r| r.uid.as_str()).collect();
        for gone in old_owners.difference(&new_owners) {
            self.unlink(gone, &uid);
            // An owner waiting for this dependent need not any more.
            if self.nodes.get(*gone).is_some_and(Node::deleting_dependents) {
                work.push(Work::Delete(gone.to_string()));
            }
        }
        for o in &new_owners {
            self.dependents
                .entry(o.to_string())
                .or_default()
                .insert(uid.clone());
        }
        if node.deleting_dependents() {
            work.push(Work::Delete(uid.clone()));
        }
        if node.orphaning() {
            work.push(Work::Orphan(uid.clone()));
        }
        let owners_changed = old.as_ref().is_none_or(|o| o.owners != node.owners);
        if !node.deleting && owners_changed {
            let suspect = node.owners.iter().any(|r| match self.nodes.get(&r.uid) {
                None => true,
                Some(o) => o.deleting_dependents(),
            });
            if suspect {
                work.push(Work::Delete(uid.clone()));
            }
        }
        for r in &node.owners {
            if self
                .nodes
                .get(&r.uid)
                .is_some_and(Node::deleting_dependents)
            {
                work.push(Work::Delete(r.uid.clone()));
            }
        }
        // Dependents that were waiting for this owner to show up (or for
        // it to start deleting in the foreground) are looked at again.
        let became_waiting =
            node.deleting_dependents() && !old.as_ref().is_some_and(Node::deleting_dependents);
        if became_waiting {
            for d in self.dependents.get(&uid).into_iter().flatten() {
                work.push(Work::Delete(d.clone()));
            }
        }
        self.nodes.insert(uid, node);
        work.sort();
        work.dedup();
        work
    }

    /// An object is gone.
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let mut work = Vec::new();
        let Some(old) = self.nodes.remove(uid) else {
            return work;
        };
        for r in &old.owners {
            self.unlink(&r.uid, uid);
            if self
                .nodes
                .get(&r.uid)
                .is_some_and(Node::deleting_dependents)
            {
                work.push(Work::Delete(r.uid.clone()));
            }
        }
        // Its dependents may have lost their last owner.
        for d in self.dependents.get(uid).into_iter().flatten() {
            work.push(Work::Delete(d.clone()));
        }
        work.sort();
        work.dedup();
        work
    }

    /// Removes every object of `res` but those in `keep` (after a
    /// re-list, or when the resource is no longer served).
    pub fn retain_resource(&mut self, res: &Res, keep: &HashSet<String>) -> Vec<Work> {
        let gone: Vec<String> = self
            .nodes
            .iter()
            .filter(|(uid, n)| *n.res == *res && !keep.contains(*uid))
            .map(|(uid, _)| uid.clone())
            .collect();
        let mut work: Vec<Work> = gone.iter().flat_map(|uid| self.remove(uid)).collect();
        work.sort();
        work.dedup();
        work
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }
}

/// What became of one owner reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists and is not deleting in the foreground.
    Solid,
    /// Does not exist (or has another uid).
    Absent,
    /// Exists and waits for its dependents to go (`foregroundDeletion`).
    Waiting,
    /// Its kind is not served: cannot tell.
    Unknown,
}

/// What to do with a dependent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    /// Look again later (an owner's kind is unknown).
    Retry,
    /// Remove the references to these owner uids (it keeps a live owner).
    RemoveRefs(Vec<String>),
    /// Delete it with this propagation policy.
    Delete(&'static str),
}

/// Kubernetes' `attemptToDeleteItem` decision for an object that is not
/// being deleted, given the state of each of its owners.
pub fn decide(node: &Node, owners: &[(String, OwnerState)], has_dependents: bool) -> Action {
    if owners.is_empty() {
        return Action::Nothing;
    }
    let of = |s: OwnerState| -> Vec<String> {
        owners
            .iter()
            .filter(|(_, st)| *st == s)
            .map(|(u, _)| u.clone())
            .collect()
    };
    let (solid, absent, waiting) = (
        of(OwnerState::Solid),
        of(OwnerState::Absent),
        of(OwnerState::Waiting),
    );
    if !solid.is_empty() {
        if absent.is_empty() && waiting.is_empty() {
            return Action::Nothing;
        }
        let mut refs = absent;
        refs.extend(waiting);
        return Action::RemoveRefs(refs);
    }
    if owners.iter().any(|(_, s)| *s == OwnerState::Unknown) {
        return Action::Retry;
    }
    if !waiting.is_empty() && has_dependents {
        return Action::Delete("Foreground");
    }
    Action::Delete(if node.orphan {
        "Orphan"
    } else if node.foreground {
        "Foreground"
    } else {
        "Background"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(kind: &str) -> Arc<Res> {
        Arc::new(Res {
            ar: ApiResource {
                group: "apps".into(),
                version: "v1".into(),
                api_version: "apps/v1".into(),
                kind: kind.into(),
                plural: format!("{}s", kind.to_lowercase()),
            },
            namespaced: true,
        })
    }

    fn owner(uid: &str, block: bool) -> OwnerReference {
        OwnerReference {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: "rs".into(),
            uid: uid.into(),
            controller: Some(true),
            block_owner_deletion: Some(block),
        }
    }

    fn node(kind: &str, owners: Vec<OwnerReference>) -> Node {
        Node {
            res: res(kind),
            namespace: Some("ns".into()),
            name: "x".into(),
            resource_version: Some("1".into()),
            owners,
            deleting: false,
            orphan: false,
            foreground: false,
        }
    }

    #[test]
    fn a_dependent_seen_before_its_owner_is_checked_and_the_owner_link_kept() {
        let mut g = Graph::default();
        let w = g.upsert("pod".into(), node("Pod", vec![owner("rs", true)]));
        assert_eq!(w, [Work::Delete("pod".into())], "owner not known yet");
        let w = g.upsert("rs".into(), node("ReplicaSet", vec![]));
        assert!(w.is_empty());
        assert_eq!(g.dependents("rs").len(), 1);
        // Seen again with the same owners: nothing to do.
        let w = g.upsert("pod".into(), node("Pod", vec![owner("rs", true)]));
        assert!(w.is_empty());
    }

    #[test]
    fn an_owner_going_sends_its_dependents_to_the_workers() {
        let mut g = Graph::default();
        g.upsert("rs".into(), node("ReplicaSet", vec![]));
        g.upsert("a".into(), node("Pod", vec![owner("rs", true)]));
        g.upsert("b".into(), node("Pod", vec![owner("rs", false)]));
        let w = g.remove("rs");
        assert_eq!(w, [Work::Delete("a".into()), Work::Delete("b".into())]);
        assert!(g.get("rs").is_none());
    }

    #[test]
    fn a_foreground_owner_is_looked_at_again_as_its_blocking_dependents_go() {
        let mut g = Graph::default();
        g.upsert("rs".into(), node("ReplicaSet", vec![]));
        g.upsert("a".into(), node("Pod", vec![owner("rs", true)]));
        g.upsert("b".into(), node("Pod", vec![owner("rs", false)]));
        let mut deleting = node("ReplicaSet", vec![]);
        deleting.deleting = true;
        deleting.foreground = true;
        let w = g.upsert("rs".into(), deleting);
        assert_eq!(
            w,
            [
                Work::Delete("a".into()),
                Work::Delete("b".into()),
                Work::Delete("rs".into())
            ]
        );
        let blocking: Vec<String> = g
            .blocking_dependents("rs")
            .into_iter()
            .map(|(u, _)| u)
            .collect();
        assert_eq!(blocking, ["a"]);
        assert_eq!(g.remove("a"), [Work::Delete("rs".into())]);
        assert!(g.blocking_dependents("rs").is_empty());
    }

    #[test]
    fn an_orphaning_owner_is_sent_to_the_orphan_worker() {
        let mut g = Graph::default();
        let mut n = node("ReplicaSet", vec![]);
        n.deleting = true;
        n.orphan = true;
        assert_eq!(g.upsert("rs".into(), n), [Work::Orphan("rs".into())]);
    }

    #[test]
    fn a_relist_removes_what_it_did_not_return() {
        let mut g = Graph::default();
        g.upsert("rs".into(), node("ReplicaSet", vec![]));
        g.upsert("a".into(), node("Pod", vec![owner("rs", true)]));
        let keep: HashSet<String> = HashSet::new();
        let w = g.retain_resource(&res("ReplicaSet"), &keep);
        assert_eq!(w, [Work::Delete("a".into())]);
        assert_eq!(g.len(), 1);
    }

    #[test]
    fn decisions_follow_kubernetes_attempt_to_delete_item() {
        use OwnerState::*;
        let n = node("Pod", vec![]);
        let o = |v: &[(&str, OwnerState)]| -> Vec<(String, OwnerState)> {
            v.iter().map(|(u, s)| (u.to_string(), *s)).collect()
        };
        assert_eq!(decide(&n, &[], false), Action::Nothing);
        assert_eq!(decide(&n, &o(&[("a", Solid)]), false), Action::Nothing);
        assert_eq!(
            decide(&n, &o(&[("a", Solid), ("b", Absent)]), false),
            Action::RemoveRefs(vec!["b".into()])
        );
        assert_eq!(
            decide(&n, &o(&[("a", Absent)]), false),
            Action::Delete("Background")
        );
        assert_eq!(
            decide(&n, &o(&[("a", Waiting)]), true),
            Action::Delete("Foreground")
        );
        assert_eq!(
            decide(&n, &o(&[("a", Waiting)]), false),
            Action::Delete("Background")
        );
        assert_eq!(
            decide(&n, &o(&[("a", Absent), ("b", Unknown)]), false),
            Action::Retry
        );
        let mut orphaning = n.clone();
        orphaning.orphan = true;
        assert_eq!(
            decide(&orphaning, &o(&[("a", Absent)]), false),
            Action::Delete("Orphan")
        );
    }
}
