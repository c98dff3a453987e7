//! The in-memory MVCC index: every key's history of versions back to the
//! compacted revision, and a revision log (which key changed at which
//! revision) for replaying watch events. Pure state: no I/O, no locks; the
//! store wraps it in an `RwLock`.
//!
//! Compaction follows etcd: compacting at `C` keeps, for every key, the
//! newest version at or below `C` (dropped too if it is a delete) and
//! everything above `C`.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Bound;

use bytes::Bytes;

use super::record::LogOp;
use crate::types::{EventKind, KeyRange, KeyValue, RangeRequest, Revision, WatchEvent};

/// One version of a key. `value: None` marks a delete (a tombstone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ver {
    pub mod_revision: Revision,
    pub create_revision: Revision,
    pub version: i64,
    pub value: Option<Bytes>,
}

/// The index. Revisions start at 1 for an empty store.
#[derive(Debug)]
pub struct Index {
    keys: BTreeMap<Bytes, Vec<Ver>>,
    /// `(revision, key)` of the most recent changes (at most `window`), in
    /// revision order and operation order within a revision: what watchers
    /// replay cheaply. Older history is found by scanning key histories.
    revlog: VecDeque<(Revision, Bytes)>,
    /// Every change at or above this revision is in `revlog`.
    revlog_floor: Revision,
    window: usize,
    current: Revision,
    compacted: Revision,
}

/// Default number of recent changes kept in the revision log.
pub const DEFAULT_WINDOW: usize = 1 << 17;

impl Default for Index {
    fn default() -> Self {
        Self::with_window(DEFAULT_WINDOW)
    }
}

/// The result of [`Index::range`].
#[derive(Debug, Default)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    pub count: i64,
    pub more: bool,
}

type Bounds<'a> = (Bound<&'a [u8]>, Bound<&'a [u8]>);

/// BTreeMap bounds of a range; `None` for a range that holds no key (its
/// end at or before its start — BTreeMap would panic on it).
fn bounds(range: &KeyRange) -> Option<Bounds<'_>> {
    let start = Bound::Included(&range.key[..]);
    let end = match &range.range_end {
        None => Bound::Included(&range.key[..]),
        Some(end) if end.is_empty() => Bound::Unbounded,
        Some(end) if end[..] <= range.key[..] => return None,
        Some(end) => Bound::Excluded(&end[..]),
    };
    Some((start, end))
}

/// The version of `history` visible at `rev`, if the key was live then.
fn visible(history: &[Ver], rev: Revision) -> Option<&Ver> {
    let i = history.partition_point(|v| v.mod_revision <= rev);
    let v = history.get(i.checked_sub(1)?)?;
    v.value.as_ref().map(|_| v)
}

fn to_kv(key: &Bytes, v: &Ver, with_value: bool) -> KeyValue {
    KeyValue {
        key: key.clone(),
        value: if with_value {
            v.value.clone().unwrap_or_default()
        } else {
            Bytes::new()
        },
        create_revision: v.create_revision,
        mod_revision: v.mod_revision,
        version: v.version,
    }
}

impl Index {
    /// An empty index keeping `window` recent changes in its revision log.
    pub fn with_window(window: usize) -> Self {
        Index {
            keys: BTreeMap::new(),
            revlog: VecDeque::new(),
            revlog_floor: 0,
            window: window.max(1),
            current: 1,
            compacted: 0,
        }
    }

    fn push_change(&mut self, rev: Revision, key: Bytes) {
        self.revlog.push_back((rev, key));
        while self.revlog.len() > self.window {
            if let Some((r, _)) = self.revlog.pop_front() {
                self.revlog_floor = self.revlog_floor.max(r + 1);
            }
        }
    }

    /// The last revision applied (including not-yet-durable ones).
    pub fn current(&self) -> Revision {
        self.current
    }

    /// The compacted revision (0 if never compacted).
    pub fn compacted(&self) -> Revision {
        self.compacted
    }

