//! The watch hub: one thread that turns newly durable revisions into events
//! and hands each watcher the ones in its range.
//!
//! Every watcher has a bounded queue (`watch_buffer` batches). The hub never
//! waits for a watcher: when a queue is full the watcher is cancelled with
//! [`Cancel::Slow`] (its stream then ends with `StoreError::SlowWatcher`), so
//! a slow client costs its own re-list and nothing else. The hub itself
//! never falls behind by more than one pass: it reads whatever range became
//! durable since its last pass from the index, so there is no unbounded
//! queue between the committer and the hub.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use tokio::sync::mpsc;

use crate::metrics::StoreMetrics;
use crate::types::{KeyRange, Revision, WatchEvent};

/// Why a watcher's queue was closed.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancel {
    /// Not cancelled (yet).
    None = 0,
    /// Its queue was full.
    Slow = 1,
    /// The store closed.
    Closed = 2,
}

/// The cancel reason shared between the hub and a watcher's stream.
#[derive(Debug, Default)]
pub struct CancelFlag(AtomicU8);

impl CancelFlag {
    pub fn get(&self) -> Cancel {
        match self.0.load(Ordering::Acquire) {
            1 => Cancel::Slow,
            2 => Cancel::Closed,
            _ => Cancel::None,
        }
    }
    fn set(&self, c: Cancel) {
        self.0.store(c as u8, Ordering::Release);
    }
}

struct Slot {
    range: KeyRange,
    prev_kv: bool,
    tx: mpsc::Sender<Vec<WatchEvent>>,
    cancel: Arc<CancelFlag>,
}

struct State {
    watchers: HashMap<u64, Slot>,
    next_id: u64,
    /// Every revision up to this one has been handed to the watchers.
    dispatched: Revision,
    /// The newest durable revision the committer announced.
    target: Revision,
    closed: bool,
}

/// What a new watcher gets from [`Hub::register`].
pub struct Registration {
    pub id: u64,
    pub rx: mpsc::Receiver<Vec<WatchEvent>>,
    pub cancel: Arc<CancelFlag>,
    /// Events up to this revision will not arrive on `rx`: read them from
    /// the index.
    pub dispatched: Revision,
}

/// The hub's shared state; the thread runs [`Hub::run`].
pub struct Hub {
    state: Mutex<State>,
    /// Wakes the hub thread (new target, or close).
    wake: Condvar,
    /// Wakes those waiting for `dispatched` to advance.
    advanced: Condvar,
    metrics: Arc<StoreMetrics>,
    buffer: usize,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

/// Changes the hub scans per pass before it hands them out.
const CHUNK: usize = 16_384;

impl Hub {
    /// A hub whose watchers have `buffer` batches of room, starting after
    /// revision `start`.
    pub fn new(start: Revision, buffer: usize, metrics: Arc<StoreMetrics>) -> Self {
        Hub {
            state: Mutex::new(State {
                watchers: HashMap::new(),
                next_id: 1,
                dispatched: start,
                target: start,
                closed: false,
            }),
            wake: Condvar::new(),
            advanced: Condvar::new(),
            metrics,
            buffer: buffer.max(1),
        }
    }

    /// Add a watcher.
    pub fn register(&self, range: KeyRange, prev_kv: bool) -> Option<Registration> {
        let (tx, rx) = mpsc::channel(self.buffer);
        let cancel = Arc::new(CancelFlag::default());
        let mut st = self.state.lock();
        if st.closed {
            return None;
        }
        let id = st.next_id;
        st.next_id += 1;
        st.watchers.insert(
            id,
            Slot {
                range,
                prev_kv,
                tx,
                cancel: cancel.clone(),
            },
        );
        self.metrics.watchers.inc();
        Some(Registration {
            id,
            rx,
            cancel,
            dispatched: st.dispatched,
        })
    }

    /// Remove a watcher (its stream was dropped).
    pub fn unregister(&self, id: u64) {
        if self.state.lock().watchers.remove(&id).is_some() {
            self.metrics.watchers.dec();
        }
    }

    /// The committer made revisions up to `rev` durable.
    pub fn announce(&self, rev: Revision) {
        let mut st = self.state.lock();
        if rev > st.target {
            st.target = rev;
            self.wake.notify_one();
        }
    }

    /// Block until every revision up to `rev` has been handed out (or the hub closed).
    pub fn wait_dispatched(&self, rev: Revision) {
        let mut st = self.state.lock();
        while st.dispatched < rev && !st.closed {
            self.advanced.wait(&mut st);
        }
    }

    /// Stop: every watcher's stream ends with `Closed`.
    pub fn close(&self) {
        let mut st = self.state.lock();
        st.closed = true;
        for (_, slot) in st.watchers.drain() {
            slot.cancel.set(Cancel::Closed);
            self.metrics.watchers.dec();
        }
        self.wake.notify_all();
        self.advanced.notify_all();
    }

    /// The hub thread: `read(from, to, max)` returns the events of
    /// revisions `from..=to` (at most about `max` changes, whole revisions)
    /// and the next revision to read.
    pub fn run(&self, read: impl Fn(Revision, Revision, usize) -> (Vec<WatchEvent>, Revision)) {
        loop {
            let (mut next, to) = {
                let mut st = self.state.lock();
                while st.target <= st.dispatched && !st.closed {
                    self.wake.wait(&mut st);
                }
                if st.closed {
                    return;
                }
                if st.watchers.is_empty() {
                    // Nobody to tell: a watcher registering later reads
                    // these revisions from the index instead.
                    st.dispatched = st.target;
                    self.advanced.notify_all();
                    continue;
                }
                (st.dispatched + 1, st.target)
            };
            while next <= to {
                let (events, after) = read(next, to, CHUNK);
                let mut st = self.state.lock();
                if st.closed {
                    return;
                }
                self.dispatch(&mut st, &events);
                st.dispatched = after - 1;
                self.advanced.notify_all();
                next = after;
            }
        }
    }

    fn dispatch(&self, st: &mut State, events: &[WatchEvent]) {
        if events.is_empty() {
            return;
        }
        let mut gone = Vec::new();
        for (id, slot) in &st.watchers {
            let mine: Vec<WatchEvent> = events
                .iter()
                .filter(|e| slot.range.contains(&e.kv.key))
                .map(|e| {
                    let mut e = e.clone();
                    if !slot.prev_kv {
                        e.prev_kv = None;
                    }
                    e
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            match slot.tx.try_send(mine) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    slot.cancel.set(Cancel::Slow);
                    self.metrics.slow_watchers.inc();
                    tracing::debug!(watcher = id, "watcher fell behind; cancelled");
                    gone.push(*id);
                }
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push(*id),
            }
        }
        for id in gone {
            if st.watchers.remove(&id).is_some() {
                self.metrics.watchers.dec();
            }
        }
    }
}
