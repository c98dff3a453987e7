//! The store's errors. Every backend reports the same conditions with the
//! same variants, so the API server maps them once (e.g. `Compacted` to
//! `410 Gone`).

use std::path::PathBuf;

use crate::types::Revision;

/// A failed store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The requested revision is older than the compacted revision; its
    /// history is gone. (etcd: `ErrCompacted`.)
    #[error(
        "required revision {requested} has been compacted (compacted revision is {compacted})"
    )]
    Compacted {
        requested: Revision,
        compacted: Revision,
    },

    /// The requested revision is newer than the store's current revision.
    /// (etcd: `ErrFutureRev`.)
    #[error("required revision {requested} is a future revision (current revision is {current})")]
    FutureRevision {
        requested: Revision,
        current: Revision,
    },

    /// The request itself is malformed (e.g. a transaction writing one key twice).
    #[error("invalid request: {0}")]
    InvalidRequest(String),

    /// Reading or writing the data directory failed. A write that returns
    /// this error was not acknowledged; after it the embedded store refuses
    /// further writes until it is reopened.
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),

    /// A record on disk fails its checksum or structure check where a torn
    /// tail cannot explain it. The store refuses to start rather than drop data.
    #[error("corrupt data in {file} at offset {offset}: {reason}")]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },

    /// The data directory was written by an unknown format version.
    #[error("data directory {dir} has format version {found}; this rkube understands version {supported}")]
    UnsupportedFormat {
        dir: PathBuf,
        found: String,
        supported: u32,
    },

    /// A previous write failed to reach the disk; the store no longer accepts
    /// writes. Reopen it to recover what was durable.
    #[error("store is stopped after an earlier storage failure: {0}")]
    Failed(String),

    /// A watcher fell behind its bounded buffer and was cancelled so that it
    /// cannot slow writers; the client should re-list and watch again.
    #[error("watcher fell behind and was cancelled; re-list and watch again")]
    SlowWatcher,

    /// The store was closed.
    #[error("store is closed")]
    Closed,

    /// The etcd backend reported an error that has no other variant.
    #[error("etcd: {0}")]
    Etcd(String),
}

/// Result alias for store calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
