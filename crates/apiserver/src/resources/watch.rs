//! Watch streams: one compact JSON `WatchEvent` per line, as kube-apiserver
//! writes them. The initial state (for `resourceVersion` unset or `0`, or
//! `sendInitialEvents=true`) comes as `ADDED` events, followed by the
//! `initial-events-end` bookmark when bookmarks are allowed; then changes
//! from the store's watch. An object that moves out of a selector is
//! `DELETED` for that watcher, one that moves in is `ADDED`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt, StreamExt};
use rkube_apimachinery::table;
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{EventKind, KeyRange, Store, StoreError, WatchRequest};
use serde_json::{json, Value};

use super::negotiate::{self, Render};
use super::raw;
use super::storage::{self, ListOptions};

/// A watch sends what is waiting in one write, up to about this much.
const COALESCE_BYTES: usize = 256 * 1024;

/// Watch parameters from the query.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    pub send_initial_events: Option<bool>,
    pub allow_bookmarks: bool,
    pub timeout: Option<Duration>,
    /// How often an idle watch with `allowWatchBookmarks` gets a bookmark.
    pub bookmark_interval: Duration,
    /// Each event's object as is, as a one-row Table (kubectl `get -w`), or
    /// reduced to its metadata.
    pub render: Render,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut v = serde_json::to_vec(&json!({"type": kind, "object": object})).unwrap_or_default();
    v.push(b'\n');
    Bytes::from(v)
}

fn error_line(e: &ApiError) -> Bytes {
    line(
        "ERROR",
        &serde_json::to_value(e.status()).unwrap_or(Value::Null),
    )
}

/// A `BOOKMARK` at `rv`: the watched kind with only its resourceVersion.
fn bookmark(info: &ResourceInfo, rv: i64) -> Bytes {
    line(
        "BOOKMARK",
        &json!({
            "kind": info.kind, "apiVersion": info.api_version(),
            "metadata": {"resourceVersion": rv.max(0).to_string()}
        }),
    )
}

/// Start a watch; returns its body. It ends when the client goes away
/// (the body is dropped), the timeout passes, or the store ends the watch.
pub async fn start(
    store: Arc<dyn Store>,
    info: ResourceInfo,
    ns: Option<String>,
    opts: ListOptions,
    params: WatchParams,
    watchers: prometheus_client::metrics::gauge::Gauge,
) -> Result<WatchBody, ApiError> {
    let rv = opts.resource_version.clone().unwrap_or_default();
    let initial = params
        .send_initial_events
        .unwrap_or(rv.is_empty() || rv == "0");
    let mut first_lines = Vec::new();
    let from: i64 = if initial {
        let list_opts = ListOptions {
            limit: 0,
            continue_token: None,
            resource_version: None,
            ..opts.clone()
        };
        let list = storage::list_raw(store.as_ref(), &info, ns.as_deref(), &list_opts).await?;
        for item in &list.items {
            let mut l = Vec::with_capacity(item.len() + 32);
            l.extend_from_slice(br#"{"type":"ADDED","object":"#);
            l.extend_from_slice(item);
            l.extend_from_slice(b"}\n");
            first_lines.push(Bytes::from(l));
        }
        let list_rv = list
            .metadata
            .pointer("/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if params.send_initial_events == Some(true) && params.allow_bookmarks {
            first_lines.push(line(
                "BOOKMARK",
                &json!({
                    "kind": info.kind, "apiVersion": info.api_version(),
                    "metadata": {"resourceVersion": list_rv.to_string(),
                                 "annotations": {"k8s.io/initial-events-end": "true"}}
                }),
            ));
        }
        list_rv + 1
    } else {
        let rv = rv
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?;
        storage::wait_for_revision(store.as_ref(), rv).await?;
        rv + 1
    };
    let prefix = storage::list_prefix(&info, ns.as_deref());
    let events = store
        .watch(
            WatchRequest::new(KeyRange::prefix(Bytes::from(prefix)))
                .from_revision(from)
                .with_prev_kv(),
        )
        .await
        .map_err(storage::store_error)?;
    let timeout = params.timeout.unwrap_or(Duration::from_secs(1800));
    watchers.inc();
    let (info_group, info_kind) = (info.group.clone(), info.kind.clone());
    let mut bookmarks = tokio::time::interval_at(
        tokio::time::Instant::now() + params.bookmark_interval,
        params.bookmark_interval,
    );
    bookmarks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watching = Watching {
        info,
        opts,
        allow_bookmarks: params.allow_bookmarks,
        events,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        bookmarks,
        seen: from - 1,
        held: None,
        done: false,
        _registered: Registered(watchers),
    };
    let changes = futures::stream::unfold(watching, |mut w| async move {
        let chunk = w.next_chunk().await?;
        Some((chunk, w))
    });
    let body = futures::stream::iter(first_lines).chain(changes);
    match params.render {
        Render::Json => Ok(body.boxed()),
        mut shape => {
            let (group, kind) = (info_group, info_kind);
            Ok(body
                .map(move |chunk| {
                    let out = reshape(&group, &kind, &chunk, &shape);
                    // Only the first event carries a Table's column definitions.
                    if let Render::Table(t) = &mut shape {
                        t.headers = false;
                    }
                    out
                })
                .boxed())
        }
    }
}

/// Rewrites the event lines of `chunk` so that each object is a one-row
/// Table, or its metadata only (BOOKMARK and ERROR events pass through).
fn reshape(group: &str, kind: &str, chunk: &Bytes, shape: &Render) -> Bytes {
    let mut out = Vec::with_capacity(chunk.len() * 2);
    let mut shape = *shape;
    for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let ev: Option<Value> = serde_json::from_slice(line).ok();
        let converted = ev.and_then(|mut ev| {
            let ty = ev.get("type")?.as_str()?;
            if !matches!(ty, "ADDED" | "MODIFIED" | "DELETED") {
                return None;
            }
            let obj = ev.get("object")?.clone();
            ev["object"] = match &mut shape {
                Render::Json => obj,
                Render::Metadata(v) => negotiate::partial(&obj, v),
                Render::Table(t) => {
                    let rv = obj
                        .pointer("/metadata/resourceVersion")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let table =
                        table::table(group, kind, &[obj], json!({"resourceVersion": rv}), t);
                    t.headers = false;
                    table
                }
            };
            serde_json::to_vec(&ev).ok()
        });
        match converted {
            Some(bytes) => out.extend_from_slice(&bytes),
            None => out.extend_from_slice(line),
        }
        out.push(b'\n');
    }
    Bytes::from(out)
}

