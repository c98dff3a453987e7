//! CrashLoopBackOff as the kubelet times it (its `flowcontrol.Backoff`): a
//! container's first exit restarts it at once; each later exit waits the
//! current delay (10 s, doubling at each restart up to 5 min), counted
//! from the exit. A container that ran 10 minutes or more since its last
//! restart starts over at 10 s.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// The first back-off.
pub const INITIAL: Duration = Duration::from_secs(10);
/// The longest back-off.
pub const MAX: Duration = Duration::from_secs(300);
/// A run this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(600);

/// One key's back-off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub delay: Duration,
    /// When it was last restarted.
    pub updated: SystemTime,
}

/// Back-off per key (a container name within one pod, or an image).
#[derive(Clone, Debug, Default)]
pub struct Backoff {
    entries: HashMap<String, Entry>,
}

fn expired(entry: &Entry, event: SystemTime) -> bool {
    event
        .duration_since(entry.updated)
        .is_ok_and(|d| d >= RESET_AFTER)
}

impl Backoff {
    /// Whether `key`, which exited (or failed) at `event`, must still wait
    /// at `now`; returns the delay it waits for.
    pub fn waiting(&self, key: &str, event: SystemTime, now: SystemTime) -> Option<Duration> {
        let entry = self.entries.get(key)?;
        if expired(entry, event) {
            return None;
        }
        let elapsed = now.duration_since(event).unwrap_or_default();
        (elapsed < entry.delay).then_some(entry.delay)
    }

    /// Record a restart of `key` at `now`: the next exit waits 10 s for the
    /// first time, then twice the last delay (at most 5 min), or 10 s
    /// again if `event` (the exit) came 10 minutes or more after the last
    /// restart.
    pub fn record(&mut self, key: &str, event: SystemTime, now: SystemTime) {
        let delay = match self.entries.get(key) {
            Some(e) if !expired(e, event) => (e.delay * 2).min(MAX),
            _ => INITIAL,
        };
        self.entries.insert(
            key.to_string(),
            Entry {
                delay,
                updated: now,
            },
        );
    }

    pub fn get(&self, key: &str) -> Option<Entry> {
        self.entries.get(key).copied()
    }

    pub fn forget(&mut self, key: &str) {
        self.entries.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000 + s)
    }

    #[test]
    fn the_first_exit_restarts_at_once_then_10s_doubling_to_5min() {
        let mut b = Backoff::default();
        assert_eq!(b.waiting("c", t(0), t(0)), None);
        let mut at = 0;
        let mut waits = vec![];
        for _ in 0..8 {
            // the container ran 1 s and exited
            at += 1;
            let exit = t(at);
            let mut now = at;
            while b.waiting("c", exit, t(now)).is_some() {
                now += 1;
            }
            waits.push(now - at);
            b.record("c", exit, t(now));
            at = now;
        }
        assert_eq!(waits, vec![0, 10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn a_run_of_ten_minutes_resets_the_delay() {
        let mut b = Backoff::default();
        for i in 0..5 {
            b.record("c", t(i), t(i));
        }
        assert_eq!(b.get("c").map(|e| e.delay.as_secs()), Some(160));
        // Exited 9 min after its last restart: still in back-off.
        assert!(b.waiting("c", t(4 + 540), t(4 + 541)).is_some());
        // Exited 10 min after its last restart: restarts at once, and the
        // next delay is 10 s again.
        assert_eq!(b.waiting("c", t(4 + 600), t(4 + 600)), None);
        b.record("c", t(4 + 600), t(4 + 600));
        assert_eq!(b.get("c").map(|e| e.delay), Some(INITIAL));
    }
}
