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
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{EventKind, KeyRange, RangeRequest, Store, StoreError, WatchRequest};
use serde_json::{json, Value};

use super::fanout::{self, Fanout};
use super::get;
use super::negotiate::{self, Render};
use super::options::ListOptions;
use super::store_access::{list_prefix, store_error, wait_for_revision};
use super::versions;

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
    fanout: &Fanout,
    info: ResourceInfo,
    ns: Option<String>,
    opts: ListOptions,
    params: WatchParams,
    watchers: prometheus_client::metrics::gauge::Gauge,
) -> Result<WatchBody, ApiError> {
    let rv = opts.resource_version.clone().unwrap_or_default();
    // The shared feed first, so that it already covers the revision this
    // watch starts from (it only ever reads forward from when it started).
    let feed = match fanout.feed(&list_prefix(&info, None)).await {
        Ok(feed) => Some(feed),
        Err(e) => {
            tracing::debug!(error = %e, resource = %info.plural, "no watch feed");
            None
        }
    };
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
        let list = get::list_raw(store.as_ref(), &info, ns.as_deref(), &list_opts).await?;
        for item in &list.items {
            let mut l = Vec::with_capacity(item.encoded_len() + 32);
            l.extend_from_slice(br#"{"type":"ADDED","object":"#);
            item.write_to(&mut l);
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
        wait_for_revision(store.as_ref(), rv).await?;
        rv + 1
    };
    let prefix = list_prefix(&info, ns.as_deref());
    let cursor = match feed.and_then(|f| f.cursor(from - 1)) {
        // The feed may still hold changes the store has compacted away; a
        // watch from there is told so (410) by the store, like any other.
        Some(c) if !compacted(store.as_ref(), &prefix, from - 1).await => Some(c),
        _ => None,
    };
    let source = match cursor {
        Some(cursor) => Source::Feed(cursor),
        None => Source::open(store.as_ref(), &prefix, from)
            .await
            .map_err(store_error)?,
    };
    let timeout = params.timeout.unwrap_or(Duration::from_secs(1800));
    watchers.inc();
    let table_info = info.clone();
    let mut bookmarks = tokio::time::interval_at(
        tokio::time::Instant::now() + params.bookmark_interval,
        params.bookmark_interval,
    );
    bookmarks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let watching = Watching {
        info,
        opts,
        allow_bookmarks: params.allow_bookmarks,
        store,
        prefix,
        source,
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
            Ok(body
                .map(move |chunk| {
                    let out = reshape(&table_info, &chunk, &shape);
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

/// Whether the store has compacted `revision` away (a point read at it,
/// which the store refuses once compacted).
async fn compacted(store: &dyn Store, prefix: &str, revision: i64) -> bool {
    if revision <= 0 {
        return false;
    }
    let probe = RangeRequest::new(KeyRange::key(Bytes::from(prefix.to_string())))
        .at_revision(revision)
        .count_only();
    matches!(store.range(probe).await, Err(StoreError::Compacted { .. }))
}

/// Rewrites the event lines of `chunk` so that each object is a one-row
/// Table, or its metadata only (BOOKMARK and ERROR events pass through).
fn reshape(info: &ResourceInfo, chunk: &Bytes, shape: &Render) -> Bytes {
    let mut out = Vec::with_capacity(chunk.len() * 2);
    let mut shape = *shape;
    // The metadata form's apiVersion as a JSON string, once per chunk.
    let metadata_version = match shape {
        Render::Metadata(v)
        | Render::MetadataList(v)
        | Render::MetadataProtobuf(v)
        | Render::MetadataListProtobuf(v) => serde_json::to_string(v).ok(),
        _ => None,
    };
    for line in chunk.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        if let Some(api_version) = &metadata_version {
            if let Some(()) = metadata_event(line, api_version, &mut out) {
                out.push(b'\n');
                continue;
            }
        }
        let ev: Option<Value> = serde_json::from_slice(line).ok();
        let converted = ev.and_then(|mut ev| {
            let ty = ev.get("type")?.as_str()?;
            if !matches!(ty, "ADDED" | "MODIFIED" | "DELETED") {
                return None;
            }
            let obj = ev.get("object")?.clone();
            ev["object"] = match &mut shape {
                Render::Json => obj,
                Render::Metadata(v)
                | Render::MetadataList(v)
                | Render::MetadataProtobuf(v)
                | Render::MetadataListProtobuf(v) => negotiate::partial(&obj, v),
                Render::Table(t) => {
                    let rv = obj
                        .pointer("/metadata/resourceVersion")
                        .cloned()
                        .unwrap_or(Value::Null);
                    let table = negotiate::table(info, &[obj], json!({"resourceVersion": rv}), t);
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

/// The parts of a watch event line a metadata-only watcher needs,
/// borrowed from the line: the object's `metadata` is copied as it is
/// rather than parsed (a garbage collector watching pods sees every pod
/// change, and parsing whole pods was most of its cost).
#[derive(serde::Deserialize)]
struct EventParts<'a> {
    #[serde(rename = "type", borrow)]
    kind: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    object: ObjectParts<'a>,
}

#[derive(serde::Deserialize)]
struct ObjectParts<'a> {
    #[serde(borrow)]
    metadata: Option<&'a serde_json::value::RawValue>,
}

/// Writes `line` (an ADDED, MODIFIED or DELETED event) to `out` with its
/// object as `PartialObjectMetadata` of `api_version` (already a JSON
/// string, quotes included); `None` (nothing written) for other events and
/// anything unexpected, which the caller handles the slow way.
fn metadata_event(line: &[u8], api_version: &str, out: &mut Vec<u8>) -> Option<()> {
    let ev: EventParts<'_> = serde_json::from_slice(line).ok()?;
    if !matches!(ev.kind.as_ref(), "ADDED" | "MODIFIED" | "DELETED") {
        return None;
    }
    let metadata = ev.object.metadata.map_or("{}", |m| m.get());
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(ev.kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":");
    out.extend_from_slice(api_version.as_bytes());
    out.extend_from_slice(b",\"metadata\":");
    out.extend_from_slice(metadata.as_bytes());
    out.extend_from_slice(b"}}");
    Some(())
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
    store: Arc<dyn Store>,
    /// The storage prefix this watcher sees (its namespace, or all).
    prefix: String,
    source: Source,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
    bookmarks: tokio::time::Interval,
    /// Every change up to this revision has been looked at (sent, or
    /// outside the selectors): the only safe bookmark revision, and where a
    /// watch that moves from its feed to the store resumes.
    seen: i64,
    /// What was pulled while coalescing, to be handled next.
    held: Option<Pulled>,
    done: bool,
    _registered: Registered,
}

/// Where a watch reads changes: the resource's shared feed, or (for old
/// revisions, or once it fell behind the feed) a store watch of its own.
enum Source {
    Feed(fanout::Cursor),
    Store(rkube_store::WatchStream),
}

enum Pulled {
    Changes(Vec<fanout::Batch>),
    /// The feed cannot serve this watch any more: read the store.
    Fallback,
    /// The store ended the watch (with why, if it said).
    End(Option<StoreError>),
}

impl Source {
    async fn open(store: &dyn Store, prefix: &str, from: i64) -> Result<Source, StoreError> {
        let events = store
            .watch(
                WatchRequest::new(KeyRange::prefix(Bytes::from(prefix.to_string())))
                    .from_revision(from)
                    .with_prev_kv(),
            )
            .await?;
        Ok(Source::Store(events))
    }

    async fn pull(&mut self) -> Pulled {
        match self {
            Source::Feed(cursor) => match cursor.next().await {
                fanout::Next::Batches(b) => Pulled::Changes(b),
                fanout::Next::Behind | fanout::Next::Ended(_) => Pulled::Fallback,
            },
            Source::Store(events) => match events.next().await {
                Some(Ok(batch)) => {
                    Pulled::Changes(vec![batch.into_iter().map(fanout::Change::new).collect()])
                }
                Some(Err(e)) => Pulled::End(Some(e)),
                None => Pulled::End(None),
            },
        }
    }
}

impl Watching {
    /// The next bytes to send, or `None` when the watch is over.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        loop {
            let pulled = match self.held.take() {
                Some(p) => p,
                None => tokio::select! {
                    _ = &mut self.deadline => {
                        self.done = true;
                        return self.allow_bookmarks.then(|| bookmark(&self.info, self.seen));
                    }
                    _ = self.bookmarks.tick(), if self.allow_bookmarks => {
                        return Some(bookmark(&self.info, self.seen));
                    }
                    p = self.source.pull() => p,
                },
            };
            let batches = match pulled {
                Pulled::Changes(b) => b,
                Pulled::Fallback => {
                    tracing::info!(
                        resource = %self.info.plural,
                        after = self.seen,
                        "a watch left behind by its feed reads the store"
                    );
                    match Source::open(self.store.as_ref(), &self.prefix, self.seen + 1).await {
                        Ok(source) => {
                            self.source = source;
                            continue;
                        }
                        Err(e) => return self.end(Some(e)),
                    }
                }
                Pulled::End(e) => return self.end(e),
            };
            // One chunk for these changes and any already waiting behind
            // them: one write for a burst of events, not one per event.
            let mut chunk = Vec::new();
            let mut batches = batches;
            loop {
                for change in batches.iter().flat_map(|b| b.iter()) {
                    if change.revision() <= self.seen {
                        continue; // before this watch's start
                    }
                    self.seen = change.revision();
                    translate(&self.info, &self.opts, &self.prefix, change, &mut chunk);
                }
                if chunk.len() >= COALESCE_BYTES {
                    break;
                }
                match self.source.pull().now_or_never() {
                    Some(Pulled::Changes(next)) => batches = next,
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

    /// The last words of a watch the store ended.
    fn end(&mut self, e: Option<StoreError>) -> Option<Bytes> {
        self.done = true;
        match e {
            None => None,
            Some(StoreError::Compacted {
                requested,
                compacted,
            }) => {
                let e = ApiError::too_old_resource_version(
                    (requested - 1).max(0) as u64,
                    compacted.max(0) as u64,
                );
                Some(error_line(&e))
            }
            Some(e) => {
                // A slow or closed watch: the client re-lists.
                tracing::debug!(error = %e, resource = %self.info.plural, "watch ended by the store");
                Some(error_line(&store_error(e)))
            }
        }
    }
}

/// Appends `{"type":"<kind>","object":<object>}` and a newline to `out`.
fn write_event(kind: &str, object: Option<&Bytes>, out: &mut Vec<u8>) {
    // Not JSON in the store: nothing a client could use.
    let Some(object) = object else { return };
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(br#"","object":"#);
    out.extend_from_slice(object);
    out.extend_from_slice(b"}\n");
}

/// An object as the watched version shows it (a custom resource's CRD or
/// a built-in kind may serve several).
fn versioned(info: &ResourceInfo, object: Option<&Bytes>) -> Option<Bytes> {
    let object = object?;
    match versions::served_bytes(info, object) {
        Some(other) => Some(Bytes::from(other)),
        None => Some(object.clone()),
    }
}

/// Appends a change as the watcher sees it to `out` (or nothing, outside
/// its prefix or selectors). Objects are only parsed when there are
/// selectors to match, once per change however many watchers match it.
fn translate(
    info: &ResourceInfo,
    opts: &ListOptions,
    prefix: &str,
    change: &fanout::Change,
    out: &mut Vec<u8>,
) {
    let ev = &change.event;
    if !ev.kv.key.starts_with(prefix.as_bytes()) {
        return;
    }
    let filtering = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
    let matches = |prev: bool| {
        !filtering
            || change
                .decoded(prev)
                .is_some_and(|o| get::matches(info, opts, o))
    };
    let prev_matches = ev.prev_kv.is_some() && matches(true);
    match ev.kind {
        EventKind::Put => {
            let kind = match (prev_matches, matches(false)) {
                (true, true) => "MODIFIED",
                (false, true) => "ADDED",
                (true, false) => "DELETED",
                (false, false) => return,
            };
            write_event(kind, versioned(info, change.stamped(false)).as_ref(), out);
        }
        EventKind::Delete => {
            if prev_matches {
                write_event(
                    "DELETED",
                    versioned(info, change.stamped(true)).as_ref(),
                    out,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path writes what the general one (`negotiate::partial`)
    /// would, for every event type it takes; others are left to it.
    #[test]
    fn metadata_events_match_the_general_reshaping() {
        let object = json!({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "p\"1", "namespace": "ns", "uid": "u", "labels": {"a": "b"},
                         "ownerReferences": [{"uid": "o", "controller": true}]},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        });
        for kind in ["ADDED", "MODIFIED", "DELETED"] {
            let line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("json");
            let mut out = Vec::new();
            assert_eq!(
                metadata_event(&line, r#""meta.k8s.io/v1""#, &mut out),
                Some(())
            );
            let got: Value = serde_json::from_slice(&out).expect("the event is JSON");
            let want =
                json!({"type": kind, "object": negotiate::partial(&object, "meta.k8s.io/v1")});
            assert_eq!(got, want);
        }
        let bookmark = br#"{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"5"}}}"#;
        let mut out = Vec::new();
        assert_eq!(
            metadata_event(bookmark, r#""meta.k8s.io/v1""#, &mut out),
            None
        );
        assert!(out.is_empty());
        assert_eq!(
            metadata_event(b"not json", r#""meta.k8s.io/v1""#, &mut out),
            None
        );
        assert!(out.is_empty());
    }
}
