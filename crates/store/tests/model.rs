//! The embedded store checked against a model, by property testing.
//!
//! Each case runs a random sequence of operations — puts, deletes (one key,
//! prefix, range), transactions with compares (both branches), reads (with
//! limits, at older and at compacted revisions), compactions, watches (from
//! the past, now, the future, a compacted revision), snapshots, restarts,
//! simulated power loss (with and without a torn tail) and a failing write or
//! fsync — against an [`EmbeddedStore`] on a [`MemDir`] and against `Model`,
//! a plain map with the full history of changes. Every answer must match the
//! model; after every reopen the whole readable history must; every watch,
//! once its store closes, must have delivered exactly the model's events for
//! its range, in batches that never split a revision.
//!
//! The key space is small (8 keys under 2 prefixes) so operations collide;
//! segments are small and snapshots eager, so segment rollover, snapshots
//! and segment removal happen within a case.
//!
//! `PROPTEST_CASES=500 cargo test -p rkube-store --release --test model`
//! runs more cases (the default is 64). What it found is kept at the end of
//! this file as plain regression tests.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use proptest::prelude::*;
use rkube_store::backend::{Fault, MemDir};
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use rkube_store::{
    Compare, CompareOp, CompareTarget, EventKind, KeyRange, KeyValue, RangeRequest, RangeResponse,
    Revision, Store, StoreError, TxnOp, TxnOpResponse, TxnRequest, TxnResponse, WatchEvent,
    WatchRequest, WatchStream,
};

// ---------------------------------------------------------------------------
// The model
// ---------------------------------------------------------------------------

/// One change to one key at one revision.
#[derive(Clone, Debug)]
struct Change {
    rev: Revision,
    key: Bytes,
    /// The new version; `None` for a delete.
    kv: Option<KeyValue>,
    /// The version before the change (if the key was live).
    prev: Option<KeyValue>,
}

/// The error a call must fail with.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Expected {
    Compacted {
        requested: Revision,
        compacted: Revision,
    },
    Future {
        requested: Revision,
        current: Revision,
    },
    Invalid,
}

fn matches(err: &StoreError, want: &Expected) -> bool {
    match (err, want) {
        (
            StoreError::Compacted {
                requested,
                compacted,
            },
            Expected::Compacted {
                requested: r,
                compacted: c,
            },
        ) => requested == r && compacted == c,
        (
            StoreError::FutureRevision { requested, current },
            Expected::Future {
                requested: r,
                current: c,
            },
        ) => requested == r && current == c,
        (StoreError::InvalidRequest(_), Expected::Invalid) => true,
        _ => false,
    }
}

/// etcd's MVCC semantics, the simple way: the live map plus every change.
#[derive(Debug)]
struct Model {
    current: Revision,
    compacted: Revision,
    live: BTreeMap<Bytes, KeyValue>,
    /// Every change, in revision order and, within a revision, operation
    /// order (as etcd reports them).
    changes: Vec<Change>,
    /// Every successful compaction, in order.
    compactions: Vec<Revision>,
}

type State = BTreeMap<Bytes, KeyValue>;

impl Model {
    fn new() -> Self {
        Model {
            current: 1,
            compacted: 0,
            live: BTreeMap::new(),
            changes: Vec::new(),
            compactions: Vec::new(),
        }
    }

    /// The live keys at `rev` (which must be at most `current`).
    fn state_at(&self, rev: Revision) -> State {
        let mut s = State::new();
        for c in self.changes.iter().take_while(|c| c.rev <= rev) {
            match &c.kv {
                Some(kv) => s.insert(c.key.clone(), kv.clone()),
                None => s.remove(&c.key),
            };
        }
        s
    }

    /// Where a read at `requested` (0 = now) is served, or why not.
    fn read_revision(&self, requested: Revision) -> Result<Revision, Expected> {
        let rev = if requested <= 0 {
            self.current
        } else {
            requested
        };
        if rev > self.current {
            return Err(Expected::Future {
                requested: rev,
                current: self.current,
            });
        }
        if rev < self.compacted {
            return Err(Expected::Compacted {
                requested: rev,
                compacted: self.compacted,
            });
        }
        Ok(rev)
    }

    fn range(&self, req: &RangeRequest) -> Result<RangeResponse, Expected> {
        let rev = self.read_revision(req.revision)?;
        let mut resp = range_of(&self.state_at(rev), req);
        resp.revision = self.current;
        Ok(resp)
    }

