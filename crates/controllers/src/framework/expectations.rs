//! Expectations, as kube-controller-manager keeps them: after a controller
//! asks for creations or deletions for an owner, it does not act on that
//! owner again until its informer has seen them (or a timeout passed), so
//! a slow watch never makes it create or delete twice. Deletions are
//! tracked by pod uid, so a pod seen both going terminating and going
//! away counts once.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::framework::queue::Key;

/// After this, expectations are assumed lost (a watch event missed).
const TIMEOUT: Duration = Duration::from_secs(30);

struct Expected {
    adds: i64,
    dels: HashSet<String>,
    at: Instant,
}

#[derive(Default)]
pub struct Expectations {
    inner: Mutex<HashMap<Key, Expected>>,
}

impl Expectations {
    fn lock(&self) -> MutexGuard<'_, HashMap<Key, Expected>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `adds` creations and the deletion of the pods `dels` (uids) asked for.
    pub fn expect(&self, key: &Key, adds: i64, dels: impl IntoIterator<Item = String>) {
        self.lock().insert(
            key.clone(),
            Expected {
                adds,
                dels: dels.into_iter().collect(),
                at: Instant::now(),
            },
        );
    }

    /// One of the creations asked for was seen; `true` when that was the
    /// last thing outstanding (the owner can be acted on again).
    pub fn creation_observed(&self, key: &Key) -> bool {
        self.lock().get_mut(key).is_some_and(|e| {
            e.adds -= 1;
            e.adds == 0 && e.dels.is_empty()
        })
    }

    /// The deletion of pod `uid` was seen; `true` when that was the last
    /// thing outstanding.
    pub fn deletion_observed(&self, key: &Key, uid: &str) -> bool {
        self.lock()
            .get_mut(key)
            .is_some_and(|e| e.dels.remove(uid) && e.adds <= 0 && e.dels.is_empty())
    }

    /// Everything asked for has been seen (or nothing was asked, or too
    /// long ago).
    pub fn satisfied(&self, key: &Key) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(e) => (e.adds <= 0 && e.dels.is_empty()) || e.at.elapsed() > TIMEOUT,
        }
    }

    pub fn forget(&self, key: &Key) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn satisfied_once_every_creation_and_deletion_is_seen() {
        let e = Expectations::default();
        let k = Key::new("ns", "rs");
        assert!(e.satisfied(&k));
        e.expect(&k, 2, ["u1".to_string()]);
        assert!(!e.creation_observed(&k));
        assert!(!e.deletion_observed(&k, "u1"));
        assert!(!e.deletion_observed(&k, "u1"));
        assert!(!e.satisfied(&k));
        // The last one outstanding says so, once.
        assert!(e.creation_observed(&k));
        assert!(e.satisfied(&k));
        assert!(!e.creation_observed(&k));
    }
}
