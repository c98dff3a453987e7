//! The etcd v3 backend: the [`Store`] contract over an etcd cluster, for HA
//! deployments (and as the benchmark's reference).
//!
//! [`EtcdStore`] keeps every key under a `prefix`, so several rkube clusters
//! (or test cases) can share one etcd: the prefix is added to every key and
//! range on the way in and stripped from every key on the way out. A range
//! "to the end of the keyspace" (an empty `range_end`) becomes "to the end of
//! the prefix's space". Prefixes of stores sharing one etcd must not be
//! prefixes of one another (end them with a separator, or make every key
//! start with one, as kube keys do with `/registry/...`): with prefixes `/a`
//! and `/a2`, a whole-keyspace range of the first would see the second's keys.
//!
//! etcd already has the contract's semantics (the contract is modelled on
//! it), so this file is mostly translation: requests to etcd's protobufs,
//! responses back, and etcd's errors to [`StoreError`] variants — the
//! compacted and future-revision errors are enriched with the revisions that
//! etcd's error messages leave out (one extra request, on the error path only).

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp as EtcdCompareOp, ConnectOptions, DeleteOptions,
    EventType, GetOptions, GetResponse, KvClient, PutOptions, Txn, TxnOp as EtcdTxnOp,
    TxnOpResponse as EtcdTxnOpResponse, WatchClient, WatchOptions,
};
use futures::StreamExt;

use crate::error::{Result, StoreError};
use crate::metrics::StoreMetrics;
use crate::store::{Store, WatchStream};
use crate::types::{
    prefix_end, CompareOp, CompareTarget, EventKind, KeyRange, KeyValue, RangeRequest,
    RangeResponse, Revision, TxnOp, TxnOpResponse, TxnRequest, TxnResponse, WatchEvent,
    WatchRequest,
};

/// Largest gRPC message we accept from etcd. etcd's own server limit on
/// responses is `math.MaxInt32`; tonic's default of 4 MiB would fail large
/// lists and watch catch-ups.
const MAX_DECODING_MESSAGE: usize = i32::MAX as usize;

/// How long to wait for a TCP connection to an etcd endpoint.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// HTTP/2 keep-alive ping interval and timeout, so a watch on a dead server
/// fails instead of hanging. The interval respects etcd's default
/// `--grpc-keepalive-min-time` (5 s).
const KEEP_ALIVE: (Duration, Duration) = (Duration::from_secs(10), Duration::from_secs(5));

/// How long the error path may spend finding etcd's compacted revision.
const COMPACT_LOOKUP_TIMEOUT: Duration = Duration::from_secs(2);

/// gRPC status codes etcd uses for the conditions we map.
const GRPC_INVALID_ARGUMENT: i32 = 3;
const GRPC_OUT_OF_RANGE: i32 = 11;

