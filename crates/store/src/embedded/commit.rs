//! Group commit: writers append encoded records to one shared buffer and
//! wait; a single committer thread takes the whole buffer, writes it, fsyncs
//! once and acknowledges everyone in it. While it fsyncs, the next batch
//! gathers — so N concurrent writers share one fsync.
//!
//! A write is acknowledged only after its bytes are durable. If a write or
//! fsync fails, that batch's writers get the error, the store is marked
//! failed, and every later write is refused (reads go on serving what was
//! durable). Reopening recovers whatever reached the disk.

use std::io;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::segment;
use crate::backend::{Dir, LogFile};
use crate::error::{Result, StoreError};
use crate::metrics::StoreMetrics;
use crate::types::Revision;

/// One writer waiting for its revision to be durable.
pub struct Waiter {
    pub tx: oneshot::Sender<Result<()>>,
    pub started: Instant,
    pub is_write: bool,
}

/// The batch being gathered.
#[derive(Default)]
pub struct Pending {
    pub buf: Vec<u8>,
    pub waiters: Vec<Waiter>,
    /// Newest revision encoded in `buf` (or awaited by a waiter).
    pub last_rev: Revision,
    pub txns: u64,
    /// Set by `close`; no batch is accepted after it.
    pub closed: bool,
    /// Set when a write failed; no batch is accepted after it.
    pub failed: Option<String>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.buf.is_empty() && self.waiters.is_empty()
    }

    /// Refuse new work if the store is closed or failed.
    pub fn check_open(&self) -> Result<()> {
        if let Some(why) = &self.failed {
            return Err(StoreError::Failed(why.clone()));
        }
        if self.closed {
            return Err(StoreError::Closed);
        }
        Ok(())
    }
}

/// How long the committer watches for the next write before it sleeps.
/// A lone writer's next request usually arrives within this, and catching it
/// without a sleep/wake round trip takes tens of microseconds off every
/// acknowledgement (it costs at most this much CPU per fsync).
const SPIN: std::time::Duration = std::time::Duration::from_micros(50);

/// The queue between writers and the committer.
#[derive(Default)]
pub struct CommitQueue {
    pub pending: Mutex<Pending>,
    pub wake: Condvar,
    /// Set by writers when they queue work; cleared when the committer takes it.
    has_work: std::sync::atomic::AtomicBool,
}

impl CommitQueue {
    /// Tell the committer there is work (call after queueing it).
    pub fn notify(&self) {
        self.has_work
            .store(true, std::sync::atomic::Ordering::Release);
        self.wake.notify_one();
    }

    /// Spin briefly until work is queued (or the spin time is up).
    fn spin_for_work(&self) {
        let start = Instant::now();
        while !self.has_work.load(std::sync::atomic::Ordering::Acquire) && start.elapsed() < SPIN {
            std::hint::spin_loop();
        }
    }

    /// Close the queue: the committer finishes what is queued, then stops.
    pub fn close(&self) {
        self.pending.lock().closed = true;
        self.wake.notify_all();
    }
}

/// The open end of the log, owned by the committer thread.
pub struct LogWriter {
    pub dir: Arc<dyn Dir>,
    pub file: Box<dyn LogFile>,
    pub len: u64,
    pub segment_bytes: u64,
}

impl LogWriter {
    /// Write and fsync a batch whose newest revision is `last_rev`; start a
    /// new segment afterwards if this one is full.
    fn write(&mut self, buf: &[u8], last_rev: Revision, metrics: &StoreMetrics) -> io::Result<()> {
        self.file.append(buf)?;
        let t = Instant::now();
        self.file.sync()?;
        metrics.fsync_duration.observe(t.elapsed().as_secs_f64());
        metrics.fsyncs.inc();
        self.len += buf.len() as u64;
        if self.len >= self.segment_bytes {
            let first = last_rev + 1;
            let mut file = self.dir.create(&segment::name(first))?;
            let header = segment::header(first);
            file.append(&header)?;
            file.sync()?;
            self.dir.sync_dir()?;
            self.file = file;
            self.len = header.len() as u64;
            tracing::debug!(first_revision = first, "started a new log segment");
        }
        Ok(())
    }
}

/// What the committer tells the rest of the store after each durable batch.
pub trait OnDurable: Send {
    /// Revisions up to `rev` are durable: make them visible to reads.
    /// Called before the batch's writers are answered.
    fn durable(&mut self, rev: Revision);
    /// The batch's writers were answered: hand the revisions to watchers and
    /// count `bytes` more log bytes (kept off the acknowledgement path).
    fn after_ack(&mut self, rev: Revision, bytes: u64);
}

/// The committer thread's loop. Returns when the queue is closed and drained.
pub fn run(
    queue: &CommitQueue,
    mut log: LogWriter,
    metrics: &StoreMetrics,
    mut on: impl OnDurable,
) {
    loop {
        queue.spin_for_work();
        let batch = {
            let mut p = queue.pending.lock();
            while p.is_empty() {
                if p.closed {
                    return;
                }
                queue.wake.wait(&mut p);
            }
            queue
                .has_work
                .store(false, std::sync::atomic::Ordering::Release);
            Pending {
                buf: std::mem::take(&mut p.buf),
                waiters: std::mem::take(&mut p.waiters),
                last_rev: p.last_rev,
                txns: std::mem::take(&mut p.txns),
                closed: false,
                failed: None,
            }
        };
        if !batch.buf.is_empty() {
            if let Err(e) = log.write(&batch.buf, batch.last_rev, metrics) {
                tracing::error!(error = %e, last_revision = batch.last_rev, "log write failed; store refuses further writes");
                let why = format!("log write or fsync failed: {e}");
                let mut p = queue.pending.lock();
                p.failed = Some(why.clone());
                let later = std::mem::take(&mut p.waiters);
                p.buf.clear();
                drop(p);
                for w in batch.waiters {
                    let _ =
                        w.tx.send(Err(StoreError::Io(io::Error::new(e.kind(), why.clone()))));
                }
                for w in later {
                    let _ = w.tx.send(Err(StoreError::Failed(why.clone())));
                }
                continue;
            }
            metrics.batch_size.observe(batch.txns as f64);
            on.durable(batch.last_rev);
        }
        for w in batch.waiters {
            if w.is_write {
                metrics
                    .write_duration
                    .observe(w.started.elapsed().as_secs_f64());
            }
            let _ = w.tx.send(Ok(()));
        }
        if !batch.buf.is_empty() {
            on.after_ack(batch.last_rev, batch.buf.len() as u64);
        }
    }
}
