//! A work queue of object keys, as client-go's: a key waiting is queued
//! once however often it is added; a key being worked on is never handed
//! to a second worker (added again meanwhile, it is queued when the first
//! is done); failures are retried with a per-key exponential backoff.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

/// Namespace (empty for cluster-scoped objects) and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub namespace: String,
    pub name: String,
}

impl Key {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Key {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of a Kubernetes object.
    pub fn of<K: kube::Resource>(obj: &K) -> Self {
        let meta = obj.meta();
        Key::new(
            meta.namespace.clone().unwrap_or_default(),
            meta.name.clone().unwrap_or_default(),
        )
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

/// First and longest retry delay after a failure.
const BACKOFF_BASE: Duration = Duration::from_millis(5);
const BACKOFF_MAX: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Inner {
    /// Keys waiting out a coalescing window.
    coalescing: HashSet<Key>,
    queue: VecDeque<Key>,
    dirty: HashSet<Key>,
    processing: HashSet<Key>,
    failures: HashMap<Key, u32>,
}

/// The queue; cheap to clone (shared).
#[derive(Clone, Default)]
pub struct Queue {
    inner: Arc<Mutex<Inner>>,
    ready: Arc<Notify>,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn add(&self, key: Key) {
        let mut q = self.lock();
        if !q.dirty.insert(key.clone()) {
            return;
        }
        if !q.processing.contains(&key) {
            q.queue.push_back(key);
            drop(q);
            self.ready.notify_one();
        }
    }

    /// Adds `key` after `delay`.
    pub fn add_after(&self, key: Key, delay: Duration) {
        if delay.is_zero() {
            return self.add(key);
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            me.add(key);
        });
    }

    /// Adds `key` once `window` has passed, however many times it is added
    /// meanwhile: a burst of changes to one owner's pods (thousands, for a
    /// big ReplicaSet) makes one reconcile rather than one each.
    pub fn add_coalesced(&self, key: Key, window: Duration) {
        if !self.lock().coalescing.insert(key.clone()) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(window).await;
            me.lock().coalescing.remove(&key);
            me.add(key);
        });
    }

    /// Adds `key` after its backoff, which doubles with each failure.
    pub fn add_rate_limited(&self, key: Key) {
        let failures = {
            let mut q = self.lock();
            let n = q.failures.entry(key.clone()).or_insert(0);
            *n += 1;
            *n
        };
        let delay = BACKOFF_BASE
            .saturating_mul(1u32 << failures.min(20))
            .min(BACKOFF_MAX);
        self.add_after(key, delay);
    }

    /// The key succeeded: its backoff starts over.
    pub fn forget(&self, key: &Key) {
        self.lock().failures.remove(key);
    }

    /// The next key to work on (waits for one).
    pub async fn next(&self) -> Key {
        loop {
            let notified = self.ready.notified();
            {
                let mut q = self.lock();
                if let Some(key) = q.queue.pop_front() {
                    q.dirty.remove(&key);
                    q.processing.insert(key.clone());
                    if !q.queue.is_empty() {
                        self.ready.notify_one();
                    }
                    return key;
                }
            }
            notified.await;
        }
    }

    /// Work on `key` is over; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &Key) {
        let mut q = self.lock();
        q.processing.remove(key);
        if q.dirty.contains(key) {
            q.queue.push_back(key.clone());
            drop(q);
            self.ready.notify_one();
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_are_queued_once_and_never_worked_on_twice_at_once() {
        let q = Queue::default();
        let a = Key::new("ns", "a");
        q.add(a.clone());
        q.add(a.clone());
        assert_eq!(q.len(), 1);
        let got = q.next().await;
        assert_eq!(got, a);
        // Added while being worked on: held back until done.
        q.add(a.clone());
        assert_eq!(q.len(), 0);
        q.done(&a);
        assert_eq!(q.len(), 1);
        assert_eq!(q.next().await, a);
        q.done(&a);
        assert_eq!(q.len(), 0);
    }

    #[tokio::test]
    async fn coalesced_adds_make_one_entry_after_the_window() {
        let q = Queue::default();
        let a = Key::new("ns", "a");
        for _ in 0..100 {
            q.add_coalesced(a.clone(), Duration::from_millis(20));
        }
        assert_eq!(q.len(), 0, "nothing before the window ends");
        let got = tokio::time::timeout(Duration::from_secs(1), q.next()).await;
        assert_eq!(got.ok(), Some(a.clone()));
        q.done(&a);
        assert_eq!(q.len(), 0, "one entry for the whole burst");
    }

    #[tokio::test]
    async fn failures_come_back_after_a_backoff() {
        let q = Queue::default();
        let a = Key::new("", "a");
        q.add_rate_limited(a.clone());
        let got = tokio::time::timeout(Duration::from_secs(1), q.next()).await;
        assert_eq!(got.ok(), Some(a));
    }
}
