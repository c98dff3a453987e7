//! One store watch per resource, shared by all of that resource's watchers
//! (kube-apiserver's "cacher" has the same role).
//!
//! A [`Feed`] reads the store's changes under a resource's prefix and keeps
//! the most recent ones in memory as [`Change`]s. Each change is turned into
//! JSON (its resourceVersion stamped in) and, when a watcher has selectors,
//! its selectable fields parsed, at most once however many watchers see
//! it. A watcher holds a cursor into the feed and is woken when a batch is
//! published; one that
//! falls behind the feed's window, or asks for a revision older than the
//! feed, reads the store directly instead (see `watch.rs`).
//!
//! This owns no API semantics: which events a watcher gets, and how they are
//! written, is `watch.rs`'s business.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use parking_lot::Mutex;
use rkube_store::{KeyRange, KeyValue, Store, StoreError, WatchEvent, WatchRequest};
use serde_json::Value;

use super::raw;
use super::store_access;

/// Changes a feed keeps for watchers that are behind (per resource).
const WINDOW: usize = 4096;

/// A feed publishes at most once per this much time per watcher. Every
/// publish wakes each watcher, which then writes to its connection (about
/// 20 µs of CPU here, most of it TLS and the kernel): under a stream of
/// small commits, publishing faster than the watchers can be written to
/// only queues them behind each other. A lone change, or one to a resource
/// with few watchers, goes out at once. Twice the write cost: measured
/// against 20 µs it halves the server's wake-ups and steadies the tail
/// (bench/README.md).
const PACE_PER_WATCHER: Duration = Duration::from_micros(40);

/// The longest a change waits to be published.
const MAX_PACE: Duration = Duration::from_millis(40);

/// A store change, with the forms watchers need computed once.
#[derive(Debug)]
pub struct Change {
    pub event: WatchEvent,
    stamped: OnceLock<Option<Bytes>>,
    stamped_prev: OnceLock<Option<Bytes>>,
    decoded: OnceLock<Option<Value>>,
    decoded_prev: OnceLock<Option<Value>>,
}

impl Change {
    pub fn new(event: WatchEvent) -> Self {
        Change {
            event,
            stamped: OnceLock::new(),
            stamped_prev: OnceLock::new(),
            decoded: OnceLock::new(),
            decoded_prev: OnceLock::new(),
        }
    }

    pub fn revision(&self) -> i64 {
        self.event.kv.mod_revision
    }

    /// The object after the change (`prev` = false) or before it, as JSON
    /// with the change's revision as its resourceVersion; `None` when that
    /// version does not exist or is not JSON.
    pub fn stamped(&self, prev: bool) -> Option<&Bytes> {
        let (cell, kv) = if prev {
            (&self.stamped_prev, self.event.prev_kv.as_ref())
        } else {
            (&self.stamped, Some(&self.event.kv))
        };
        cell.get_or_init(|| {
            let kv = kv?;
            let mut out = Vec::with_capacity(kv.value.len() + 24);
            raw::write_stamped(&kv.value, self.revision(), &mut out).ok()?;
            Some(Bytes::from(out))
        })
        .as_ref()
    }

    /// The object after (or before) the change, parsed for selectors: only
    /// the fields they read (`selector::selectable`).
    pub fn decoded(&self, prev: bool) -> Option<&Value> {
        let (cell, kv) = if prev {
            (&self.decoded_prev, self.event.prev_kv.as_ref())
        } else {
            (&self.decoded, Some(&self.event.kv))
        };
        cell.get_or_init(|| kv.and_then(|kv: &KeyValue| store_access::decode_selectable(kv).ok()))
            .as_ref()
    }
}

/// Changes published together (one store batch).
pub type Batch = Arc<[Change]>;

/// What a watcher reading a feed gets next.
pub enum Next {
    /// Batches, oldest first.
    Batches(Vec<Batch>),
    /// The feed no longer holds the batch the cursor points at: read the
    /// store from the last revision seen.
    Behind,
    /// The feed's store watch ended (the store closed or failed).
    Ended(StoreError),
}

struct State {
    /// Every change under the prefix after this revision is in `batches`
    /// or is still to come.
    start: i64,
    batches: VecDeque<Batch>,
    /// The sequence number of `batches[0]`.
    base: u64,
    changes: usize,
    ended: Option<StoreError>,
}

/// The shared watch of one resource.
pub struct Feed {
    state: Mutex<State>,
    /// The sequence number after the newest batch; bumped on every publish.
    published: tokio::sync::watch::Sender<u64>,
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Feed").finish_non_exhaustive()
    }
}

/// A watcher's place in a feed.
pub struct Cursor {
    feed: Arc<Feed>,
    next: u64,
    wake: tokio::sync::watch::Receiver<u64>,
}

