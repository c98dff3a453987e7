//! The store conformance suite: the behaviour every [`Store`] backend must
//! show, written down as etcd v3 (3.4) behaves. The etcd backend passes it
//! against a real etcd (`tests/conformance_etcd.rs`); the embedded backend
//! must pass the same cases (`tests/conformance_embedded.rs`).
//!
//! Each case is a public `async fn(&dyn Store)`; [`cases`] lists them and
//! [`run_all`] runs them in order. Cases may share one store (and one
//! etcd), so each case:
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

use futures::future::BoxFuture;

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

/// One conformance case: an async function over a store.
pub type Case = for<'a> fn(&'a dyn Store) -> BoxFuture<'a, ()>;

/// Every case of [`run_all`], by name, in the order it runs them
/// (compaction last: it discards history the other cases might want).
pub fn cases() -> Vec<(&'static str, Case)> {
    macro_rules! cases {
        ($($name:ident),* $(,)?) => {
            vec![$((stringify!($name), (|s| Box::pin($name(s))) as Case)),*]
        };
    }
    cases![
        // kv
        put_get_revisions,
        delete_then_recreate,
        delete_missing_key_writes_nothing,
        range_prefix_sorted,
        range_to_end_of_keyspace,
        range_limit_count_keys_only,
        range_at_older_revision,
        range_at_future_revision,
        delete_range_prev_kvs,
        // txn
        txn_compares,
        txn_compares_on_missing_key,
        txn_branches,
        txn_one_revision_for_all_writes,
        txn_read_only_keeps_revision,
        txn_put_prev_kv,
        txn_duplicate_keys,
        txn_reads_see_earlier_writes,
        // watch
        watch_key_from_now,
        watch_prefix_from_now,
        watch_from_older_revision,
        watch_from_future_revision,
        watch_to_end_of_keyspace,
        watch_txn_is_one_batch,
        watch_several_watchers,
        // concurrency
        concurrent_writers,
        // compaction
        compaction,
    ]
}

/// Run every case of the suite, in order, on one store. The store may hold
/// other data, but nobody else may write to it meanwhile.
pub async fn run_all(store: &dyn Store) {
    for (name, case) in cases() {
        tracing::debug!(case = name, "conformance case");
        case(store).await;
    }
}
