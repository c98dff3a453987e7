//! [`EmbeddedStore`]: the handle, its threads, and the `Store` implementation.
//!
//! Threads (all started by `open`, stopped by `close` or when the last
//! handle drops):
//! - the committer (`commit.rs`): writes and fsyncs batches;
//! - the hub (`hub.rs`): fans durable revisions out to watchers;
//! - the snapshotter: writes snapshots when the log since the last one
//!   outgrows it, then removes the segments it covers;
//! - the compactor (`compactor.rs`), unless compaction is manual.
//!
//! Visibility: the index holds every applied revision, but reads are served
//! at the *durable* revision, so nothing is ever seen before it is on disk.
//!
//! Lock order: `maintenance` → `index` → `queue.pending`; the hub's lock is
//! never held together with `index`.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use parking_lot::{Condvar, Mutex, RwLock};

use super::commit::{self, CommitQueue, LogWriter, OnDurable, Waiter};
use super::hub::Hub;
use super::index::Index;
use super::record::{encode_compact, encode_txn, LogOp};
use super::recovery::recover;
use super::{compactor, segment, snapshot, CompactionPolicy, EmbeddedOptions};
use crate::backend::{Dir, FileDir};
use crate::error::{Result, StoreError};
use crate::metrics::StoreMetrics;
use crate::store::{Store, WatchStream};
use crate::types::*;

/// Keys compaction handles per lock acquisition.
const KEYS_PER_CHUNK: usize = 10_000;
/// Keys per snapshot record: small enough that its buffer (~1 MiB with
/// 1 KiB values) never becomes a large transient allocation.
const SNAPSHOT_KEYS_PER_CHUNK: usize = 1_000;

#[derive(Default)]
struct SnapState {
    log_bytes: u64,
    last_snapshot_bytes: u64,
    last_snapshot_rev: Revision,
    requested: bool,
}

/// State shared by the handles and the threads.
pub(super) struct Shared {
    dir: Arc<dyn Dir>,
    opts: EmbeddedOptions,
    pub(super) index: RwLock<Index>,
    queue: CommitQueue,
    durable: AtomicI64,
    pub(super) hub: Hub,
    metrics: Arc<StoreMetrics>,
    /// Held by compaction and snapshotting, which must not interleave.
    maintenance: Mutex<()>,
    snap: Mutex<SnapState>,
    snap_wake: Condvar,
    stopping: Mutex<bool>,
    stop_wake: Condvar,
}

struct Closer {
    shared: Arc<Shared>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Closer {
    fn drop(&mut self) {
        self.close();
    }
}

impl Closer {
    fn close(&self) {
        let threads = std::mem::take(&mut *self.threads.lock());
        if threads.is_empty() {
            return;
        }
        let s = &self.shared;
        s.queue.close();
        *s.stopping.lock() = true;
        s.stop_wake.notify_all();
        s.snap_wake.notify_all();
        // The committer drains first; then the hub hands out the last revisions.
        let mut threads = threads.into_iter();
        if let Some(committer) = threads.next() {
            let _ = committer.join();
        }
        s.hub.wait_dispatched(s.durable.load(Ordering::Acquire));
        s.hub.close();
        for t in threads {
            let _ = t.join();
        }
    }
}

/// The embedded store. Cheap to clone; clones share one store, which closes
/// when the last clone is dropped (or on [`EmbeddedStore::close`]).
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
    closer: Arc<Closer>,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("dir", &self.shared.dir)
            .field("durable", &self.shared.durable.load(Ordering::Relaxed))
            .finish()
    }
}

struct Durable(Arc<Shared>);

impl OnDurable for Durable {
    fn durable(&mut self, rev: Revision) {
        self.0.durable.store(rev, Ordering::Release);
    }

