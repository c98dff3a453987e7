//! Counters and histograms of the store, ready to be registered on the API
//! server's `/metrics` registry. Names follow etcd's where etcd has the same
//! concept (`..._fsync_duration_seconds`, `..._compaction_...`), prefixed
//! `rkube_store_`.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// The store's metrics. Cheap to update from any thread.
#[derive(Debug)]
pub struct StoreMetrics {
    /// Transactions that wrote (one revision each).
    pub writes: Counter,
    /// Read-only requests (ranges, and transactions that wrote nothing).
    pub reads: Counter,
    /// fsync calls on the log.
    pub fsyncs: Counter,
    /// Time of one log fsync.
    pub fsync_duration: Histogram,
    /// Transactions made durable by one fsync (group commit).
    pub batch_size: Histogram,
    /// Time from a write's call to its acknowledgement.
    pub write_duration: Histogram,
    /// Watchers currently registered.
    pub watchers: Gauge,
    /// Watchers cancelled for falling behind.
    pub slow_watchers: Counter,
    /// Compactions done.
    pub compactions: Counter,
    /// Snapshots written.
    pub snapshots: Counter,
}

impl Default for StoreMetrics {
    fn default() -> Self {
        StoreMetrics {
            writes: Counter::default(),
            reads: Counter::default(),
            fsyncs: Counter::default(),
            fsync_duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            write_duration: Histogram::new(exponential_buckets(0.000_05, 2.0, 18)),
            watchers: Gauge::default(),
            slow_watchers: Counter::default(),
            compactions: Counter::default(),
            snapshots: Counter::default(),
        }
    }
}

impl StoreMetrics {
    /// Register every metric (clones share state) under `rkube_store_`.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("rkube_store");
        r.register(
            "writes",
            "Transactions that wrote a revision",
            self.writes.clone(),
        );
        r.register("reads", "Read-only requests served", self.reads.clone());
        r.register("fsyncs", "fsync calls on the log", self.fsyncs.clone());
        r.register(
            "fsync_duration_seconds",
            "Latency of one log fsync",
            self.fsync_duration.clone(),
        );
        r.register(
            "commit_batch_size",
            "Transactions made durable by one fsync",
            self.batch_size.clone(),
        );
        r.register(
            "write_duration_seconds",
            "Latency of a write from call to durable acknowledgement",
            self.write_duration.clone(),
        );
        r.register(
            "watchers",
            "Watchers currently registered",
            self.watchers.clone(),
        );
        r.register(
            "slow_watchers_cancelled",
            "Watchers cancelled because they fell behind",
            self.slow_watchers.clone(),
        );
        r.register("compactions", "Compactions done", self.compactions.clone());
        r.register("snapshots", "Snapshots written", self.snapshots.clone());
    }
}
