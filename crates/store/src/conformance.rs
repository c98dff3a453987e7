//! The store conformance suite: the behaviour every [`Store`] backend must
//! show, written down as etcd v3 (3.4) behaves. The etcd backend passes it
//! against a real etcd (`tests/conformance_etcd.rs`); the embedded backend
//! must pass the same cases (`tests/conformance_embedded.rs`).
//!
//! Each case is a public `async fn(&dyn Store)`; [`run_all`] runs them in
//! order. Cases may share one store (and one etcd), so each case:
//! - writes only under its own fresh key prefix (case name + random nonce);
//! - asserts revisions relative to the revision it observed at its start,
//!   assuming nobody else writes while it runs;
//! - tolerates compactions done by earlier cases.
//!
//! Cases panic with a message naming what differed (this is test code).
//! Where to look:
//! - `kv.rs`: put/get, revisions and versions, ranges (prefix, limit,
//!   count-only, keys-only, older and future revisions), deletes;
//! - `txn.rs`: compares, branches, one revision per transaction, duplicate
//!   keys, read-only transactions, reads after writes in one transaction;
//! - `watch.rs`: live watches, prev_kv, delete events, replay from an older
//!   revision, batching, several watchers;
//! - `compaction.rs`: compacted and future revisions for reads, watches and
//!   compaction itself;
//! - `concurrency.rs`: concurrent writers;
//! - `util.rs`: shared helpers (prefixes, watch collection with timeouts).
//!
//! Not covered here (it differs by design between backends): how and when
//! a slow watcher is cancelled.

use crate::store::Store;

mod compaction;
mod concurrency;
mod kv;
mod txn;
mod util;
mod watch;

pub use compaction::*;
pub use concurrency::*;
pub use kv::*;
pub use txn::*;
pub use watch::*;

/// Run every case of the suite, in order, on one store. The store may hold
/// other data, but nobody else may write to it meanwhile.
pub async fn run_all(store: &dyn Store) {
    // kv
    put_get_revisions(store).await;
    delete_then_recreate(store).await;
    delete_missing_key_writes_nothing(store).await;
    range_prefix_sorted(store).await;
    range_to_end_of_keyspace(store).await;
    range_limit_count_keys_only(store).await;
    range_at_older_revision(store).await;
    range_at_future_revision(store).await;
    delete_range_prev_kvs(store).await;
    // txn
    txn_compares(store).await;
    txn_compares_on_missing_key(store).await;
    txn_branches(store).await;
    txn_one_revision_for_all_writes(store).await;
    txn_read_only_keeps_revision(store).await;
    txn_put_prev_kv(store).await;
    txn_duplicate_keys(store).await;
    txn_reads_see_earlier_writes(store).await;
    // watch
    watch_key_from_now(store).await;
    watch_prefix_from_now(store).await;
    watch_from_older_revision(store).await;
    watch_txn_is_one_batch(store).await;
    watch_several_watchers(store).await;
    // concurrency
    concurrent_writers(store).await;
    // compaction (last: it discards history the other cases might want)
    compaction(store).await;
}
