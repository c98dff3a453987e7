//! The workload every backend runs, through the `Store` trait only:
//! durable puts at several concurrencies, a range of many keys by prefix,
//! and many watchers receiving many events.
//!
//! Each phase is bounded by the plan's phase timeout; a phase that fails or
//! runs out of time records `<phase>.error` and the next phase still runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use rkube_store::{
    EventKind, KeyRange, RangeRequest, Store, TxnOp, TxnRequest, WatchRequest, WatchStream,
};
use tokio::task::JoinSet;
use tracing::info;

use super::plan::Plan;
use super::results::Measurements;
use super::stats::{median, Percentiles};

const PUT_PREFIX: &str = "/bench/put/";
const RANGE_PREFIX: &str = "/bench/range/";
const WATCH_PREFIX: &str = "/bench/watch/";
/// Concurrent transactions when loading keys.
const LOADERS: usize = 8;
/// Reads of the whole range; the median is reported.
const RANGE_READS: usize = 5;

/// Run every phase on `store`, recording into `out`.
pub async fn run(store: Arc<dyn Store>, plan: &Plan, out: &mut Measurements) {
    // One write first, so connection setup is not counted in a phase.
    if let Err(err) = store
        .put(
            Bytes::from_static(b"/bench/warmup"),
            Bytes::from_static(b"x"),
        )
        .await
    {
        out.set_error("warmup", err);
        return;
    }
    for (phase, &concurrency) in plan.concurrency.iter().enumerate() {
        let name = format!("put.c{concurrency}");
        info!(
            concurrency,
            duration_ms = plan.duration.as_millis() as u64,
            "phase: durable puts"
        );
        let bound = plan.duration + plan.phase_timeout;
        match tokio::time::timeout(bound, puts(store.clone(), plan, phase, concurrency)).await {
            Ok(Ok(result)) => {
                out.set(format!("{name}.count"), result.latency.count);
                out.set(
                    format!("{name}.rate"),
                    result.latency.count as f64 / result.elapsed.as_secs_f64(),
                );
                out.set(format!("{name}.p50"), result.latency.p50);
                out.set(format!("{name}.p99"), result.latency.p99);
            }
            Ok(Err(err)) => out.set_error(&name, err),
            Err(_) => out.set_error(&name, format!("timed out after {bound:?}")),
        }
    }

    if plan.range_keys > 0 {
        info!(keys = plan.range_keys, "phase: range by prefix");
        let bound = plan.phase_timeout;
        match tokio::time::timeout(bound, range(store.clone(), plan, out)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => out.set_error("range", err),
            Err(_) => out.set_error("range", format!("timed out after {bound:?}")),
        }
    }

    if plan.watchers > 0 && plan.watch_events > 0 {
        info!(
            watchers = plan.watchers,
            events = plan.watch_events,
            "phase: watchers"
        );
        if let Err(err) = watch(store.clone(), plan, out).await {
            out.set_error("watch", err);
        }
    }
}

struct PutResult {
    latency: Percentiles,
    elapsed: Duration,
}

/// `concurrency` tasks each put unique keys until the phase's time is up.
async fn puts(
    store: Arc<dyn Store>,
    plan: &Plan,
    phase: usize,
    concurrency: usize,
) -> anyhow::Result<PutResult> {
    let value_size = plan.value_size;
    let start = Instant::now();
    let deadline = start + plan.duration;
    let mut tasks = JoinSet::new();
    for task in 0..concurrency {
        let store = store.clone();
        tasks.spawn(async move {
            let mut latencies = Vec::with_capacity(1024);
            let mut i = 0u64;
            while Instant::now() < deadline {
                let key = Bytes::from(format!("{PUT_PREFIX}{phase}/{task:05}/{i:010}"));
                let value = value_for(&key, value_size);
                let t0 = Instant::now();
                store.put(key, value).await?;
                latencies.push(t0.elapsed());
                i += 1;
            }
            anyhow::Ok(latencies)
        });
    }
    let mut all = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        all.extend(joined??);
    }
    let elapsed = start.elapsed();
    Ok(PutResult {
        latency: Percentiles::of(all),
        elapsed,
    })
}

/// Write keys `prefix + {i:010}` for `i` in `0..n`, `batch` puts per
/// transaction, [`LOADERS`] transactions at a time.
pub async fn load_keys(
    store: Arc<dyn Store>,
    prefix: &'static str,
    n: usize,
    value_size: usize,
    batch: usize,
) -> anyhow::Result<()> {
    let next_chunk = Arc::new(AtomicUsize::new(0));
    let mut tasks = JoinSet::new();
    for _ in 0..LOADERS {
        let (store, next_chunk) = (store.clone(), next_chunk.clone());
        tasks.spawn(async move {
            loop {
                let first = next_chunk.fetch_add(1, Ordering::Relaxed) * batch;
                if first >= n {
                    return anyhow::Ok(());
                }
                let success = (first..(first + batch).min(n))
                    .map(|i| {
                        let key = format!("{prefix}{i:010}");
                        let value = value_for(key.as_bytes(), value_size);
                        TxnOp::put(key, value)
                    })
                    .collect();
                store
                    .txn(TxnRequest {
                        success,
                        ..Default::default()
                    })
                    .await?;
            }
        });
    }
    while let Some(joined) = tasks.join_next().await {
        joined??;
    }
    Ok(())
}

