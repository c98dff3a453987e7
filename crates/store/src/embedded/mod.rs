//! The embedded backend: rkube's own log.
//!
//! Where a newcomer starts:
//! - this file: the options;
//! - `store.rs`: [`EmbeddedStore`], the handle and the `Store`
//!   implementation that ties the parts together (threads, locks);
//! - `record.rs`: how one transaction is encoded (see `FORMAT.md`);
//! - `segment.rs`: segment files, reading them back, torn-tail handling;
//! - `index.rs`: the in-memory MVCC index (key history + revision log);
//! - `commit.rs`: the committer thread and group commit;
//! - `hub.rs`: the watch hub and bounded watcher buffers;
//! - `watch.rs`: one watcher's stream (catch-up, then live);
//! - `snapshot.rs`: snapshots and removal of segments they cover;
//! - `recovery.rs`: opening a data directory;
//! - `compactor.rs`: periodic compaction.
//!
//! Locks and their order are written down once, in `store.rs`
//! (`maintenance` → `index` → `queue.pending`; the hub's lock never held
//! with `index`). The committer thread takes no lock while it fsyncs.

use std::path::PathBuf;
use std::time::Duration;

/// When to compact automatically.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactionPolicy {
    /// Never compact on its own (the caller calls `compact`).
    Manual,
    /// Every `interval`, compact so that the last `keep` revisions remain.
    KeepRevisions { keep: i64, interval: Duration },
    /// Every `interval`, compact the revisions older than `keep`.
    KeepDuration { keep: Duration, interval: Duration },
}

/// Tunables of the embedded store. Defaults are in [`EmbeddedOptions::new`].
#[derive(Clone, Debug)]
pub struct EmbeddedOptions {
    /// The data directory (created if missing).
    pub dir: PathBuf,
    /// A new segment starts when the current one passes this size. Default 64 MiB.
    pub segment_bytes: u64,
    /// Batches a watcher may have queued before it is cancelled as slow. Default 1024.
    pub watch_buffer: usize,
    /// Recent changes kept in memory for watchers to replay cheaply
    /// (40 bytes each). A watch from an older, uncompacted revision is served
    /// by scanning key histories instead. Default 131,072.
    pub watch_window: usize,
    /// A snapshot is written when the log since the last one is larger than
    /// both this and the last snapshot. Default 64 MiB.
    pub snapshot_min_bytes: u64,
    /// Automatic compaction. Default: keep 5 minutes of history, checked every minute
    /// (kube-apiserver compacts every 5 minutes).
    pub compaction: CompactionPolicy,
}

impl EmbeddedOptions {
    /// Defaults for a data directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EmbeddedOptions {
            dir: dir.into(),
            segment_bytes: 64 << 20,
            watch_buffer: 1024,
            watch_window: index::DEFAULT_WINDOW,
            snapshot_min_bytes: 64 << 20,
            compaction: CompactionPolicy::KeepDuration {
                keep: Duration::from_secs(300),
                interval: Duration::from_secs(60),
            },
        }
    }
}

mod commit;
mod compactor;
mod hub;
mod index;
mod record;
mod recovery;
mod segment;
mod snapshot;
mod store;
mod watch;

pub use store::EmbeddedStore;