impl Feed {
    fn new(start: i64) -> Self {
        Feed {
            state: Mutex::new(State {
                start,
                batches: VecDeque::new(),
                base: 0,
                changes: 0,
                ended: None,
            }),
            published: tokio::sync::watch::Sender::new(0),
        }
    }

    /// A cursor from which every change after revision `after` will be
    /// read, or `None` when the feed does not reach back that far (or ended).
    pub fn cursor(self: &Arc<Self>, after: i64) -> Option<Cursor> {
        let st = self.state.lock();
        if st.ended.is_some() || after < st.start {
            return None;
        }
        // The first batch holding a change newer than `after`.
        let skip = st
            .batches
            .iter()
            .rev()
            .take_while(|b| b.last().is_some_and(|c| c.revision() > after))
            .count();
        let next = st.base + (st.batches.len() - skip) as u64;
        Some(Cursor {
            feed: self.clone(),
            next,
            wake: self.published.subscribe(),
        })
    }

    /// How long after a publish the next one waits.
    fn pace(&self) -> Duration {
        let watchers = self.published.receiver_count() as u32;
        (PACE_PER_WATCHER * watchers).min(MAX_PACE)
    }

    fn publish(&self, batch: Vec<WatchEvent>) {
        if batch.is_empty() {
            return;
        }
        let batch: Batch = batch.into_iter().map(Change::new).collect();
        let seq = {
            let mut st = self.state.lock();
            st.changes += batch.len();
            st.batches.push_back(batch);
            while st.changes > WINDOW && st.batches.len() > 1 {
                if let Some(old) = st.batches.pop_front() {
                    st.changes -= old.len();
                    st.base += 1;
                    if let Some(last) = old.last() {
                        st.start = st.start.max(last.revision());
                    }
                }
            }
            st.base + st.batches.len() as u64
        };
        self.published.send_replace(seq);
    }

    fn end(&self, e: StoreError) {
        self.state.lock().ended = Some(e);
        // Wakes every cursor; they find `ended` set.
        self.published.send_modify(|_| {});
    }

    fn ended(&self) -> bool {
        self.state.lock().ended.is_some()
    }
}

impl Cursor {
    /// Wait for, then take, the batches after the cursor.
    pub async fn next(&mut self) -> Next {
        loop {
            // Marks the current value seen before looking, so that a publish
            // after the look wakes `changed` below.
            self.wake.borrow_and_update();
            {
                let st = self.feed.state.lock();
                if self.next < st.base {
                    return Next::Behind;
                }
                let from = (self.next - st.base) as usize;
                if from < st.batches.len() {
                    let batches: Vec<Batch> = st.batches.range(from..).cloned().collect();
                    self.next = st.base + st.batches.len() as u64;
                    return Next::Batches(batches);
                }
                if let Some(e) = &st.ended {
                    return Next::Ended(clone_error(e));
                }
            }
            if self.wake.changed().await.is_err() {
                return Next::Ended(StoreError::Closed);
            }
        }
    }
}

fn clone_error(e: &StoreError) -> StoreError {
    match e {
        StoreError::Compacted {
            requested,
            compacted,
        } => StoreError::Compacted {
            requested: *requested,
            compacted: *compacted,
        },
        StoreError::Closed => StoreError::Closed,
        StoreError::SlowWatcher => StoreError::SlowWatcher,
        other => StoreError::Failed(other.to_string()),
    }
}

/// The feeds of one server, by storage prefix, started on first use.
pub struct Fanout {
    store: Arc<dyn Store>,
    feeds: Mutex<HashMap<String, Arc<Feed>>>,
}

impl std::fmt::Debug for Fanout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fanout").finish_non_exhaustive()
    }
}