/// The contract over an etcd v3 cluster. Cheap to clone; clones share one
/// connection and one set of metrics.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    prefix: Bytes,
    metrics: Arc<StoreMetrics>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connect to etcd at `endpoints` (e.g. `http://127.0.0.1:2379`) and
    /// keep every key under `prefix` (see the module docs on choosing
    /// prefixes that do not overlap). Fails unless a first read succeeds.
    pub async fn connect(endpoints: &[String], prefix: impl Into<Bytes>) -> Result<EtcdStore> {
        let options = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEP_ALIVE.0, KEEP_ALIVE.1)
            // etcd's keepalive policy refuses pings without active streams.
            .with_keep_alive_while_idle(false);
        let client = Client::connect(endpoints, Some(options))
            .await
            .map_err(|e| StoreError::Etcd(format!("cannot connect to {endpoints:?}: {e}")))?;
        let store = EtcdStore {
            client,
            prefix: prefix.into(),
            metrics: Arc::new(StoreMetrics::default()),
        };
        store.current_revision().await?;
        Ok(store)
    }

    /// The store's metrics (writes, reads, write latency, watchers, compactions).
    pub fn metrics(&self) -> Arc<StoreMetrics> {
        self.metrics.clone()
    }

    /// The prefix every key is stored under.
    pub fn prefix(&self) -> &Bytes {
        &self.prefix
    }

    fn kv(&self) -> KvClient {
        self.client
            .kv_client()
            .max_decoding_message_size(MAX_DECODING_MESSAGE)
    }

    fn watch_client(&self) -> WatchClient {
        self.client
            .watch_client()
            .max_decoding_message_size(MAX_DECODING_MESSAGE)
    }

    // ---- key translation ----

    fn full_key(&self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.prefix.len() + key.len());
        k.extend_from_slice(&self.prefix);
        k.extend_from_slice(key);
        k
    }

    /// etcd's `(key, range_end)` for a range; an empty `range_end` means
    /// "only `key`" in etcd, `[0]` means "to the end of the keyspace".
    fn etcd_range(&self, range: &KeyRange) -> (Vec<u8>, Vec<u8>) {
        let mut key = self.full_key(&range.key);
        if key.is_empty() {
            // etcd has no empty key: the lowest one is "\0".
            key.push(0);
        }
        let end = match &range.range_end {
            None => Vec::new(),
            Some(end) if end.is_empty() => {
                let end = prefix_end(&self.prefix);
                if end.is_empty() {
                    vec![0]
                } else {
                    end.to_vec()
                }
            }
            Some(end) => self.full_key(end),
        };
        (key, end)
    }

    fn strip(&self, key: Vec<u8>) -> Bytes {
        let mut key = Bytes::from(key);
        if key.starts_with(&self.prefix) {
            let _ = key.split_to(self.prefix.len());
        }
        key
    }

    fn key_value(&self, kv: etcd_client::KeyValue) -> KeyValue {
        let (create_revision, mod_revision, version) =
            (kv.create_revision(), kv.mod_revision(), kv.version());
        let (key, value) = kv.into_key_value();
        KeyValue {
            key: self.strip(key),
            value: Bytes::from(value),
            create_revision,
            mod_revision,
            version,
        }
    }

    fn get_options(&self, req: &RangeRequest) -> (Vec<u8>, GetOptions) {
        let (key, end) = self.etcd_range(&req.range);
        let mut opts = GetOptions::new()
            .with_revision(req.revision.max(0))
            .with_limit(req.limit.max(0));
        if !end.is_empty() {
            opts = opts.with_range(end);
        }
        if req.count_only {
            opts = opts.with_count_only();
        }
        if req.keys_only {
            opts = opts.with_keys_only();
        }
        (key, opts)
    }

    fn range_response(&self, mut resp: GetResponse) -> RangeResponse {
        let revision = resp.header().map_or(0, |h| h.revision());
        let kvs = resp
            .take_kvs()
            .into_iter()
            .map(|kv| self.key_value(kv))
            .collect();
        RangeResponse {
            kvs,
            count: resp.count(),
            more: resp.more(),
            revision,
        }
    }

    fn txn_op(&self, op: &TxnOp) -> EtcdTxnOp {
        match op {
            TxnOp::Put {
                key,
                value,
                prev_kv,
            } => {
                let mut opts = PutOptions::new();
                if *prev_kv {
                    opts = opts.with_prev_key();
                }
                EtcdTxnOp::put(self.full_key(key), value.to_vec(), Some(opts))
            }
            TxnOp::Delete { range, prev_kv } => {
                let (key, end) = self.etcd_range(range);
                let mut opts = DeleteOptions::new();
                if !end.is_empty() {
                    opts = opts.with_range(end);
                }
                if *prev_kv {
                    opts = opts.with_prev_key();
                }
                EtcdTxnOp::delete(key, Some(opts))
            }
            TxnOp::Range(req) => {
                let (key, opts) = self.get_options(req);
                EtcdTxnOp::get(key, Some(opts))
            }
        }
    }

    fn compare(&self, c: &crate::types::Compare) -> EtcdCompare {
        let key = self.full_key(&c.key);
        let op = match c.op {
            CompareOp::Equal => EtcdCompareOp::Equal,
            CompareOp::NotEqual => EtcdCompareOp::NotEqual,
            CompareOp::Greater => EtcdCompareOp::Greater,
            CompareOp::Less => EtcdCompareOp::Less,
        };
        match &c.target {
            CompareTarget::ModRevision(r) => EtcdCompare::mod_revision(key, op, *r),
            CompareTarget::CreateRevision(r) => EtcdCompare::create_revision(key, op, *r),
            CompareTarget::Version(v) => EtcdCompare::version(key, op, *v),
            CompareTarget::Value(v) => EtcdCompare::value(key, op, v.to_vec()),
        }
    }

    // ---- errors ----

    /// Map an etcd error of a read or watch at `requested` (reported in
    /// `Compacted` / `FutureRevision`).
    async fn map_err(&self, err: etcd_client::Error, requested: Revision) -> StoreError {
        // A read at `requested` failing as compacted means compacted > requested.
        self.map_err_between(err, requested, requested, requested + 1)
            .await
    }

    /// Map an etcd error of a request reading at revisions `oldest ..=
    /// newest`: the oldest is reported as compacted, the newest as in the
    /// future. `compacted_at_least` is what the failure proves about the
    /// compacted revision.
    async fn map_err_between(
        &self,
        err: etcd_client::Error,
        oldest: Revision,
        newest: Revision,
        compacted_at_least: Revision,
    ) -> StoreError {
        let etcd_client::Error::GRpcStatus(status) = &err else {
            return StoreError::Etcd(err.to_string());
        };
        let code = i32::from(status.code());
        let msg = status.message();
        if code == GRPC_OUT_OF_RANGE && msg.contains("required revision has been compacted") {
            let compacted = self.compacted_revision(compacted_at_least).await;
            return StoreError::Compacted {
                requested: oldest,
                compacted,
            };
        }
        if code == GRPC_OUT_OF_RANGE && msg.contains("required revision is a future revision") {
            let current = match self.current_revision().await {
                Ok(rev) => rev,
                Err(_) => newest - 1,
            };
            return StoreError::FutureRevision {
                requested: newest,
                current,
            };
        }
        if code == GRPC_INVALID_ARGUMENT {
            return StoreError::InvalidRequest(msg.to_string());
        }
        StoreError::Etcd(msg.to_string())
    }

    /// etcd's compacted revision, known to be at least `at_least`. etcd has
    /// no request that returns it: if a read at `at_least` works, that is
    /// it; otherwise it is above 1 and a watch from revision 1 is cancelled
    /// with it. Best effort: `at_least` if etcd does not tell.
    async fn compacted_revision(&self, at_least: Revision) -> Revision {
        let lo = at_least.max(1);
        let probe = GetOptions::new().with_revision(lo).with_count_only();
        if self.kv().get(self.full_key(b""), Some(probe)).await.is_ok() {
            return lo;
        }
        let lookup = async {
            let opts = WatchOptions::new().with_start_revision(1);
            let (_watcher, mut stream) = self
                .watch_client()
                .watch(self.full_key(b""), Some(opts))
                .await
                .ok()?;
            loop {
                let resp = stream.message().await.ok()??;
                if resp.compact_revision() != 0 {
                    return Some(resp.compact_revision());
                }
                if resp.canceled() {
                    return None;
                }
            }
        };
        tokio::time::timeout(COMPACT_LOOKUP_TIMEOUT, lookup)
            .await
            .ok()
            .flatten()
            .unwrap_or(lo)
    }
}