    fn after_ack(&mut self, rev: Revision, bytes: u64) {
        let s = &self.0;
        s.hub.announce(rev);
        let mut snap = s.snap.lock();
        snap.log_bytes += bytes;
        if !snap.requested
            && snap.log_bytes > s.opts.snapshot_min_bytes.max(snap.last_snapshot_bytes)
        {
            snap.requested = true;
            s.snap_wake.notify_one();
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>> {
    Ok(std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)?)
}

impl EmbeddedStore {
    /// Open (or create) the store in `opts.dir` on real files.
    pub fn open(opts: EmbeddedOptions) -> Result<Self> {
        let dir = FileDir::new(&opts.dir)?;
        Self::open_on(Arc::new(dir), opts)
    }

    /// Open (or create) the store on any [`Dir`] (e.g. a `MemDir`); `opts.dir` is ignored.
    pub fn open_on(dir: Arc<dyn Dir>, opts: EmbeddedOptions) -> Result<Self> {
        let started = Instant::now();
        let rec = recover(dir.as_ref(), opts.watch_window)?;
        let current = rec.index.current();
        let metrics = Arc::new(StoreMetrics::default());
        let shared = Arc::new(Shared {
            dir: dir.clone(),
            index: RwLock::new(rec.index),
            queue: CommitQueue::default(),
            durable: AtomicI64::new(current),
            hub: Hub::new(current, opts.watch_buffer, metrics.clone()),
            metrics,
            maintenance: Mutex::new(()),
            snap: Mutex::new(SnapState {
                log_bytes: rec.log_bytes_since_snapshot,
                last_snapshot_bytes: rec.snapshot_bytes,
                ..Default::default()
            }),
            snap_wake: Condvar::new(),
            stopping: Mutex::new(false),
            stop_wake: Condvar::new(),
            opts,
        });
        shared.queue.pending.lock().last_rev = current;
        tracing::info!(
            revision = current,
            keys = shared.index.read().key_count(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "store recovered"
        );

        let log = LogWriter {
            dir,
            file: rec.segment,
            len: rec.segment_len,
            segment_bytes: shared.opts.segment_bytes,
        };
        let mut threads = Vec::new();
        let s = shared.clone();
        threads.push(spawn("rkube-store-commit", move || {
            let on = Durable(s.clone());
            commit::run(&s.queue, log, &s.metrics, on)
        })?);
        let s = shared.clone();
        threads.push(spawn("rkube-store-hub", move || {
            s.hub.run(|from, to, max| {
                s.index
                    .read()
                    .events(&KeyRange::prefix(Bytes::new()), from, to, true, max)
            })
        })?);
        let s = shared.clone();
        threads.push(spawn("rkube-store-snapshot", move || s.snapshot_loop())?);
        if shared.opts.compaction != CompactionPolicy::Manual {
            let s = shared.clone();
            threads.push(spawn("rkube-store-compact", move || compactor::run(&s))?);
        }
        let closer = Arc::new(Closer {
            shared: shared.clone(),
            threads: Mutex::new(threads),
        });
        Ok(EmbeddedStore { shared, closer })
    }

    /// The store's metrics.
    pub fn metrics(&self) -> Arc<StoreMetrics> {
        self.shared.metrics.clone()
    }

    /// Stop the store's threads; later calls fail with `Closed`. Writes
    /// already queued finish first; watchers end with `Closed`.
    pub fn close(&self) {
        self.closer.close();
    }

    /// Write a snapshot now and remove the log segments it covers (normally
    /// this happens on its own as the log grows).
    pub async fn snapshot(&self) -> Result<()> {
        let s = self.shared.clone();
        tokio::task::spawn_blocking(move || s.write_snapshot())
            .await
            .map_err(|_| StoreError::Closed)?
    }

    /// The compacted revision (0 if never compacted).
    pub fn compacted_revision(&self) -> Revision {
        self.shared.index.read().compacted()
    }
}

impl Shared {
    pub(super) fn durable(&self) -> Revision {
        self.durable.load(Ordering::Acquire)
    }

    pub(super) fn compaction_policy(&self) -> &CompactionPolicy {
        &self.opts.compaction
    }

    /// Sleep up to `d`; returns false when the store is stopping.
    pub(super) fn sleep(&self, d: Duration) -> bool {
        let mut stopping = self.stopping.lock();
        if !*stopping {
            self.stop_wake.wait_for(&mut stopping, d);
        }
        !*stopping
    }

    /// The revision a read at `requested` (0 = now) is served at.
    fn read_revision(&self, index: &Index, requested: Revision) -> Result<Revision> {
        let durable = self.durable();
        let rev = if requested <= 0 { durable } else { requested };
        if rev > durable {
            return Err(StoreError::FutureRevision {
                requested: rev,
                current: durable,
            });
        }
        if rev < index.compacted() {
            return Err(StoreError::Compacted {
                requested: rev,
                compacted: index.compacted(),
            });
        }
        Ok(rev)
    }

    fn range(&self, req: &RangeRequest) -> Result<RangeResponse> {
        let index = self.index.read();
        let rev = self.read_revision(&index, req.revision)?;
        let r = index.range(req, rev);
        self.metrics.reads.inc();
        Ok(RangeResponse {
            kvs: r.kvs,
            count: r.count,
            more: r.more,
            revision: self.durable(),
        })
    }

    /// Evaluate a transaction and queue its record. Returns the response and,
    /// when it must wait for durability, the receiver to wait on.
    fn start_txn(
        &self,
        req: TxnRequest,
    ) -> Result<(
        TxnResponse,
        Option<tokio::sync::oneshot::Receiver<Result<()>>>,
    )> {
        let started = Instant::now();
        let mut index = self.index.write();
        self.queue.pending.lock().check_open()?;
        let cur = index.current();
        let succeeded = req.compares.iter().all(|c| compare(&index, c, cur));
        // etcd rejects a duplicate key in either branch, run or not.
        check_duplicates(&req.failure)?;
        check_duplicates(&req.success)?;
        let ops = if succeeded { req.success } else { req.failure };
        validate_ops(&ops, self, &index)?;

        // Apply in order: later ops see earlier ones (as in etcd).
        let rev = cur + 1;
        let mut log_ops = Vec::new();
        let mut responses = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                TxnOp::Put {
                    key,
                    value,
                    prev_kv,
                } => {
                    let prev = if prev_kv { index.get(&key, rev) } else { None };
                    // Keep exact-size copies: a caller's buffer may have
                    // slack (a serializer's Vec) or be shared with others,
                    // and the index keeps them for as long as they live.
                    let op = LogOp::Put {
                        key: Bytes::copy_from_slice(&key),
                        value: Bytes::copy_from_slice(&value),
                    };
                    index.apply_one(rev, &op);
                    log_ops.push(op);
                    responses.push(TxnOpResponse::Put { prev_kv: prev });
                }
                TxnOp::Delete { range, prev_kv } => {
                    let keys = index.live_keys(&range);
                    let mut prev_kvs = Vec::new();
                    for key in &keys {
                        if prev_kv {
                            prev_kvs.extend(index.get(key, rev));
                        }
                        let op = LogOp::Delete { key: key.clone() };
                        index.apply_one(rev, &op);
                        log_ops.push(op);
                    }
                    responses.push(TxnOpResponse::Delete {
                        deleted: keys.len() as i64,
                        prev_kvs,
                    });
                }
                TxnOp::Range(r) => {
                    let at = if r.revision > 0 { r.revision } else { rev };
                    let res = index.range(&r, at);
                    responses.push(TxnOpResponse::Range(RangeResponse {
                        kvs: res.kvs,
                        count: res.count,
                        more: res.more,
                        revision: 0,
                    }));
                }
            }
        }
        let wrote = !log_ops.is_empty();
        let revision = if wrote { rev } else { cur };
        for r in &mut responses {
            if let TxnOpResponse::Range(r) = r {
                r.revision = revision;
            }
        }
        let resp = TxnResponse {
            succeeded,
            revision,
            responses,
        };

        if !wrote && cur <= self.durable() {
            self.metrics.reads.inc();
            return Ok((resp, None));
        }
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut p = self.queue.pending.lock();
        p.check_open()?;
        if wrote {
            index.set_current(rev);
            encode_txn(&mut p.buf, rev, &log_ops);
            p.last_rev = rev;
            p.txns += 1;
            self.metrics.writes.inc();
        } else {
            self.metrics.reads.inc();
        }
        p.waiters.push(Waiter {
            tx,
            started,
            is_write: wrote,
        });
        drop(p);
        drop(index);
        self.queue.notify();
        Ok((resp, Some(rx)))
    }

    /// Compact to `rev` (blocking; run off the async runtime).
    pub(super) fn compact_blocking(&self, rev: Revision) -> Result<()> {
        let _m = self.maintenance.lock();
        {
            let index = self.index.read();
            if rev <= index.compacted() {
                return Err(StoreError::Compacted {
                    requested: rev,
                    compacted: index.compacted(),
                });
            }
            if rev > self.durable() {
                return Err(StoreError::FutureRevision {
                    requested: rev,
                    current: self.durable(),
                });
            }
        }
        // Log the compaction first, so that a restart repeats it.
        let (tx, rx) = tokio::sync::oneshot::channel();
        {
            let mut p = self.queue.pending.lock();
            p.check_open()?;
            encode_compact(&mut p.buf, rev);
            p.waiters.push(Waiter {
                tx,
                started: Instant::now(),
                is_write: false,
            });
        }
        self.queue.notify();
        rx.blocking_recv().map_err(|_| StoreError::Closed)??;
        // Events up to `rev` must reach watchers before their history goes.
        self.hub.wait_dispatched(rev);
        let started = Instant::now();
        self.index.write().begin_compaction(rev);
        let mut from = Bytes::new();
        while let Some(next) = self.index.write().compact_keys(rev, &from, KEYS_PER_CHUNK) {
            from = next;
        }
        self.metrics.compactions.inc();
        tracing::info!(
            revision = rev,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "compacted"
        );
        Ok(())
    }

    fn snapshot_loop(&self) {
        loop {
            {
                let mut snap = self.snap.lock();
                while !snap.requested {
                    if *self.stopping.lock() {
                        return;
                    }
                    self.snap_wake
                        .wait_for(&mut snap, Duration::from_millis(500));
                }
                snap.requested = false;
            }
            if *self.stopping.lock() {
                return;
            }
            if let Err(e) = self.write_snapshot() {
                tracing::warn!(error = %e, "snapshot failed; the log is kept and it will be retried");
            }
        }
    }

    /// Write a snapshot at the durable revision and remove what it covers.
    fn write_snapshot(&self) -> Result<()> {
        let _m = self.maintenance.lock();
        let rev = self.durable();
        let (compacted, start_bytes) = {
            let snap = self.snap.lock();
            if snap.last_snapshot_rev == rev {
                return Ok(());
            }
            (self.index.read().compacted(), snap.log_bytes)
        };
        let started = Instant::now();
        let mut w = snapshot::Writer::create(self.dir.as_ref(), rev, compacted)?;
        let mut from = Bytes::new();
        loop {
            let (chunk, next) = self
                .index
                .read()
                .export(rev, &from, SNAPSHOT_KEYS_PER_CHUNK);
            w.add(&chunk)?;
            match next {
                Some(n) => from = n,
                None => break,
            }
        }
        let orders = self.index.read().multi_key_revisions(rev);
        w.add_orders(&orders)?;
        let size = w.finish()?;
        {
            let mut snap = self.snap.lock();
            snap.last_snapshot_bytes = size;
            snap.last_snapshot_rev = rev;
            snap.log_bytes = snap.log_bytes.saturating_sub(start_bytes);
        }
        self.metrics.snapshots.inc();
        let removed = self.remove_covered(rev)?;
        tracing::info!(
            revision = rev,
            bytes = size,
            removed_files = removed,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "snapshot written"
        );
        Ok(())
    }

    /// Remove older snapshots and the segments whose records are all at or
    /// below `rev`.
    fn remove_covered(&self, rev: Revision) -> Result<usize> {
        let names = self.dir.list()?;
        let mut removed = 0;
        for n in &names {
            if snapshot::parse_name(n).is_some_and(|r| r < rev) {
                self.dir.remove(n)?;
                removed += 1;
            }
        }
        let mut segs: Vec<(Revision, &String)> = names
            .iter()
            .filter_map(|n| segment::parse_name(n).map(|r| (r, n)))
            .collect();
        segs.sort();
        for pair in segs.windows(2) {
            if pair[1].0 <= rev + 1 {
                self.dir.remove(pair[0].1)?;
                removed += 1;
            }
        }
        self.dir.sync_dir()?;
        Ok(removed)
    }
}

/// Whether a compare holds at revision `cur` (etcd's rules: a missing key
/// has revisions and version 0, and never equals any value).
fn compare(index: &Index, c: &Compare, cur: Revision) -> bool {
    let kv = index.get(&c.key, cur);
    let ord = match (&c.target, &kv) {
        (CompareTarget::Value(_), None) => return false,
        (CompareTarget::Value(v), Some(kv)) => kv.value[..].cmp(&v[..]),
        (CompareTarget::ModRevision(r), _) => kv.as_ref().map_or(0, |kv| kv.mod_revision).cmp(r),
        (CompareTarget::CreateRevision(r), _) => {
            kv.as_ref().map_or(0, |kv| kv.create_revision).cmp(r)
        }
        (CompareTarget::Version(v), _) => kv.as_ref().map_or(0, |kv| kv.version).cmp(v),
    };
    match c.op {
        CompareOp::Equal => ord.is_eq(),
        CompareOp::NotEqual => ord.is_ne(),
        CompareOp::Greater => ord.is_gt(),
        CompareOp::Less => ord.is_lt(),
    }
}

/// Reject what etcd rejects before anything is applied: empty keys and
/// reads at unavailable revisions.
fn validate_ops(ops: &[TxnOp], s: &Shared, index: &Index) -> Result<()> {
    for op in ops {
        match op {
            TxnOp::Put { key, .. } => {
                if key.is_empty() {
                    return Err(StoreError::InvalidRequest("key is not provided".into()));
                }
            }
            TxnOp::Delete { range, .. } => {
                if range.key.is_empty() && range.range_end.is_none() {
                    return Err(StoreError::InvalidRequest("key is not provided".into()));
                }
            }
            TxnOp::Range(r) => {
                if r.revision > 0 {
                    s.read_revision(index, r.revision)?;
                }
            }
        }
    }
    Ok(())
}

/// A key written twice in one branch (put+put, or a put inside a deleted
/// range) is `InvalidRequest`, as in etcd.
fn check_duplicates(ops: &[TxnOp]) -> Result<()> {
    let mut puts: Vec<&Bytes> = Vec::new();
    let mut deletes: Vec<&KeyRange> = Vec::new();
    for op in ops {
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
        return Err(StoreError::InvalidRequest(
            "duplicate key given in txn request".into(),
        ));
    }
    Ok(())
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.shared.range(&req)
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        let (resp, wait) = self.shared.start_txn(req)?;
        if let Some(rx) = wait {
            rx.await.map_err(|_| StoreError::Closed)??;
        }
        Ok(resp)
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        super::watch::open(self.shared.clone(), req)
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        let s = self.shared.clone();
        tokio::task::spawn_blocking(move || s.compact_blocking(revision))
            .await
            .map_err(|_| StoreError::Closed)?
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.durable())
    }
}
