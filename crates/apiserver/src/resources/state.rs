//! What every handler of the resource API shares: the store, the served
//! registry, metrics, the watch fanout and the shutdown signal.

use std::sync::Arc;
use std::time::Duration;

use rkube_apimachinery::Registry;
use rkube_store::Store;

use super::fanout::Fanout;
use super::metrics::ApiMetrics;

/// What the handlers share.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// What is served: the built-in resources and those of established
    /// CRDs (swapped by `crds.rs` when CRDs change).
    registry: parking_lot::RwLock<Arc<Registry>>,
    pub metrics: ApiMetrics,
    /// The shared watch of each watched resource.
    pub fanout: Fanout,
    /// How often a watch that allows bookmarks gets one while idle
    /// (kube-apiserver: about a minute).
    pub watch_bookmark_interval: Duration,
    /// Cancelled when the server starts shutting down: open watches end
    /// then (clients re-watch elsewhere), so the graceful shutdown does not
    /// wait on connections that would stay open forever.
    pub stopping: tokio_util::sync::CancellationToken,
    /// How node APIs are reached (logs, exec, port-forward, metrics).
    pub nodes: crate::node_access::NodeAccess,
    /// Real nodes' resource figures, kept a few seconds (`metrics.k8s.io`).
    pub resource_metrics: super::metrics_api::cache::SummaryCache,
}

impl ApiState {
    /// The resources served now.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().clone()
    }

    /// Serve `registry` from now on.
    pub fn set_registry(&self, registry: Arc<Registry>) {
        *self.registry.write() = registry;
    }

    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>) -> Self {
        ApiState {
            fanout: Fanout::new(store.clone()),
            store,
            registry: parking_lot::RwLock::new(registry),
            metrics: ApiMetrics::default(),
            watch_bookmark_interval: Duration::from_secs(60),
            stopping: tokio_util::sync::CancellationToken::new(),
            nodes: crate::node_access::NodeAccess::default(),
            resource_metrics: super::metrics_api::cache::SummaryCache::default(),
        }
    }
}
