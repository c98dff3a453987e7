//! The `Store` trait: the one contract both backends (embedded log, etcd v3)
//! implement, and the conformance suite checks.

use std::pin::Pin;

use async_trait::async_trait;
use bytes::Bytes;
use futures::Stream;

use crate::error::Result;
use crate::types::{
    KeyRange, KeyValue, RangeRequest, RangeResponse, Revision, TxnOp, TxnOpResponse, TxnRequest,
    TxnResponse, WatchEvent, WatchRequest,
};

/// A watch: batches of events in revision order (events of one revision are
/// never split across batches). It ends after yielding an error:
/// `StoreError::Compacted` when the start revision has been compacted,
/// `StoreError::SlowWatcher` when the watcher fell behind, `Closed` when the
/// store shuts down. Dropping it cancels the watch.
pub type WatchStream = Pin<Box<dyn Stream<Item = Result<Vec<WatchEvent>>> + Send>>;

/// A revisioned key-value store with etcd's MVCC semantics.
///
/// Every write is durable when its call returns. Reads are linearizable:
/// they see every write acknowledged before they started.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Read a key or range, now or at an older (uncompacted) revision.
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse>;

    /// Run a transaction atomically; see [`TxnRequest`].
    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse>;

    /// Watch a key or range from a revision; see [`WatchStream`].
    async fn watch(&self, req: WatchRequest) -> Result<WatchStream>;

    /// Discard history before `revision`: afterwards reads and watches at
    /// revisions below it fail with `Compacted`. Compacting at or below the
    /// current compacted revision fails with `Compacted`; above the current
    /// revision with `FutureRevision`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The revision of the last write (1 for an empty store).
    async fn current_revision(&self) -> Result<Revision>;

    /// Write one key; returns the new revision.
    async fn put(&self, key: Bytes, value: Bytes) -> Result<Revision> {
        let resp = self
            .txn(TxnRequest {
                success: vec![TxnOp::put(key, value)],
                ..Default::default()
            })
            .await?;
        Ok(resp.revision)
    }

    /// Read one key at the current revision.
    async fn get(&self, key: Bytes) -> Result<Option<KeyValue>> {
        let resp = self.range(RangeRequest::new(KeyRange::key(key))).await?;
        Ok(resp.kvs.into_iter().next())
    }

    /// Delete a key or range; returns how many keys went and the revision
    /// after the call.
    async fn delete(&self, range: KeyRange) -> Result<(i64, Revision)> {
        let resp = self
            .txn(TxnRequest {
                success: vec![TxnOp::delete(range)],
                ..Default::default()
            })
            .await?;
        let deleted = match resp.responses.first() {
            Some(TxnOpResponse::Delete { deleted, .. }) => *deleted,
            _ => 0,
        };
        Ok((deleted, resp.revision))
    }
}
