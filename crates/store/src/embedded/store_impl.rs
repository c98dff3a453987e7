//! Placeholder while the embedded log is being written.

use std::sync::Arc;

use async_trait::async_trait;

use super::EmbeddedOptions;
use crate::backend::Dir;
use crate::error::{Result, StoreError};
use crate::metrics::StoreMetrics;
use crate::store::{Store, WatchStream};
use crate::types::*;

/// The embedded store. Cheap to clone; clones share one store.
#[derive(Clone, Debug)]
pub struct EmbeddedStore {
    metrics: Arc<StoreMetrics>,
}

impl EmbeddedStore {
    /// Open (or create) the store in `opts.dir` on real files.
    pub fn open(opts: EmbeddedOptions) -> Result<Self> {
        let dir = crate::backend::FileDir::new(&opts.dir)?;
        Self::open_on(Arc::new(dir), opts)
    }

    /// Open (or create) the store on any [`Dir`] (e.g. a `MemDir`); `opts.dir` is ignored.
    pub fn open_on(_dir: Arc<dyn Dir>, _opts: EmbeddedOptions) -> Result<Self> {
        Err(StoreError::Closed)
    }

    /// The store's metrics.
    pub fn metrics(&self) -> Arc<StoreMetrics> {
        self.metrics.clone()
    }

    /// Stop the store's threads; later calls fail with `Closed`. Pending
    /// writes finish first.
    pub fn close(&self) {}
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn range(&self, _req: RangeRequest) -> Result<RangeResponse> {
        Err(StoreError::Closed)
    }
    async fn txn(&self, _req: TxnRequest) -> Result<TxnResponse> {
        Err(StoreError::Closed)
    }
    async fn watch(&self, _req: WatchRequest) -> Result<WatchStream> {
        Err(StoreError::Closed)
    }
    async fn compact(&self, _revision: Revision) -> Result<()> {
        Err(StoreError::Closed)
    }
    async fn current_revision(&self) -> Result<Revision> {
        Err(StoreError::Closed)
    }
}
