//! An index over the pod informer: pods by controlling owner (uid) and the
//! pods nobody controls, per namespace. Controllers look up their own
//! pods here instead of scanning every pod of the cluster on each
//! reconcile (with 10,000 pods and 1,000 owners that scan was most of the
//! controllers' CPU).
//!
//! The index holds keys; the objects are read from the informer's store,
//! so a key left behind by a relist (the store swapped without Delete
//! events) simply finds nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use k8s_openapi::api::core::v1::Pod;
use kube::runtime::reflector::ObjectRef;

use crate::informer::{Change, Informer};
use crate::pods::controller_of;
use crate::queue::Key;

#[derive(Default)]
struct Inner {
    by_owner: HashMap<String, HashSet<Key>>,
    orphans: HashMap<String, HashSet<Key>>,
    /// Pods being deleted (not finished), with their controller's uid, and
    /// how many each controller has: a count read on every Deployment pass.
    terminating_pods: HashMap<Key, String>,
    terminating: HashMap<String, usize>,
}

fn is_terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && !crate::pods::is_terminal(pod)
}

#[derive(Default)]
pub struct PodIndex {
    inner: Mutex<Inner>,
}

enum Slot {
    Owner(String),
    Orphan(String),
}

fn slot(pod: &Pod) -> Slot {
    match controller_of(&pod.metadata) {
        Some(o) => Slot::Owner(o.uid.clone()),
        None => Slot::Orphan(pod.metadata.namespace.clone().unwrap_or_default()),
    }
}

impl Inner {
    fn remove(&mut self, pod: &Pod, key: &Key) {
        let (map, k) = match slot(pod) {
            Slot::Owner(u) => (&mut self.by_owner, u),
            Slot::Orphan(n) => (&mut self.orphans, n),
        };
        if let Some(set) = map.get_mut(&k) {
            set.remove(key);
            if set.is_empty() {
                map.remove(&k);
            }
        }
    }

    /// Counts `pod` (the latest version of `key`, or `None` once gone)
    /// among its controller's terminating pods, or not.
    fn count_terminating(&mut self, key: &Key, pod: Option<&Pod>) {
        let now = pod
            .filter(|p| is_terminating(p))
            .and_then(|p| controller_of(&p.metadata))
            .map(|o| o.uid.clone());
        let before = self.terminating_pods.get(key).cloned();
        if before == now {
            return;
        }
        if let Some(uid) = before {
            self.terminating_pods.remove(key);
            if let Some(n) = self.terminating.get_mut(&uid) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.terminating.remove(&uid);
                }
            }
        }
        if let Some(uid) = now {
            self.terminating_pods.insert(key.clone(), uid.clone());
            *self.terminating.entry(uid).or_insert(0) += 1;
        }
    }

    fn add(&mut self, pod: &Pod, key: Key) {
        let (map, k) = match slot(pod) {
            Slot::Owner(u) => (&mut self.by_owner, u),
            Slot::Orphan(n) => (&mut self.orphans, n),
        };
        map.entry(k).or_default().insert(key);
    }
}

impl PodIndex {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps the index from `pods`' changes (register before it starts).
    pub fn attach(self: &Arc<Self>, pods: &Informer<Pod>) {
        let me = self.clone();
        pods.on_change(move |change| {
            let mut inner = me.lock();
            match change {
                Change::Applied { old, new } => {
                    let key = Key::of(*new);
                    if let Some(old) = old {
                        inner.remove(old, &key);
                    }
                    inner.count_terminating(&key, Some(new));
                    inner.add(new, key);
                }
                Change::Deleted(pod) => {
                    let key = Key::of(*pod);
                    inner.count_terminating(&key, None);
                    inner.remove(pod, &key);
                }
            }
        });
    }

    fn read(pods: &Informer<Pod>, keys: Vec<Key>) -> Vec<Arc<Pod>> {
        keys.into_iter()
            .filter_map(|k| {
                pods.store()
                    .get(&ObjectRef::new(&k.name).within(&k.namespace))
            })
            .collect()
    }

    /// The pods whose controller is `uid`.
    pub fn controlled_by(&self, pods: &Informer<Pod>, uid: &str) -> Vec<Arc<Pod>> {
        let keys: Vec<Key> = self
            .lock()
            .by_owner
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        Self::read(pods, keys)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_some_and(|o| o.uid == uid))
            .collect()
    }

    /// How many pods controlled by `uid` are being deleted and not
    /// finished.
    pub fn terminating(&self, uid: &str) -> usize {
        self.lock().terminating.get(uid).copied().unwrap_or(0)
    }

    /// The pods of `namespace` that no controller owns.
    pub fn orphans_in(&self, pods: &Informer<Pod>, namespace: &str) -> Vec<Arc<Pod>> {
        let keys: Vec<Key> = self
            .lock()
            .orphans
            .get(namespace)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        Self::read(pods, keys)
            .into_iter()
            .filter(|p| controller_of(&p.metadata).is_none())
            .collect()
    }
}