/// The response body of a watch: lines of JSON events.
pub type WatchBody = futures::stream::BoxStream<'static, Bytes>;

/// Counts a watcher in `apiserver_registered_watchers` while it lives.
struct Registered(prometheus_client::metrics::gauge::Gauge);

impl Drop for Registered {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A watch in progress. It is polled by the connection that serves it (no
/// task or channel of its own): one wake-up per burst of events, and it
/// ends when the client goes away and the body is dropped.
struct Watching {
    info: ResourceInfo,
    opts: ListOptions,
    allow_bookmarks: bool,
    events: rkube_store::WatchStream,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    bookmarks: tokio::time::Interval,
    /// Every change up to this revision has been looked at (sent, or
    /// outside the selectors): the only safe bookmark revision.
    seen: i64,
    /// A store item taken while coalescing, to be handled next.
    held: Option<Option<Result<Vec<rkube_store::WatchEvent>, StoreError>>>,
    done: bool,
    _registered: Registered,
}

impl Watching {
    /// The next bytes to send, or `None` when the watch is over.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        loop {
            let item = match self.held.take() {
                Some(item) => item,
                None => tokio::select! {
                    _ = &mut self.deadline => {
                        self.done = true;
                        return self.allow_bookmarks.then(|| bookmark(&self.info, self.seen));
                    }
                    _ = self.bookmarks.tick(), if self.allow_bookmarks => {
                        return Some(bookmark(&self.info, self.seen));
                    }
                    b = self.events.next() => b,
                },
            };
            let batch = match item {
                None => {
                    self.done = true;
                    return None;
                }
                Some(Err(StoreError::Compacted {
                    requested,
                    compacted,
                })) => {
                    self.done = true;
                    let e = ApiError::too_old_resource_version(
                        (requested - 1).max(0) as u64,
                        compacted.max(0) as u64,
                    );
                    return Some(error_line(&e));
                }
                Some(Err(e)) => {
                    // A slow or closed watch: the client re-lists.
                    tracing::debug!(error = %e, resource = %self.info.plural, "watch ended by the store");
                    self.done = true;
                    return Some(error_line(&storage::store_error(e)));
                }
                Some(Ok(b)) => b,
            };
            // One chunk for this batch and any already waiting behind it:
            // one write for a burst of events, not one per event.
            let mut chunk = Vec::new();
            let mut batch = batch;
            loop {
                for ev in batch {
                    self.seen = self.seen.max(ev.kv.mod_revision);
                    translate(&self.info, &self.opts, &ev, &mut chunk);
                }
                if chunk.len() >= COALESCE_BYTES {
                    break;
                }
                match self.events.next().now_or_never() {
                    Some(Some(Ok(next))) => batch = next,
                    Some(other) => {
                        self.held = Some(other);
                        break;
                    }
                    None => break,
                }
            }
            if !chunk.is_empty() {
                return Some(Bytes::from(chunk));
            }
        }
    }
}

/// Appends `{"type":"<kind>","object":<object>}` and a newline to `out`,
/// the object being stored bytes with resourceVersion `rv` stamped in.
fn write_event(kind: &str, value: &[u8], rv: i64, out: &mut Vec<u8>) {
    let start = out.len();
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","object":"#);
    if raw::write_stamped(value, rv, out).is_err() {
        // Not JSON in the store: nothing a client could use.
        out.truncate(start);
        return;
    }
    out.extend_from_slice(b"}\n");
}

/// Appends a store event as the watcher sees it to `out` (or nothing,
/// outside its selectors). Objects are only parsed when there are
/// selectors to match.
fn translate(
    info: &ResourceInfo,
    opts: &ListOptions,
    ev: &rkube_store::WatchEvent,
    out: &mut Vec<u8>,
) {
    let filtering = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
    let matches = |kv: &rkube_store::KeyValue| {
        !filtering
            || storage::decode(kv)
                .ok()
                .is_some_and(|o| storage::matches(info, opts, &o))
    };
    let prev_matches = ev.prev_kv.as_ref().is_some_and(matches);
    match ev.kind {
        EventKind::Put => {
            let kind = match (prev_matches, matches(&ev.kv)) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return,
            };
            write_event(kind, &ev.kv.value, ev.kv.mod_revision, out);
        }
        EventKind::Delete => {
            if let (Some(prev), true) = (&ev.prev_kv, prev_matches) {
                write_event("DELETED", &prev.value, ev.kv.mod_revision, out);
            }
        }
    }
}
