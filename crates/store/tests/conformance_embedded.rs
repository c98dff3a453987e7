//! The store conformance suite against the embedded backend, on real files
//! and on the in-memory byte-level backend.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_on_files_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open(options(dir.path())).expect("open embedded store");
    conformance::empty_store_starts_at_revision_one(&store).await;
    conformance::run_all(&store).await;
    store.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_store_in_memory_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), options(dir.path()))
        .expect("open embedded store on MemDir");
    conformance::empty_store_starts_at_revision_one(&store).await;
    conformance::run_all(&store).await;
    store.close();
}