impl Fanout {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Fanout {
            store,
            feeds: Mutex::new(HashMap::new()),
        }
    }

    /// The live feed of `prefix`, started (from the store's current
    /// revision) if there is none.
    pub async fn feed(&self, prefix: &str) -> Result<Arc<Feed>, StoreError> {
        if let Some(f) = self.feeds.lock().get(prefix).filter(|f| !f.ended()) {
            return Ok(f.clone());
        }
        let start = self.store.current_revision().await?;
        let mut stream = self
            .store
            .watch(
                WatchRequest::new(KeyRange::prefix(Bytes::from(prefix.to_string())))
                    .from_revision(start + 1)
                    .with_prev_kv(),
            )
            .await?;
        let feed = {
            let mut feeds = self.feeds.lock();
            if let Some(f) = feeds.get(prefix).filter(|f| !f.ended()) {
                // Another request started one meanwhile; ours is dropped.
                return Ok(f.clone());
            }
            let feed = Arc::new(Feed::new(start));
            feeds.insert(prefix.to_string(), feed.clone());
            feed
        };
        let weak = Arc::downgrade(&feed);
        let prefix = prefix.to_string();
        tokio::spawn(async move {
            let mut last: Option<(tokio::time::Instant, Duration)> = None;
            let e = 'feed: loop {
                let item = stream.next().await;
                if let Some((at, pace)) = last {
                    // Let what follows within the pace join this publish.
                    tokio::time::sleep_until(at + pace).await;
                }
                let Some(feed) = weak.upgrade() else { return };
                let mut batch = match item {
                    Some(Ok(batch)) => batch,
                    Some(Err(e)) => break e,
                    None => break StoreError::Closed,
                };
                while let Some(more) = stream.next().now_or_never() {
                    match more {
                        Some(Ok(more)) => batch.extend(more),
                        Some(Err(e)) => {
                            feed.publish(batch);
                            break 'feed e;
                        }
                        None => {
                            feed.publish(batch);
                            break 'feed StoreError::Closed;
                        }
                    }
                }
                feed.publish(batch);
                let pace = feed.pace();
                last = (!pace.is_zero()).then(|| (tokio::time::Instant::now(), pace));
            };
            tracing::debug!(error = %e, %prefix, "watch feed ended");
            if let Some(feed) = weak.upgrade() {
                feed.end(e);
            }
        });
        Ok(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rkube_store::{EventKind, KeyValue};

    fn put(rev: i64, value: &str) -> WatchEvent {
        WatchEvent {
            kind: EventKind::Put,
            kv: KeyValue {
                key: Bytes::from(format!("/k/{rev}")),
                value: Bytes::from(value.to_string()),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
            },
            prev_kv: None,
        }
    }

    fn revisions(next: Next) -> Vec<i64> {
        match next {
            Next::Batches(b) => b
                .iter()
                .flat_map(|b| b.iter().map(Change::revision))
                .collect(),
            Next::Behind => vec![-1],
            Next::Ended(_) => vec![-2],
        }
    }

    #[tokio::test]
    async fn cursors_start_after_the_revision_asked_for() {
        let feed = Arc::new(Feed::new(10));
        feed.publish(vec![put(11, "{}"), put(12, "{}")]);
        feed.publish(vec![put(13, "{}")]);
        assert!(feed.cursor(9).is_none(), "older than the feed");
        let mut all = feed.cursor(10).expect("from the start");
        assert_eq!(revisions(all.next().await), vec![11, 12, 13]);
        // A cursor after 12 starts at the batch holding 13; one after 11
        // gets the whole first batch (the watcher skips what it has seen).
        let mut late = feed.cursor(12).expect("cursor");
        assert_eq!(revisions(late.next().await), vec![13]);
        let mut mid = feed.cursor(11).expect("cursor");
        assert_eq!(revisions(mid.next().await), vec![11, 12, 13]);
        let mut now = feed.cursor(13).expect("cursor");
        feed.publish(vec![put(14, "{}")]);
        assert_eq!(revisions(now.next().await), vec![14]);
        assert_eq!(revisions(all.next().await), vec![14]);
    }

    #[tokio::test]
    async fn a_cursor_left_behind_the_window_is_told_so() {
        let feed = Arc::new(Feed::new(0));
        let mut slow = feed.cursor(0).expect("cursor");
        for rev in 1..=(WINDOW as i64 + 1) {
            feed.publish(vec![put(rev, "{}")]);
        }
        assert_eq!(revisions(slow.next().await), vec![-1]);
        assert!(feed.cursor(0).is_none(), "the window moved on");
        assert!(feed.cursor(1).is_some());
    }

    #[tokio::test]
    async fn a_waiting_cursor_wakes_on_publish_and_on_end() {
        let feed = Arc::new(Feed::new(0));
        let mut c = feed.cursor(0).expect("cursor");
        let f = feed.clone();
        let t = tokio::spawn(async move {
            tokio::task::yield_now().await;
            f.publish(vec![put(1, "{}")]);
            f.end(StoreError::Closed);
        });
        assert_eq!(revisions(c.next().await), vec![1]);
        assert_eq!(revisions(c.next().await), vec![-2]);
        t.await.expect("publisher");
    }

    #[test]
    fn stamped_and_decoded_forms_are_computed_once_and_shared() {
        let c = Change::new(put(7, r#"{"metadata":{"name":"a"},"data":{}}"#));
        let a = c.stamped(false).expect("json").clone();
        assert!(std::str::from_utf8(&a)
            .expect("utf8")
            .contains(r#""resourceVersion":"7""#));
        assert_eq!(c.stamped(false).map(|b| b.as_ptr()), Some(a.as_ptr()));
        assert!(c.stamped(true).is_none(), "no previous version");
        assert_eq!(
            c.decoded(false)
                .and_then(|v| v.pointer("/metadata/resourceVersion")),
            Some(&Value::String("7".into()))
        );
    }
}