/// The oldest and newest revisions a transaction's range ops ask for
/// (`(0, 0)` when they all read the current revision).
fn requested_revisions(req: &TxnRequest) -> (Revision, Revision) {
    let revs = req
        .success
        .iter()
        .chain(&req.failure)
        .filter_map(|op| match op {
            TxnOp::Range(r) if r.revision > 0 => Some(r.revision),
            _ => None,
        });
    revs.fold(None, |acc: Option<(Revision, Revision)>, r| match acc {
        None => Some((r, r)),
        Some((lo, hi)) => Some((lo.min(r), hi.max(r))),
    })
    .unwrap_or((0, 0))
}

/// Whether the branch that ran wrote (so etcd advanced the revision): any
/// put does, a delete only when it removed something.
fn txn_wrote(responses: &[TxnOpResponse], ops: &[TxnOp]) -> bool {
    ops.iter().any(|op| matches!(op, TxnOp::Put { .. }))
        || responses
            .iter()
            .any(|r| matches!(r, TxnOpResponse::Delete { deleted, .. } if *deleted > 0))
}

/// Keeps the `watchers` gauge right however a watch stream ends.
struct WatcherGauge(Arc<StoreMetrics>);

impl WatcherGauge {
    fn new(metrics: Arc<StoreMetrics>) -> Self {
        metrics.watchers.inc();
        WatcherGauge(metrics)
    }
}

