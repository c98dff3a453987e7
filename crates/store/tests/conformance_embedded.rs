//! The store conformance suite against the embedded backend, on real files
//! and on the in-memory byte-level backend: one test per case, each on a
//! fresh store, so a failure names its case and does not hide the others.

use std::sync::Arc;

use rkube_store::backend::MemDir;
use rkube_store::conformance;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};

fn options(dir: &std::path::Path) -> EmbeddedOptions {
    let mut opts = EmbeddedOptions::new(dir);
    // The suite compacts explicitly; automatic compaction must not interfere.
    opts.compaction = CompactionPolicy::Manual;
    opts
}

fn open_on_files(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open(options(dir.path())).expect("open the embedded store on files")
}

fn open_in_memory(dir: &tempfile::TempDir) -> EmbeddedStore {
    EmbeddedStore::open_on(Arc::new(MemDir::new()), options(dir.path()))
        .expect("open the embedded store on a MemDir")
}

/// One module per case, each with a test on files and one in memory.
macro_rules! per_case {
    ($($case:ident),* $(,)?) => {
        /// The cases below, in suite order.
        const CASES: &[&str] = &[$(stringify!($case)),*];
        $(
            mod $case {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn on_files() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = open_on_files(&dir);
                    conformance::$case(&store).await;
                    store.close();
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn in_memory() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let store = open_in_memory(&dir);
                    conformance::$case(&store).await;
                    store.close();
                }
            }
        )*
    };
}

per_case![
    empty_store_starts_at_revision_one,
    put_get_revisions,
    delete_then_recreate,
    delete_missing_key_writes_nothing,
    range_prefix_sorted,
    range_to_end_of_keyspace,
    range_limit_count_keys_only,
    range_at_older_revision,
    range_at_future_revision,
    delete_range_prev_kvs,
    txn_compares,
    txn_compares_on_missing_key,
    txn_branches,
    txn_one_revision_for_all_writes,
    txn_read_only_keeps_revision,
    txn_put_prev_kv,
    txn_duplicate_keys,
    txn_reads_see_earlier_writes,
    watch_key_from_now,
    watch_prefix_from_now,
    watch_from_older_revision,
    watch_from_future_revision,
    watch_to_end_of_keyspace,
    watch_txn_is_one_batch,
    watch_several_watchers,
    concurrent_writers,
    compaction,
];

#[test]
fn every_suite_case_has_a_test_here() {
    let suite: Vec<&str> = conformance::cases()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let here: Vec<&str> = CASES
        .iter()
        .copied()
        .filter(|c| *c != "empty_store_starts_at_revision_one")
        .collect();
    assert_eq!(
        here, suite,
        "conformance_embedded.rs must list every case of conformance::cases()"
    );
}

/// The whole suite on one store, in order, as the etcd test runs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_on_one_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_on_files(&dir);
    conformance::empty_store_starts_at_revision_one(&store).await;
    conformance::run_all(&store).await;
    store.close();
}