/// Load `range_keys` keys, then read them all back by prefix several times.
async fn range(store: Arc<dyn Store>, plan: &Plan, out: &mut Measurements) -> anyhow::Result<()> {
    let n = plan.range_keys;
    let t0 = Instant::now();
    load_keys(store.clone(), RANGE_PREFIX, n, plan.value_size, plan.batch).await?;
    out.set("range.load_s", t0.elapsed().as_secs_f64());
    out.set("range.keys", n);
    let mut times = Vec::with_capacity(RANGE_READS);
    for _ in 0..RANGE_READS {
        let t0 = Instant::now();
        let resp = store
            .range(RangeRequest::new(KeyRange::prefix(RANGE_PREFIX)))
            .await?;
        times.push(t0.elapsed().as_secs_f64());
        if resp.kvs.len() != n || resp.count != n as i64 {
            anyhow::bail!(
                "range returned {} key-values (count {}), expected {n}",
                resp.kvs.len(),
                resp.count
            );
        }
    }
    out.set("range.first_s", times[0]);
    out.set("range.median_s", median(times));
    Ok(())
}

/// What one watcher saw.
struct WatcherReport {
    received: usize,
    in_order: bool,
    /// When it received the last expected event.
    done_at: Option<Instant>,
    error: Option<String>,
}

/// `watchers` watchers on one prefix from the same revision; one writer
/// writes `watch_events` keys in order, `batch` per transaction. Every
/// watcher must receive every event, in the order written.
async fn watch(store: Arc<dyn Store>, plan: &Plan, out: &mut Measurements) -> anyhow::Result<()> {
    let (watchers, events) = (plan.watchers, plan.watch_events);
    out.set("watch.watchers", watchers);
    out.set("watch.events", events);
    let start_revision = store.current_revision().await? + 1;
    let mut streams = Vec::with_capacity(watchers);
    for _ in 0..watchers {
        let req = WatchRequest::new(KeyRange::prefix(WATCH_PREFIX)).from_revision(start_revision);
        streams.push(store.watch(req).await?);
    }
    let mut tasks = JoinSet::new();
    for stream in streams {
        tasks.spawn(receive(stream, events));
    }

    let write_start = Instant::now();
    let bound = plan.phase_timeout;
    let written = tokio::time::timeout(
        bound,
        write_events(store.clone(), events, plan.watch_value_size, plan.batch),
    )
    .await;
    match written {
        Ok(Ok(())) => out.set("watch.write_s", write_start.elapsed().as_secs_f64()),
        Ok(Err(err)) => return Err(err.context("writing the events failed")),
        Err(_) => anyhow::bail!("writing the events timed out after {bound:?}"),
    }

    let deadline = tokio::time::Instant::now() + bound;
    let mut reports = Vec::with_capacity(watchers);
    loop {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(joined)) => reports.push(joined?),
            Ok(None) => break,
            Err(_) => {
                out.set_error("watch", format!("watchers still receiving after {bound:?}"));
                break;
            }
        }
    }
    tasks.abort_all();

    let complete = reports
        .iter()
        .filter(|r| r.received == events && r.in_order)
        .count();
    let min_received = reports.iter().map(|r| r.received).min().unwrap_or(0);
    let min_received = if reports.len() < watchers {
        0
    } else {
        min_received
    };
    out.set("watch.complete", complete);
    out.set("watch.min_received", min_received);
    out.set("watch.in_order", reports.iter().all(|r| r.in_order));
    if let Some(last) = reports.iter().filter_map(|r| r.done_at).max() {
        if complete == watchers {
            out.set(
                "watch.last_s",
                last.duration_since(write_start).as_secs_f64(),
            );
        }
    }
    if let Some(err) = reports.iter().find_map(|r| r.error.clone()) {
        out.set_error("watch", err);
    }
    Ok(())
}

async fn write_events(
    store: Arc<dyn Store>,
    events: usize,
    value_size: usize,
    batch: usize,
) -> anyhow::Result<()> {
    let value = Bytes::from(vec![b'w'; value_size]);
    for first in (0..events).step_by(batch) {
        let success = (first..(first + batch).min(events))
            .map(|i| TxnOp::put(format!("{WATCH_PREFIX}{i:010}"), value.clone()))
            .collect();
        store
            .txn(TxnRequest {
                success,
                ..Default::default()
            })
            .await?;
    }
    Ok(())
}

/// Receive until `events` events arrived, checking each is the next one written.
async fn receive(mut stream: WatchStream, events: usize) -> WatcherReport {
    let mut report = WatcherReport {
        received: 0,
        in_order: true,
        done_at: None,
        error: None,
    };
    while report.received < events {
        match stream.next().await {
            Some(Ok(batch)) => {
                for event in batch {
                    let index = event
                        .kv
                        .key
                        .strip_prefix(WATCH_PREFIX.as_bytes())
                        .and_then(|i| std::str::from_utf8(i).ok())
                        .and_then(|i| i.parse::<usize>().ok());
                    if event.kind != EventKind::Put || index != Some(report.received) {
                        report.in_order = false;
                    }
                    report.received += 1;
                }
            }
            Some(Err(err)) => {
                report.error = Some(format!("a watcher failed: {err}"));
                return report;
            }
            None => {
                report.error = Some("a watch stream ended early".to_string());
                return report;
            }
        }
    }
    report.done_at = Some(Instant::now());
    report
}

/// A value of `size` bytes of its own (derived from the key), as every
/// object a real client writes is: one shared buffer would let the store keep
/// a single copy and flatter its memory figures.
fn value_for(key: &[u8], size: usize) -> Bytes {
    let mut v = Vec::with_capacity(size);
    while v.len() < size {
        let take = (size - v.len()).min(key.len().max(1));
        v.extend(
            key.iter()
                .copied()
                .chain(std::iter::repeat(b'v'))
                .take(take),
        );
    }
    Bytes::from(v)
}