    /// Number of keys with any retained history.
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// The key as of `rev`.
    pub fn get(&self, key: &[u8], rev: Revision) -> Option<KeyValue> {
        let (k, history) = self.keys.get_key_value(key)?;
        visible(history, rev).map(|v| to_kv(k, v, true))
    }

    /// Keys of `req`'s range live at `rev` (its own revision already
    /// resolved by the caller), in key order.
    pub fn range(&self, req: &RangeRequest, rev: Revision) -> RangeResult {
        let mut out = RangeResult::default();
        let Some(bounds) = bounds(&req.range) else {
            return out;
        };
        let limit = if req.limit > 0 {
            req.limit as usize
        } else {
            usize::MAX
        };
        for (k, history) in self.keys.range::<[u8], _>(bounds) {
            let Some(v) = visible(history, rev) else {
                continue;
            };
            out.count += 1;
            if req.count_only {
                continue;
            }
            if out.kvs.len() < limit {
                out.kvs.push(to_kv(k, v, !req.keys_only));
            } else {
                out.more = true;
                if req.skip_count {
                    // Counting the rest is a walk over every key after the
                    // page: a paged list of n keys would walk n²/2.
                    break;
                }
            }
        }
        out
    }

    /// Keys of a range live at the latest revision (for delete-range).
    pub fn live_keys(&self, range: &KeyRange) -> Vec<Bytes> {
        let Some(bounds) = bounds(range) else {
            return Vec::new();
        };
        self.keys
            .range::<[u8], _>(bounds)
            .filter(|(_, h)| h.last().is_some_and(|v| v.value.is_some()))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Apply the writes of revision `rev` (which must be `current + 1`).
    pub fn apply(&mut self, rev: Revision, ops: &[LogOp]) {
        for op in ops {
            self.apply_one(rev, op);
        }
        self.set_current(rev);
    }

    /// Apply one write of revision `rev` (`current + 1`); reads at `rev` see
    /// it at once, but `current` moves only with [`Index::set_current`].
    /// Returns whether anything changed (a delete of a missing key does not).
    pub fn apply_one(&mut self, rev: Revision, op: &LogOp) -> bool {
        debug_assert_eq!(rev, self.current + 1);
        {
            match op {
                LogOp::Put { key, value } => {
                    // Most keys have one version: room for exactly one
                    // (an empty Vec's first push would reserve four).
                    let history = match self.keys.get_mut(&key[..]) {
                        Some(h) => h,
                        None => self
                            .keys
                            .entry(key.clone())
                            .or_insert_with(|| Vec::with_capacity(1)),
                    };
                    let ver = match history.last() {
                        Some(prev) if prev.value.is_some() => Ver {
                            mod_revision: rev,
                            create_revision: prev.create_revision,
                            version: prev.version + 1,
                            value: Some(value.clone()),
                        },
                        _ => Ver {
                            mod_revision: rev,
                            create_revision: rev,
                            version: 1,
                            value: Some(value.clone()),
                        },
                    };
                    history.push(ver);
                }
                LogOp::Delete { key } => {
                    let Some(history) = self.keys.get_mut(&key[..]) else {
                        return false;
                    };
                    if history.last().is_some_and(|v| v.value.is_some()) {
                        history.push(Ver {
                            mod_revision: rev,
                            create_revision: 0,
                            version: 0,
                            value: None,
                        });
                    } else {
                        return false;
                    }
                }
            }
            self.push_change(rev, op.key().clone());
        }
        true
    }

    /// Make `rev` the current revision after its writes were applied.
    pub fn set_current(&mut self, rev: Revision) {
        self.current = rev;
    }

    /// Compact up to `rev` for keys in `[from, ..)`, at most `max_keys` of
    /// them; returns where to continue, or `None` when done. Call
    /// [`Index::begin_compaction`] first.
    pub fn compact_keys(&mut self, rev: Revision, from: &[u8], max_keys: usize) -> Option<Bytes> {
        let mut emptied = Vec::new();
        let mut next = None;
        for (n, (k, history)) in self
            .keys
            .range_mut::<[u8], _>((Bound::Included(from), Bound::Unbounded))
            .enumerate()
        {
            if n == max_keys {
                next = Some(k.clone());
                break;
            }
            let keep_from = history.partition_point(|v| v.mod_revision <= rev);
            // Keep the newest version at or below `rev` unless it is a delete.
            let mut drop = keep_from.saturating_sub(1);
            if history
                .get(drop)
                .is_some_and(|v| v.value.is_none() && v.mod_revision <= rev)
            {
                drop += 1;
            }
            if drop > 0 {
                history.drain(..drop);
            }
            if history.is_empty() {
                emptied.push(k.clone());
            } else if history.capacity() > 2 * history.len() + 2 {
                history.shrink_to_fit();
            }
        }
        for k in emptied {
            self.keys.remove(&k[..]);
        }
        next
    }

    /// Mark `rev` compacted (reads below it now fail) and drop the revision
    /// log below it. Key histories are trimmed by [`Index::compact_keys`].
    pub fn begin_compaction(&mut self, rev: Revision) {
        self.compacted = self.compacted.max(rev);
        while self.revlog.front().is_some_and(|(r, _)| *r < rev) {
            self.revlog.pop_front();
        }
        if self.revlog.capacity() > 2 * self.revlog.len() + 1024 {
            self.revlog.shrink_to_fit();
        }
    }

    /// Watch events for revisions `from..=to` on `range`, scanning at most
    /// `max_changes` changes but never splitting a revision. Returns the
    /// events and the next revision to scan from.
    pub fn events(
        &self,
        range: &KeyRange,
        from: Revision,
        to: Revision,
        prev_kv: bool,
        max_changes: usize,
    ) -> (Vec<WatchEvent>, Revision) {
        if from < self.revlog_floor {
            return self.events_from_histories(
                range,
                from,
                to.min(self.revlog_floor - 1),
                prev_kv,
                max_changes,
            );
        }
        let start = self.revlog.partition_point(|(r, _)| *r < from);
        let changes = self.revlog.range(start..).map(|(rev, key)| (*rev, key));
        self.events_of(changes, range, to, prev_kv, max_changes)
    }

    /// The events of `changes` (in revision order) in `range` up to `to`,
    /// taking at most `max_changes` changes but never splitting a revision;
    /// and the next revision to read from.
    fn events_of<'a>(
        &self,
        changes: impl Iterator<Item = (Revision, &'a Bytes)>,
        range: &KeyRange,
        to: Revision,
        prev_kv: bool,
        max_changes: usize,
    ) -> (Vec<WatchEvent>, Revision) {
        let mut out = Vec::new();
        let mut next = to + 1;
        let mut last_rev = 0;
        for (n, (rev, key)) in changes.enumerate() {
            if rev > to {
                break;
            }
            if n >= max_changes && rev != last_rev {
                next = rev;
                break;
            }
            last_rev = rev;
            if range.contains(key) {
                out.extend(self.event(key, rev, prev_kv));
            }
        }
        (out, next)
    }

    /// [`Index::events`] for revisions older than the revision log: scan the
    /// histories of the keys in `range` (changes within one revision come
    /// in key order here).
    fn events_from_histories(
        &self,
        range: &KeyRange,
        from: Revision,
        to: Revision,
        prev_kv: bool,
        max_changes: usize,
    ) -> (Vec<WatchEvent>, Revision) {
        let Some(bounds) = bounds(range) else {
            return (Vec::new(), to + 1);
        };
        let mut changes: Vec<(Revision, &Bytes)> = Vec::new();
        for (k, history) in self.keys.range::<[u8], _>(bounds) {
            let start = history.partition_point(|v| v.mod_revision < from);
            for v in history[start..].iter().take_while(|v| v.mod_revision <= to) {
                changes.push((v.mod_revision, k));
            }
        }
        changes.sort();
        self.events_of(changes.into_iter(), range, to, prev_kv, max_changes)
    }

    /// The event of `key` at revision `rev`.
    pub fn event(&self, key: &Bytes, rev: Revision, with_prev: bool) -> Option<WatchEvent> {
        let history = self.keys.get(&key[..])?;
        let i = history.partition_point(|v| v.mod_revision < rev);
        let v = history.get(i).filter(|v| v.mod_revision == rev)?;
        let prev_kv = if with_prev {
            i.checked_sub(1)
                .and_then(|p| history.get(p))
                .filter(|p| p.value.is_some())
                .map(|p| to_kv(key, p, true))
        } else {
            None
        };
        Some(match v.value {
            Some(_) => WatchEvent {
                kind: EventKind::Put,
                kv: to_kv(key, v, true),
                prev_kv,
            },
            None => WatchEvent {
                kind: EventKind::Delete,
                kv: KeyValue {
                    key: key.clone(),
                    value: Bytes::new(),
                    create_revision: 0,
                    mod_revision: rev,
                    version: 0,
                },
                prev_kv,
            },
        })
    }

    /// Every key with its versions at or below `rev`, for `[from, ..)`, at
    /// most `max_keys` keys; and where to continue. For snapshots.
    pub fn export(
        &self,
        rev: Revision,
        from: &[u8],
        max_keys: usize,
    ) -> (Vec<(Bytes, Vec<Ver>)>, Option<Bytes>) {
        let mut out = Vec::new();
        for (k, history) in self
            .keys
            .range::<[u8], _>((Bound::Included(from), Bound::Unbounded))
        {
            if out.len() == max_keys {
                return (out, Some(k.clone()));
            }
            let n = history.partition_point(|v| v.mod_revision <= rev);
            if n > 0 {
                out.push((k.clone(), history[..n].to_vec()));
            }
        }
        (out, None)
    }

    /// The order of changes within every revision at or below `rev` that
    /// changed more than one key (events follow operation order, as in
    /// etcd; a snapshot keeps it).
    pub fn multi_key_revisions(&self, rev: Revision) -> Vec<(Revision, Vec<Bytes>)> {
        let mut out: Vec<(Revision, Vec<Bytes>)> = Vec::new();
        let mut i = 0;
        while i < self.revlog.len() {
            let r = self.revlog[i].0;
            if r > rev {
                break;
            }
            let mut j = i + 1;
            while j < self.revlog.len() && self.revlog[j].0 == r {
                j += 1;
            }
            if j - i > 1 {
                out.push((r, self.revlog.range(i..j).map(|(_, k)| k.clone()).collect()));
            }
            i = j;
        }
        out
    }

    /// Rebuild from a snapshot: `keys` in key order with their histories, at
    /// revision `current`, compacted at `compacted`; `orders` from
    /// [`Index::multi_key_revisions`].
    pub fn restore(
        keys: Vec<(Bytes, Vec<Ver>)>,
        current: Revision,
        compacted: Revision,
        orders: &[(Revision, Vec<Bytes>)],
        window: usize,
    ) -> Self {
        let mut revlog: Vec<(Revision, Bytes)> = Vec::new();
        for (k, history) in &keys {
            for v in history {
                if v.mod_revision >= compacted {
                    revlog.push((v.mod_revision, k.clone()));
                }
            }
        }
        // By revision, then (for multi-key revisions) by operation order.
        let position = |rev: Revision, key: &Bytes| -> usize {
            orders
                .binary_search_by_key(&rev, |(r, _)| *r)
                .ok()
                .and_then(|i| orders[i].1.iter().position(|k| k == key))
                .unwrap_or(0)
        };
        revlog.sort_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| position(a.0, &a.1).cmp(&position(b.0, &b.1)))
        });
        let window = window.max(1);
        let mut revlog_floor = 0;
        if revlog.len() > window {
            let cut = revlog.len() - window;
            revlog_floor = revlog[cut - 1].0 + 1;
            revlog.drain(..cut);
            // Never keep part of a revision.
            let partial = revlog.iter().take_while(|(r, _)| *r < revlog_floor).count();
            revlog.drain(..partial);
        }
        Index {
            keys: keys.into_iter().collect(),
            revlog: revlog.into(),
            revlog_floor,
            window,
            current,
            compacted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> LogOp {
        LogOp::Put {
            key: Bytes::from(k.to_string()),
            value: Bytes::from(v.to_string()),
        }
    }
    fn del(k: &str) -> LogOp {
        LogOp::Delete {
            key: Bytes::from(k.to_string()),
        }
    }

    #[test]
    fn versions_follow_etcd() {
        let mut ix = Index::default();
        ix.apply(2, &[put("a", "1")]);
        ix.apply(3, &[put("a", "2")]);
        ix.apply(4, &[del("a")]);
        ix.apply(5, &[put("a", "3")]);
        let kv = ix.get(b"a", 3).expect("a at 3");
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
        assert!(ix.get(b"a", 4).is_none());
        let kv = ix.get(b"a", 5).expect("a at 5");
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
        let ev = ix
            .event(&Bytes::from_static(b"a"), 4, true)
            .expect("delete event");
        assert_eq!(ev.kind, EventKind::Delete);
        assert_eq!(ev.prev_kv.map(|p| p.value), Some(Bytes::from_static(b"2")));
    }

    #[test]
    fn compaction_keeps_the_visible_version() {
        let mut ix = Index::default();
        ix.apply(2, &[put("a", "1"), put("b", "1")]);
        ix.apply(3, &[put("a", "2")]);
        ix.apply(4, &[del("b")]);
        ix.apply(5, &[put("c", "1")]);
        ix.begin_compaction(4);
        assert_eq!(ix.compact_keys(4, b"", 1), Some(Bytes::from_static(b"b")));
        assert_eq!(ix.compact_keys(4, b"b", 100), None);
        assert_eq!(
            ix.get(b"a", 4).map(|kv| kv.value),
            Some(Bytes::from_static(b"2"))
        );
        assert_eq!(ix.key_count(), 2, "b's tombstone is gone");
        let (events, next) = ix.events(&KeyRange::prefix(""), 1, 5, false, 100);
        assert_eq!(events.len(), 1);
        assert_eq!(next, 6);
    }

    #[test]
    fn events_never_split_a_revision() {
        let mut ix = Index::default();
        ix.apply(2, &[put("a", "1"), put("b", "1"), put("c", "1")]);
        ix.apply(3, &[put("a", "2")]);
        let (events, next) = ix.events(&KeyRange::prefix(""), 2, 3, false, 1);
        assert_eq!(events.len(), 3);
        assert_eq!(next, 3);
    }

    #[test]
    fn history_older_than_the_window_is_replayed_from_key_histories() {
        let mut small = Index::with_window(2);
        let mut big = Index::default();
        for (rev, ops) in [
            (2, vec![put("a", "1"), put("b", "1")]),
            (3, vec![put("a", "2")]),
            (4, vec![del("b")]),
            (5, vec![put("c", "1")]),
        ] {
            small.apply(rev, &ops);
            big.apply(rev, &ops);
        }
        let all = KeyRange::prefix("");
        // Read in chunks from the start, as a catching-up watcher does.
        let mut got = Vec::new();
        let mut from = 2;
        while from <= 5 {
            let (events, next) = small.events(&all, from, 5, true, 1);
            got.extend(events);
            from = next;
        }
        assert_eq!(got, big.events(&all, 2, 5, true, 100).0);
    }

    #[test]
    fn export_and_restore_round_trip() {
        let mut ix = Index::default();
        ix.apply(2, &[put("a", "1")]);
        ix.apply(3, &[put("b", "1"), del("a")]);
        let (keys, next) = ix.export(3, b"", 10);
        assert!(next.is_none());
        let back = Index::restore(keys, 3, 0, &ix.multi_key_revisions(3), DEFAULT_WINDOW);
        assert_eq!(
            back.range(&RangeRequest::new(KeyRange::prefix("")), 3).kvs,
            ix.range(&RangeRequest::new(KeyRange::prefix("")), 3).kvs
        );
        assert_eq!(
            back.events(&KeyRange::prefix(""), 2, 3, true, 10),
            ix.events(&KeyRange::prefix(""), 2, 3, true, 10)
        );
    }
}