    fn txn(&mut self, req: &TxnRequest) -> Result<TxnResponse, Expected> {
        let succeeded = req.compares.iter().all(|c| compare(&self.live, c));
        let ops = if succeeded {
            &req.success
        } else {
            &req.failure
        };

        // Validation, in the order the store (and etcd) reports problems: a
        // key written twice in either branch, run or not; then reads at
        // unavailable revisions in the branch that runs.
        for branch in [&req.failure, &req.success] {
            let mut puts: Vec<&Bytes> = Vec::new();
            let mut deletes: Vec<&KeyRange> = Vec::new();
            for op in branch.iter() {
                match op {
                    TxnOp::Put { key, .. } => puts.push(key),
                    TxnOp::Delete { range, .. } => deletes.push(range),
                    TxnOp::Range(_) => {}
                }
            }
            let mut sorted = puts.clone();
            sorted.sort();
            if sorted.windows(2).any(|w| w[0] == w[1])
                || puts.iter().any(|k| deletes.iter().any(|d| d.contains(k)))
            {
                return Err(Expected::Invalid);
            }
        }
        for op in ops {
            if let TxnOp::Range(r) = op {
                if r.revision > 0 {
                    self.read_revision(r.revision)?;
                }
            }
        }

        // Ops apply in order; a read in the transaction sees earlier writes
        // of the same transaction (as in etcd).
        let rev = self.current + 1;
        let mut work = self.live.clone();
        let mut changes = Vec::new();
        let mut responses = Vec::new();
        for op in ops {
            match op {
                TxnOp::Put {
                    key,
                    value,
                    prev_kv,
                } => {
                    let prev = work.get(key).cloned();
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                        mod_revision: rev,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                    };
                    work.insert(key.clone(), kv.clone());
                    changes.push(Change {
                        rev,
                        key: key.clone(),
                        kv: Some(kv),
                        prev: prev.clone(),
                    });
                    responses.push(TxnOpResponse::Put {
                        prev_kv: prev.filter(|_| *prev_kv),
                    });
                }
                TxnOp::Delete { range, prev_kv } => {
                    let keys: Vec<Bytes> =
                        work.keys().filter(|k| range.contains(k)).cloned().collect();
                    let mut prevs = Vec::new();
                    for k in &keys {
                        let prev = work.remove(k);
                        changes.push(Change {
                            rev,
                            key: k.clone(),
                            kv: None,
                            prev: prev.clone(),
                        });
                        if *prev_kv {
                            prevs.extend(prev);
                        }
                    }
                    responses.push(TxnOpResponse::Delete {
                        deleted: keys.len() as i64,
                        prev_kvs: prevs,
                    });
                }
                TxnOp::Range(r) => {
                    let resp = if r.revision > 0 {
                        range_of(&self.state_at(r.revision), r)
                    } else {
                        range_of(&work, r)
                    };
                    responses.push(TxnOpResponse::Range(resp));
                }
            }
        }
        let wrote = !changes.is_empty();
        let revision = if wrote { rev } else { self.current };
        for r in &mut responses {
            if let TxnOpResponse::Range(r) = r {
                r.revision = revision;
            }
        }
        if wrote {
            self.changes.extend(changes);
            self.live = work;
            self.current = rev;
        }
        Ok(TxnResponse {
            succeeded,
            revision,
            responses,
        })
    }

    fn compact(&mut self, rev: Revision) -> Result<(), Expected> {
        if rev <= self.compacted {
            return Err(Expected::Compacted {
                requested: rev,
                compacted: self.compacted,
            });
        }
        if rev > self.current {
            return Err(Expected::Future {
                requested: rev,
                current: self.current,
            });
        }
        self.compacted = rev;
        self.compactions.push(rev);
        Ok(())
    }

    /// Watch events on `range` for revisions `from..=to`. With
    /// `compacted_at = Some(c)` the events of revision `c` are as a store
    /// compacted at `c` still has them (as in etcd): a delete at `c` is gone
    /// and no event at `c` has a `prev_kv` (it lay below `c`).
    fn events(
        &self,
        range: &KeyRange,
        from: Revision,
        to: Revision,
        prev_kv: bool,
        compacted_at: Option<Revision>,
    ) -> Vec<WatchEvent> {
        let mut out = Vec::new();
        for c in &self.changes {
            if c.rev < from || c.rev > to || !range.contains(&c.key) {
                continue;
            }
            let at_compaction = compacted_at == Some(c.rev);
            if at_compaction && c.kv.is_none() {
                continue;
            }
            let prev = if prev_kv && !at_compaction {
                c.prev.clone()
            } else {
                None
            };
            out.push(match &c.kv {
                Some(kv) => WatchEvent {
                    kind: EventKind::Put,
                    kv: kv.clone(),
                    prev_kv: prev,
                },
                None => WatchEvent {
                    kind: EventKind::Delete,
                    kv: KeyValue {
                        key: c.key.clone(),
                        value: Bytes::new(),
                        create_revision: 0,
                        mod_revision: c.rev,
                        version: 0,
                    },
                    prev_kv: prev,
                },
            });
        }
        out
    }
}

