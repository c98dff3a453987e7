//! # rkube-store
//!
//! rkube's source of truth: a revisioned key-value log with etcd's MVCC
//! semantics (a global revision; per key `create_revision`, `mod_revision`,
//! `version`; transactions with compares; watch from a revision; compaction).
//!
//! Start with [`Store`] (the contract), then the two backends:
//! - [`embedded`]: the default, in-process backend — a segmented,
//!   checksummed, group-committed log on a byte-level [`backend`] trait, an
//!   in-memory MVCC index, snapshots, and a watch hub. The on-disk format is
//!   in `FORMAT.md` beside this crate's `Cargo.toml`.
//! - [`etcd`]: the same contract over an etcd v3 cluster.
//!
//! [`conformance`] is the suite every backend must pass; [`testing`] starts
//! a throw-away etcd for it and for benchmarks.
//!
//! This crate knows nothing of Kubernetes: keys and values are bytes. It
//! must not depend on any rkube crate.

pub mod backend;
pub mod conformance;
pub mod embedded;
pub mod error;
pub mod etcd;
pub mod metrics;
pub mod store;
pub mod testing;
pub mod types;

pub use error::{Result, StoreError};
pub use metrics::StoreMetrics;
pub use store::{Store, WatchStream};
pub use types::*;