impl Drop for WatcherGauge {
    fn drop(&mut self) {
        self.0.watchers.dec();
    }
}

/// State of one watch stream.
struct WatchState {
    /// Keeps etcd's request stream open; dropping the state cancels the watch.
    _watcher: etcd_client::Watcher,
    stream: etcd_client::WatchStream,
    store: EtcdStore,
    prev_kv: bool,
    /// The first revision not delivered yet (reported if etcd compacts it away).
    next_revision: Revision,
    done: bool,
    _gauge: WatcherGauge,
}

impl WatchState {
    /// The next batch, or the final error, or `None` once ended.
    async fn next(&mut self) -> Option<Result<Vec<WatchEvent>>> {
        if self.done {
            return None;
        }
        loop {
            let resp = match self.stream.message().await {
                Ok(Some(resp)) => resp,
                Ok(None) => {
                    self.done = true;
                    return Some(Err(StoreError::Etcd("watch stream closed by etcd".into())));
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(StoreError::Etcd(format!("watch failed: {e}"))));
                }
            };
            if resp.compact_revision() != 0 {
                self.done = true;
                return Some(Err(StoreError::Compacted {
                    requested: self.next_revision,
                    compacted: resp.compact_revision(),
                }));
            }
            if resp.canceled() {
                self.done = true;
                return Some(Err(StoreError::Etcd(format!(
                    "watch cancelled by etcd: {}",
                    resp.cancel_reason()
                ))));
            }
            if resp.events().is_empty() {
                // Progress notifications and the like.
                continue;
            }
            let mut batch = Vec::with_capacity(resp.events().len());
            for ev in resp.events() {
                let Some(kv) = ev.kv() else { continue };
                let kind = match ev.event_type() {
                    EventType::Put => EventKind::Put,
                    EventType::Delete => EventKind::Delete,
                };
                let prev_kv = if self.prev_kv {
                    ev.prev_kv().map(|p| self.store.key_value(p.clone()))
                } else {
                    None
                };
                batch.push(WatchEvent {
                    kind,
                    kv: self.store.key_value(kv.clone()),
                    prev_kv,
                });
            }
            if let Some(last) = batch.last() {
                self.next_revision = last.kv.mod_revision + 1;
            }
            return Some(Ok(batch));
        }
    }
}

#[async_trait]
impl Store for EtcdStore {
    async fn range(&self, req: RangeRequest) -> Result<RangeResponse> {
        self.metrics.reads.inc();
        let (key, opts) = self.get_options(&req);
        match self.kv().get(key, Some(opts)).await {
            Ok(resp) => Ok(self.range_response(resp)),
            Err(e) => Err(self.map_err(e, req.revision).await),
        }
    }