fn range_of(state: &State, req: &RangeRequest) -> RangeResponse {
    let all: Vec<&KeyValue> = state
        .iter()
        .filter(|(k, _)| req.range.contains(k))
        .map(|(_, kv)| kv)
        .collect();
    let count = all.len() as i64;
    let limit = if req.limit > 0 {
        req.limit as usize
    } else {
        usize::MAX
    };
    let mut kvs = Vec::new();
    let mut more = false;
    if !req.count_only {
        for kv in all.iter().take(limit) {
            let mut kv = (*kv).clone();
            if req.keys_only {
                kv.value = Bytes::new();
            }
            kvs.push(kv);
        }
        more = all.len() > limit;
    }
    RangeResponse {
        kvs,
        count,
        more,
        revision: 0,
    }
}

fn compare(state: &State, c: &Compare) -> bool {
    let kv = state.get(&c.key);
    let ord = match (&c.target, kv) {
        (CompareTarget::Value(_), None) => return false,
        (CompareTarget::Value(v), Some(kv)) => kv.value[..].cmp(&v[..]),
        (CompareTarget::ModRevision(r), _) => kv.map_or(0, |kv| kv.mod_revision).cmp(r),
        (CompareTarget::CreateRevision(r), _) => kv.map_or(0, |kv| kv.create_revision).cmp(r),
        (CompareTarget::Version(v), _) => kv.map_or(0, |kv| kv.version).cmp(v),
    };
    match c.op {
        CompareOp::Equal => ord.is_eq(),
        CompareOp::NotEqual => ord.is_ne(),
        CompareOp::Greater => ord.is_gt(),
        CompareOp::Less => ord.is_lt(),
    }
}

// ---------------------------------------------------------------------------
// Generated operations
// ---------------------------------------------------------------------------

const KEYS: u8 = 8;

fn key(i: u8) -> Bytes {
    let prefix = if i < KEYS / 2 { "a" } else { "b" };
    Bytes::from(format!("{prefix}/{}", i % (KEYS / 2)))
}

/// A value: a few distinct contents (so value compares can hold), some of
/// them long (so segments fill up).
#[derive(Clone, Copy, Debug)]
struct Val {
    n: u8,
    len: u16,
}

impl Val {
    fn bytes(self) -> Bytes {
        let mut v = format!("v{}", self.n).into_bytes();
        v.resize(v.len() + self.len as usize, b'.');
        Bytes::from(v)
    }
}

fn val() -> impl Strategy<Value = Val> {
    (0..4u8, prop_oneof![Just(0u16), Just(16), Just(500)]).prop_map(|(n, len)| Val { n, len })
}

/// Which keys an operation touches.
#[derive(Clone, Copy, Debug)]
enum Target {
    Key(u8),
    /// 0: `a/`, 1: `b/`, 2: everything.
    Prefix(u8),
    /// `[key(a), key(b))` (empty when `b <= a`).
    Between(u8, u8),
}

impl Target {
    fn range(self) -> KeyRange {
        match self {
            Target::Key(i) => KeyRange::key(key(i)),
            Target::Prefix(0) => KeyRange::prefix("a/"),
            Target::Prefix(1) => KeyRange::prefix("b/"),
            Target::Prefix(_) => KeyRange::prefix(Bytes::new()),
            Target::Between(a, b) => KeyRange::between(key(a), key(b)),
        }
    }
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        4 => (0..KEYS).prop_map(Target::Key),
        2 => (0..3u8).prop_map(Target::Prefix),
        1 => (0..KEYS, 0..KEYS).prop_map(|(a, b)| Target::Between(a, b)),
    ]
}

/// A revision to read, watch or compact at, resolved against the model
/// when the operation runs.
#[derive(Clone, Copy, Debug)]
enum RevSel {
    /// 0: "now".
    Now,
    /// Anything from 1 to two past the current revision.
    Any(u16),
    /// The compacted revision plus -1, 0 or 1.
    NearCompacted(i8),
}

impl RevSel {
    fn resolve(self, m: &Model) -> Revision {
        match self {
            RevSel::Now => 0,
            RevSel::Any(n) => 1 + Revision::from(n) % (m.current + 2),
            RevSel::NearCompacted(d) => (m.compacted + Revision::from(d)).max(1),
        }
    }
}

fn rev_sel() -> impl Strategy<Value = RevSel> {
    prop_oneof![
        2 => Just(RevSel::Now),
        3 => any::<u16>().prop_map(RevSel::Any),
        1 => (-1i8..=1).prop_map(RevSel::NearCompacted),
    ]
}

#[derive(Clone, Copy, Debug)]
enum CmpSpec {
    /// mod_revision against the key's actual one plus an offset.
    ModRev(i8),
    /// mod_revision against any revision.
    ModRevAny(u16),
    /// create_revision against the key's actual one.
    CreateRev,
    /// version against the key's actual one plus an offset.
    Version(i8),
    /// value against a generated value.
    Value(Val),
    /// value against the key's actual value.
    ValueActual,
}

