//! The resource API in process, on an in-memory embedded store with the
//! built-in resources and the initial namespaces: for tests that send it
//! many requests (the fuzz targets) without TLS or a listener.

use std::sync::Arc;

use rkube_apimachinery::Registry;
use rkube_apiserver::resources::{self, ApiState};
use rkube_store::backend::MemDir;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};

/// The router and the runtime to drive it on.
pub fn resource_api() -> (axum::Router, tokio::runtime::Runtime) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let mut opts = EmbeddedOptions::new("unused");
    opts.compaction = CompactionPolicy::Manual;
    let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), opts).expect("store");
    let state = Arc::new(ApiState::new(
        Arc::new(store),
        Arc::new(Registry::builtin()),
    ));
    rt.block_on(resources::ensure_namespaces(
        state.store.as_ref(),
        &state.registry(),
    ))
    .expect("namespaces");
    (resources::router(state), rt)
}