    async fn txn(&self, req: TxnRequest) -> Result<TxnResponse> {
        let started = Instant::now();
        let txn = Txn::new()
            .when(
                req.compares
                    .iter()
                    .map(|c| self.compare(c))
                    .collect::<Vec<_>>(),
            )
            .and_then(
                req.success
                    .iter()
                    .map(|op| self.txn_op(op))
                    .collect::<Vec<_>>(),
            )
            .or_else(
                req.failure
                    .iter()
                    .map(|op| self.txn_op(op))
                    .collect::<Vec<_>>(),
            );
        let resp = match self.kv().txn(txn).await {
            Ok(resp) => resp,
            Err(e) => {
                let (oldest, newest) = requested_revisions(&req);
                return Err(self.map_err_between(e, oldest, newest, oldest + 1).await);
            }
        };
        let succeeded = resp.succeeded();
        let revision = resp.header().map_or(0, |h| h.revision());
        let responses: Vec<TxnOpResponse> = resp
            .op_responses()
            .into_iter()
            .map(|r| match r {
                EtcdTxnOpResponse::Put(mut p) => TxnOpResponse::Put {
                    prev_kv: p.take_prev_key().map(|kv| self.key_value(kv)),
                },
                EtcdTxnOpResponse::Delete(mut d) => TxnOpResponse::Delete {
                    deleted: d.deleted(),
                    prev_kvs: d
                        .take_prev_kvs()
                        .into_iter()
                        .map(|kv| self.key_value(kv))
                        .collect(),
                },
                EtcdTxnOpResponse::Get(g) => TxnOpResponse::Range(self.range_response(g)),
                // We never send nested transactions.
                EtcdTxnOpResponse::Txn(_) => TxnOpResponse::Range(RangeResponse::default()),
            })
            .collect();
        let ran = if succeeded {
            &req.success
        } else {
            &req.failure
        };
        if txn_wrote(&responses, ran) {
            self.metrics.writes.inc();
            self.metrics
                .write_duration
                .observe(started.elapsed().as_secs_f64());
        } else {
            self.metrics.reads.inc();
        }
        Ok(TxnResponse {
            succeeded,
            revision,
            responses,
        })
    }

    async fn watch(&self, req: WatchRequest) -> Result<WatchStream> {
        let (key, end) = self.etcd_range(&req.range);
        let mut opts = WatchOptions::new().with_start_revision(req.start_revision.max(0));
        if !end.is_empty() {
            opts = opts.with_range(end);
        }
        if req.prev_kv {
            opts = opts.with_prev_key();
        }
        let (watcher, stream) = match self.watch_client().watch(key, Some(opts)).await {
            Ok(pair) => pair,
            Err(e) => return Err(self.map_err(e, req.start_revision).await),
        };
        let next_revision = if req.start_revision > 0 {
            req.start_revision
        } else {
            0
        };
        let state = WatchState {
            _watcher: watcher,
            stream,
            store: self.clone(),
            prev_kv: req.prev_kv,
            next_revision,
            done: false,
            _gauge: WatcherGauge::new(self.metrics.clone()),
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            let item = st.next().await?;
            Some((item, st))
        });
        Ok(stream.boxed())
    }

    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.kv().compact(revision, None).await {
            Ok(_) => {
                self.metrics.compactions.inc();
                Ok(())
            }
            // Compacting at `revision` failing as compacted means compacted >= revision.
            Err(e) => Err(self.map_err_between(e, revision, revision, revision).await),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        self.metrics.reads.inc();
        let opts = GetOptions::new().with_count_only();
        // etcd refuses an empty key; with no prefix, ask for "\0".
        let mut key = self.full_key(b"");
        if key.is_empty() {
            key.push(0);
        }
        match self.kv().get(key, Some(opts)).await {
            Ok(resp) => Ok(resp.header().map_or(0, |h| h.revision())),
            Err(e) => Err(StoreError::Etcd(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_revisions_span_the_range_ops() {
        let req = TxnRequest {
            success: vec![
                TxnOp::Range(RangeRequest::new(KeyRange::key("a")).at_revision(9)),
                TxnOp::put("b", "1"),
            ],
            failure: vec![TxnOp::Range(
                RangeRequest::new(KeyRange::key("a")).at_revision(4),
            )],
            ..Default::default()
        };
        assert_eq!(requested_revisions(&req), (4, 9));
        assert_eq!(requested_revisions(&TxnRequest::default()), (0, 0));
    }
}