#[derive(Clone, Copy, Debug)]
struct Cmp {
    key: u8,
    spec: CmpSpec,
    op: CompareOp,
}

fn cmp() -> impl Strategy<Value = Cmp> {
    let spec = prop_oneof![
        3 => (-1i8..=1).prop_map(CmpSpec::ModRev),
        1 => any::<u16>().prop_map(CmpSpec::ModRevAny),
        1 => Just(CmpSpec::CreateRev),
        1 => (-1i8..=1).prop_map(CmpSpec::Version),
        2 => val().prop_map(CmpSpec::Value),
        2 => Just(CmpSpec::ValueActual),
    ];
    let op = prop_oneof![
        4 => Just(CompareOp::Equal),
        2 => Just(CompareOp::NotEqual),
        1 => Just(CompareOp::Greater),
        1 => Just(CompareOp::Less),
    ];
    (0..KEYS, spec, op).prop_map(|(key, spec, op)| Cmp { key, spec, op })
}

impl Cmp {
    fn resolve(self, m: &Model) -> Compare {
        let k = key(self.key);
        let kv = m.live.get(&k);
        let target = match self.spec {
            CmpSpec::ModRev(d) => {
                CompareTarget::ModRevision(kv.map_or(0, |kv| kv.mod_revision) + Revision::from(d))
            }
            CmpSpec::ModRevAny(n) => {
                CompareTarget::ModRevision(Revision::from(n) % (m.current + 2))
            }
            CmpSpec::CreateRev => {
                CompareTarget::CreateRevision(kv.map_or(0, |kv| kv.create_revision))
            }
            CmpSpec::Version(d) => {
                CompareTarget::Version(kv.map_or(0, |kv| kv.version) + i64::from(d))
            }
            CmpSpec::Value(v) => CompareTarget::Value(v.bytes()),
            CmpSpec::ValueActual => CompareTarget::Value(
                kv.map_or_else(|| Val { n: 0, len: 0 }.bytes(), |kv| kv.value.clone()),
            ),
        };
        Compare {
            key: k,
            op: self.op,
            target,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Read {
    target: Target,
    rev: RevSel,
    limit: u8,
    keys_only: bool,
    count_only: bool,
}

fn read() -> impl Strategy<Value = Read> {
    (
        target(),
        rev_sel(),
        0..4u8,
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(target, rev, limit, keys_only, count_only)| Read {
            target,
            rev,
            limit,
            keys_only,
            count_only,
        })
}

impl Read {
    fn resolve(self, m: &Model) -> RangeRequest {
        RangeRequest {
            range: self.target.range(),
            revision: self.rev.resolve(m),
            limit: i64::from(self.limit),
            count_only: self.count_only,
            keys_only: self.keys_only,
            // Exact counts only: `skip_count` is checked by the conformance
            // tests, where a lower bound is the contract.
            skip_count: false,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum TOp {
    Put { key: u8, val: Val, prev_kv: bool },
    Delete { target: Target, prev_kv: bool },
    Range(Read),
}

fn top() -> impl Strategy<Value = TOp> {
    prop_oneof![
        4 => (0..KEYS, val(), any::<bool>()).prop_map(|(key, val, prev_kv)| TOp::Put { key, val, prev_kv }),
        2 => (target(), any::<bool>()).prop_map(|(target, prev_kv)| TOp::Delete { target, prev_kv }),
        2 => read().prop_map(TOp::Range),
    ]
}

impl TOp {
    fn resolve(self, m: &Model) -> TxnOp {
        match self {
            TOp::Put {
                key: k,
                val,
                prev_kv,
            } => TxnOp::Put {
                key: key(k),
                value: val.bytes(),
                prev_kv,
            },
            TOp::Delete { target, prev_kv } => TxnOp::Delete {
                range: target.range(),
                prev_kv,
            },
            TOp::Range(r) => TxnOp::Range(r.resolve(m)),
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Put {
        key: u8,
        val: Val,
    },
    Delete(Target),
    Txn {
        compares: Vec<Cmp>,
        success: Vec<TOp>,
        failure: Vec<TOp>,
    },
    Range(Read),
    Compact(RevSel),
    /// Open a watch. `eager`: poll it once at once (so it catches up before
    /// anything else happens); otherwise it is first polled later.
    Watch {
        target: Target,
        start: RevSel,
        prev_kv: bool,
        eager: bool,
    },
    /// Take whatever events the open watches have ready.
    Poll,
    Snapshot,
    /// Close the store and reopen it on the same directory.
    Restart,
    /// Power loss: reopen on what was durable, with the old store still
    /// running; `torn` keeps a random part of unsynced bytes too.
    Crash {
        torn: bool,
    },
    /// A put whose write or fsync fails (`fault`); then reopen, after a
    /// power loss or not.
    FailingPut {
        key: u8,
        val: Val,
        fault: Fault,
        then: Reopen,
    },
}

/// How a store is reopened after a failed write.
#[derive(Clone, Copy, Debug)]
enum Reopen {
    /// Close and reopen on the same directory.
    Restart,
    /// Reopen on what survives a power loss.
    PowerLoss { torn: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0..KEYS, val()).prop_map(|(key, val)| Op::Put { key, val }),
        2 => target().prop_map(Op::Delete),
        6 => (
            prop::collection::vec(cmp(), 0..3),
            prop::collection::vec(top(), 0..4),
            prop::collection::vec(top(), 0..4),
        )
            .prop_map(|(compares, success, failure)| Op::Txn { compares, success, failure }),
        4 => read().prop_map(Op::Range),
        2 => rev_sel().prop_map(Op::Compact),
        3 => (target(), rev_sel(), any::<bool>(), any::<bool>())
            .prop_map(|(target, start, prev_kv, eager)| Op::Watch { target, start, prev_kv, eager }),
        1 => Just(Op::Poll),
        1 => Just(Op::Snapshot),
        1 => Just(Op::Restart),
        1 => any::<bool>().prop_map(|torn| Op::Crash { torn }),
        1 => (
            0..KEYS,
            val(),
            prop_oneof![Just(Fault::SyncAfter(0)), Just(Fault::AppendAfter(0))],
            prop_oneof![
                Just(Reopen::Restart),
                any::<bool>().prop_map(|torn| Reopen::PowerLoss { torn }),
            ],
        )
            .prop_map(|(key, val, fault, then)| Op::FailingPut { key, val, fault, then }),
    ]
}

// ---------------------------------------------------------------------------
// Watches
// ---------------------------------------------------------------------------

/// How long a closed store's watch may take to deliver what it has.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

struct OpenWatch {
    /// The step that opened it (for messages).
    step: usize,
    stream: WatchStream,
    range: KeyRange,
    /// The requested start revision (0 = now).
    start: Revision,
    prev_kv: bool,
    eager: bool,
    /// The model's current and compacted revisions when it was opened.
    opened_at: Revision,
    compacted_at_open: Revision,
    /// How many compactions the model had done when it was opened.
    compactions_at_open: usize,
    batches: Vec<Vec<WatchEvent>>,
    end: Option<StoreError>,
}

impl OpenWatch {
    /// Take every batch that is ready now (without waiting).
    fn poll_ready(&mut self) {
        while self.end.is_none() {
            match self.stream.next().now_or_never() {
                None => return,
                Some(item) => self.take(item),
            }
        }
    }

    fn take(&mut self, item: Option<rkube_store::Result<Vec<WatchEvent>>>) {
        match item {
            Some(Ok(batch)) => {
                assert!(
                    !batch.is_empty(),
                    "watch of step {} yielded an empty batch",
                    self.step
                );
                self.batches.push(batch);
            }
            Some(Err(e)) => self.end = Some(e),
            None => panic!("watch of step {} ended without an error", self.step),
        }
    }

    /// After its store closed: take the rest and check it against the model,
    /// which is at the revision the store closed at.
    async fn finish(mut self, m: &Model) {
        while self.end.is_none() {
            let item = tokio::time::timeout(DRAIN_TIMEOUT, self.stream.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "watch of step {} did not end after its store closed",
                        self.step
                    )
                });
            self.take(item);
        }
        assert!(
            self.stream.next().await.is_none(),
            "watch of step {} went on after its error",
            self.step
        );
        for pair in self.batches.windows(2) {
            let (a, b) = (&pair[0], &pair[1]);
            let last = a.last().map(|e| e.kv.mod_revision);
            let first = b.first().map(|e| e.kv.mod_revision);
            assert!(
                last < first,
                "watch of step {} split or reordered revisions: {a:?} then {b:?}",
                self.step
            );
        }
        let got: Vec<WatchEvent> = self.batches.concat();
        let end = self.end.take().expect("ended");
        let ctx = format!(
            "watch of step {} on {:?} from {} (prev_kv {}, eager {}, opened at {}, compacted then {}, compactions since {:?})",
            self.step,
            self.range,
            self.start,
            self.prev_kv,
            self.eager,
            self.opened_at,
            self.compacted_at_open,
            &m.compactions[self.compactions_at_open..],
        );

        if self.start > 0 && self.start < self.compacted_at_open {
            assert!(
                got.is_empty(),
                "{ctx}: events from a compacted revision: {got:?}"
            );
            let want = Expected::Compacted {
                requested: self.start,
                compacted: self.compacted_at_open,
            };
            assert!(
                matches(&end, &want),
                "{ctx}: ended with {end:?}, want {want:?}"
            );
            return;
        }
        let from = if self.start > 0 {
            self.start
        } else {
            self.opened_at + 1
        };
        let raw = m.events(&self.range, from, m.current, self.prev_kv, None);
        let as_compacted = m.events(&self.range, from, m.current, self.prev_kv, Some(from));
        let past_start = self.start > 0 && self.start <= self.opened_at;
        let later = &m.compactions[self.compactions_at_open..];

        if self.eager {
            // It caught up at once, so only the compaction in force then matters.
            let want = if self.start > 0 && self.start == self.compacted_at_open {
                as_compacted
            } else {
                raw
            };
            assert!(
                matches!(end, StoreError::Closed),
                "{ctx}: ended with {end:?}, want Closed"
            );
            assert_events(&got, &want, &ctx);
            return;
        }
        // It caught up (if it had to) whenever it was first polled, under
        // whichever compaction was in force then.
        if let StoreError::Compacted {
            requested,
            compacted,
        } = &end
        {
            assert!(
                past_start && *requested == self.start && later.iter().any(|c| *c > self.start),
                "{ctx}: ended with {end:?} but no compaction passed its start"
            );
            assert!(
                later.contains(compacted) && *compacted > self.start,
                "{ctx}: ended with {end:?}"
            );
            assert!(
                got.is_empty(),
                "{ctx}: events before the compaction error: {got:?}"
            );
            return;
        }
        assert!(
            matches!(end, StoreError::Closed),
            "{ctx}: ended with {end:?}, want Closed"
        );
        let compacted_at_start =
            past_start && (self.start == self.compacted_at_open || later.contains(&self.start));
        if compacted_at_start && got == as_compacted {
            return;
        }
        assert_events(&got, &raw, &ctx);
    }
}

fn assert_events(got: &[WatchEvent], want: &[WatchEvent], ctx: &str) {
    if got == want {
        return;
    }
    let first_diff = got
        .iter()
        .zip(want)
        .position(|(g, w)| g != w)
        .unwrap_or(got.len().min(want.len()));
    panic!(
        "{ctx}: events differ at index {first_diff}\n  got  ({} events): {:?}\n  want ({} events): {:?}",
        got.len(),
        got.get(first_diff..),
        want.len(),
        want.get(first_diff..),
    );
}

// ---------------------------------------------------------------------------
// The test
// ---------------------------------------------------------------------------

fn options() -> EmbeddedOptions {
    let mut o = EmbeddedOptions::new("unused");
    o.segment_bytes = 1024;
    o.snapshot_min_bytes = 1024;
    o.watch_buffer = 1024;
    o.compaction = CompactionPolicy::Manual;
    o
}

fn open(dir: &MemDir) -> EmbeddedStore {
    EmbeddedStore::open_on(Arc::new(dir.clone()), options()).expect("open the store")
}

fn check<T: PartialEq + std::fmt::Debug>(
    got: rkube_store::Result<T>,
    want: Result<T, Expected>,
    what: &str,
) {
    match (&got, &want) {
        (Ok(g), Ok(w)) => assert_eq!(g, w, "{what}"),
        (Err(e), Err(w)) if matches(e, w) => {}
        _ => panic!("{what}:\n  got  {got:?}\n  want {want:?}"),
    }
}

/// The store's whole visible history equals the model's: the current
/// revision, the compacted revision, every key at every readable revision.
async fn check_history(store: &EmbeddedStore, m: &Model, when: &str) {
    let cur = store.current_revision().await.expect("current revision");
    assert_eq!(cur, m.current, "{when}: current revision");
    assert_eq!(
        store.compacted_revision(),
        m.compacted,
        "{when}: compacted revision"
    );
    for rev in m.compacted.max(1)..=m.current {
        let req = RangeRequest::new(KeyRange::prefix(Bytes::new())).at_revision(rev);
        check(
            store.range(req.clone()).await,
            m.range(&req),
            &format!("{when}: everything at {rev}"),
        );
    }
    if m.compacted > 1 {
        let req = RangeRequest::new(KeyRange::prefix(Bytes::new())).at_revision(m.compacted - 1);
        check(
            store.range(req.clone()).await,
            m.range(&req),
            &format!("{when}: below compaction"),
        );
    }
}

struct Harness {
    dir: MemDir,
    store: EmbeddedStore,
    model: Model,
    watches: Vec<OpenWatch>,
}

impl Harness {
    /// Close the store and check every watch it had; then reopen it, on
    /// what survived a power loss if `then` says so.
    async fn reopen(&mut self, then: Reopen) {
        if let Reopen::PowerLoss { torn } = then {
            // The machine dies with the store still running; the old store is
            // then stopped only to end its threads and watches.
            self.dir = self.dir.crash(torn);
        }
        self.store.close();
        self.finish_watches().await;
        self.store = open(&self.dir);
    }

    /// Open a watch, to be checked when its store closes. An `eager` one is
    /// polled at once, so it catches up before anything else happens.
    async fn open_watch(&mut self, step: usize, req: WatchRequest, eager: bool) {
        let stream = self.store.watch(req.clone()).await.expect("open a watch");
        let mut w = OpenWatch {
            step,
            stream,
            range: req.range,
            start: req.start_revision,
            prev_kv: req.prev_kv,
            eager,
            opened_at: self.model.current,
            compacted_at_open: self.model.compacted,
            compactions_at_open: self.model.compactions.len(),
            batches: Vec::new(),
            end: None,
        };
        if eager {
            w.poll_ready();
        }
        self.watches.push(w);
    }

    async fn finish_watches(&mut self) {
        for w in std::mem::take(&mut self.watches) {
            w.finish(&self.model).await;
        }
    }

    async fn step(&mut self, i: usize, op: &Op) {
        let what = format!("step {i}: {op:?}");
        let m = &mut self.model;
        let s = &self.store;
        match op {
            Op::Put { key: k, val } => {
                let req = TxnRequest {
                    success: vec![TxnOp::put(key(*k), val.bytes())],
                    ..Default::default()
                };
                let want = m.txn(&req).map(|r| r.revision);
                check(s.put(key(*k), val.bytes()).await, want, &what);
            }
            Op::Delete(t) => {
                let req = TxnRequest {
                    success: vec![TxnOp::delete(t.range())],
                    ..Default::default()
                };
                let want = m.txn(&req).map(|r| match r.responses.first() {
                    Some(TxnOpResponse::Delete { deleted, .. }) => (*deleted, r.revision),
                    _ => (0, r.revision),
                });
                check(s.delete(t.range()).await, want, &what);
            }
            Op::Txn {
                compares,
                success,
                failure,
            } => {
                let req = TxnRequest {
                    compares: compares.iter().map(|c| c.resolve(m)).collect(),
                    success: success.iter().map(|o| o.resolve(m)).collect(),
                    failure: failure.iter().map(|o| o.resolve(m)).collect(),
                };
                let want = m.txn(&req);
                check(
                    s.txn(req.clone()).await,
                    want,
                    &format!("{what}\n  request {req:?}"),
                );
            }
            Op::Range(r) => {
                let req = r.resolve(m);
                check(
                    s.range(req.clone()).await,
                    m.range(&req),
                    &format!("{what}\n  request {req:?}"),
                );
            }
            Op::Compact(r) => {
                let rev = r.resolve(m);
                let want = m.compact(rev);
                check(
                    s.compact(rev).await,
                    want,
                    &format!("{what}: compact to {rev}"),
                );
                assert_eq!(
                    s.compacted_revision(),
                    m.compacted,
                    "{what}: compacted revision"
                );
            }
            Op::Watch {
                target,
                start,
                prev_kv,
                eager,
            } => {
                let mut req = WatchRequest::new(target.range()).from_revision(start.resolve(m));
                req.prev_kv = *prev_kv;
                self.open_watch(i, req, *eager).await;
            }
            Op::Poll => {
                for w in &mut self.watches {
                    w.poll_ready();
                }
            }
            Op::Snapshot => s.snapshot().await.expect("snapshot"),
            Op::Restart => {
                self.reopen(Reopen::Restart).await;
                check_history(&self.store, &self.model, &what).await;
            }
            Op::Crash { torn } => {
                // Every acknowledged write was synced: nothing may be lost.
                self.reopen(Reopen::PowerLoss { torn: *torn }).await;
                check_history(&self.store, &self.model, &what).await;
            }
            Op::FailingPut {
                key: k,
                val,
                fault,
                then,
            } => {
                self.dir.set_fault(Some(*fault));
                let got = s.put(key(*k), val.bytes()).await;
                assert!(
                    matches!(got, Err(StoreError::Io(_))),
                    "{what}: failing put gave {got:?}"
                );
                let got = s.put(key(*k), val.bytes()).await;
                assert!(
                    matches!(got, Err(StoreError::Failed(_))),
                    "{what}: put after a failure gave {got:?}"
                );
                self.dir.set_fault(None);
                // Reads still serve what was durable.
                let req = RangeRequest::new(KeyRange::prefix(Bytes::new()));
                check(
                    s.range(req.clone()).await,
                    m.range(&req),
                    &format!("{what}: read after failure"),
                );
                assert_eq!(
                    s.current_revision().await.expect("revision"),
                    m.current,
                    "{what}"
                );

                self.reopen(*then).await;
                // Unless a power loss cut them, the failed write's bytes may
                // still be in the file: it was never acknowledged, so either
                // outcome is right — but all of it or nothing.
                let may_survive = !matches!(then, Reopen::PowerLoss { torn: false });
                let cur = self.store.current_revision().await.expect("revision");
                if cur == self.model.current + 1 && may_survive {
                    let req = TxnRequest {
                        success: vec![TxnOp::put(key(*k), val.bytes())],
                        ..Default::default()
                    };
                    self.model.txn(&req).expect("model put");
                }
                check_history(&self.store, &self.model, &format!("{what}: reopened")).await;
            }
        }
    }
}

async fn run(ops: Vec<Op>) {
    let dir = MemDir::new();
    let store = open(&dir);
    let mut h = Harness {
        dir,
        store,
        model: Model::new(),
        watches: Vec::new(),
    };
    for (i, op) in ops.iter().enumerate() {
        h.step(i, op).await;
    }
    check_history(&h.store, &h.model, "at the end").await;
    // One last watch replays the whole retained history.
    let from = h.model.compacted.max(1);
    let req = WatchRequest::new(KeyRange::prefix(Bytes::new()))
        .from_revision(from)
        .with_prev_kv();
    h.open_watch(ops.len(), req, true).await;
    h.store.close();
    h.finish_watches().await;
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // Integration tests have no lib.rs beside them to keep regressions
        // next to; a failure found here becomes a named test below.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn embedded_store_matches_the_model(ops in prop::collection::vec(op(), 1..60)) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(run(ops));
    }
}

// ---------------------------------------------------------------------------
// Regressions: what the model test found, as plain tests
// ---------------------------------------------------------------------------

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(f)
}

/// A delete whose range ends before it starts matches nothing (as in etcd);
/// the store must neither panic nor leave the transaction half applied.
#[test]
fn delete_of_an_inverted_range_deletes_nothing() {
    block_on(async {
        let store = open(&MemDir::new());
        assert_eq!(store.put(key(0), Bytes::from("x")).await.expect("put"), 2);
        let req = TxnRequest {
            success: vec![
                TxnOp::put(key(4), Bytes::from("y")),
                TxnOp::delete(KeyRange::between(key(2), key(0))),
            ],
            ..Default::default()
        };
        let want = TxnResponse {
            succeeded: true,
            revision: 3,
            responses: vec![
                TxnOpResponse::Put { prev_kv: None },
                TxnOpResponse::Delete {
                    deleted: 0,
                    prev_kvs: vec![],
                },
            ],
        };
        let store2 = store.clone();
        let got = tokio::spawn(async move { store2.txn(req).await }).await;
        let got = got.expect("the transaction panicked").expect("txn");
        assert_eq!(got, want);
        assert_eq!(store.put(key(5), Bytes::from("z")).await.expect("put"), 4);
        let all = store
            .range(RangeRequest::new(KeyRange::prefix(Bytes::new())))
            .await
            .expect("range");
        let revs: Vec<_> = all
            .kvs
            .iter()
            .map(|kv| (kv.key.clone(), kv.mod_revision, kv.version))
            .collect();
        assert_eq!(revs, vec![(key(0), 2, 1), (key(4), 3, 1), (key(5), 4, 1)]);
    });
}

/// A watch from revision 0 ("changes after now") gets nothing written
/// before it was opened, even right after a write was acknowledged.
#[test]
fn watch_from_now_starts_after_the_current_revision() {
    block_on(async {
        let store = open(&MemDir::new());
        let mut watches = Vec::new();
        for i in 0..200 {
            let rev = store
                .put(key(i % KEYS), Bytes::from(format!("{i}")))
                .await
                .expect("put");
            let w = store
                .watch(WatchRequest::new(KeyRange::prefix(Bytes::new())))
                .await
                .expect("watch");
            watches.push((rev, w));
        }
        store.close();
        let mut early = Vec::new();
        for (opened_after, mut w) in watches {
            while let Ok(Some(Ok(batch))) = tokio::time::timeout(DRAIN_TIMEOUT, w.next()).await {
                early.extend(
                    batch
                        .into_iter()
                        .filter(|e| e.kv.mod_revision <= opened_after)
                        .map(|e| (opened_after, e.kv.mod_revision)),
                );
            }
        }
        assert!(
            early.is_empty(),
            "watches from now got earlier revisions (opened after, event revision): {early:?}"
        );
    });
}

/// Reopening a store whose last write failed may bring that write back (its
/// bytes reached the file), but only once they are durable: what a reopened
/// store serves must survive a power loss that follows.
#[test]
fn reopening_serves_only_durable_writes() {
    block_on(async {
        let dir = MemDir::new();
        let store = open(&dir);
        assert_eq!(store.put(key(0), Bytes::from("x")).await.expect("put"), 2);
        dir.set_fault(Some(Fault::SyncAfter(0)));
        assert!(matches!(
            store.put(key(1), Bytes::from("y")).await,
            Err(StoreError::Io(_))
        ));
        dir.set_fault(None);
        store.close();

        let store = open(&dir);
        let served = store.current_revision().await.expect("revision");
        let seen = store.get(key(1)).await.expect("get");
        let after_power_loss = open(&dir.crash(false));
        let kept = after_power_loss.current_revision().await.expect("revision");
        assert_eq!(
            (kept, after_power_loss.get(key(1)).await.expect("get")),
            (served, seen),
            "the reopened store served revision {served}; after a power loss the store is at {kept}"
        );
    });
}
