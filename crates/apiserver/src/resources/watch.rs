//! Watch streams: one compact JSON `WatchEvent` per line, as kube-apiserver
//! writes them. The initial state (for `resourceVersion` unset or `0`, or
//! `sendInitialEvents=true`) comes as `ADDED` events, followed by the
//! `initial-events-end` bookmark when bookmarks are allowed; then changes
//! from the store's watch. An object that moves out of a selector is
//! `DELETED` for that watcher, one that moves in is `ADDED`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{EventKind, KeyRange, Store, StoreError, WatchRequest};
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::storage::{self, ListOptions};

/// Watch parameters from the query.
#[derive(Debug, Clone, Default)]
pub struct WatchParams {
    pub send_initial_events: Option<bool>,
    pub allow_bookmarks: bool,
    pub timeout: Option<Duration>,
    /// How often an idle watch with `allowWatchBookmarks` gets a bookmark.
    pub bookmark_interval: Duration,
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

/// Start a watch; returns the receiving end of its lines. The producing task
/// stops when the client goes away, the timeout passes, or the store ends the watch.
pub async fn start(
    store: Arc<dyn Store>,
    info: ResourceInfo,
    ns: Option<String>,
    opts: ListOptions,
    params: WatchParams,
    watchers: prometheus_client::metrics::gauge::Gauge,
) -> Result<mpsc::Receiver<Bytes>, ApiError> {
    let rv = opts.resource_version.clone().unwrap_or_default();
    let initial = params
        .send_initial_events
        .unwrap_or(rv.is_empty() || rv == "0");
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut first_lines = Vec::new();
    let from: i64 = if initial {
        let list_opts = ListOptions {
            limit: 0,
            continue_token: None,
            resource_version: None,
            ..opts.clone()
        };
        let list = storage::list(store.as_ref(), &info, ns.as_deref(), &list_opts).await?;
        for item in list
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            first_lines.push(line("ADDED", item));
        }
        let list_rv = list
            .pointer("/metadata/resourceVersion")
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
    let mut events = store
        .watch(
            WatchRequest::new(KeyRange::prefix(Bytes::from(prefix)))
                .from_revision(from)
                .with_prev_kv(),
        )
        .await
        .map_err(storage::store_error)?;
    let timeout = params.timeout.unwrap_or(Duration::from_secs(1800));
    tokio::spawn(async move {
        watchers.inc();
        // Counted while this task lives, however it ends.
        struct Registered(prometheus_client::metrics::gauge::Gauge);
        impl Drop for Registered {
            fn drop(&mut self) {
                self.0.dec();
            }
        }
        let _registered = Registered(watchers);
        for l in first_lines {
            if tx.send(l).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval_at(
            tokio::time::Instant::now() + params.bookmark_interval,
            params.bookmark_interval,
        );
        bookmarks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Every change up to this revision has been looked at (sent, or
        // outside the selectors): the only safe bookmark revision.
        let mut seen = from - 1;
        loop {
            let batch = tokio::select! {
                _ = &mut deadline => {
                    if params.allow_bookmarks {
                        let _ = tx.send(bookmark(&info, seen)).await;
                    }
                    return;
                }
                _ = tx.closed() => return,
                _ = bookmarks.tick(), if params.allow_bookmarks => {
                    if tx.send(bookmark(&info, seen)).await.is_err() {
                        return;
                    }
                    continue;
                }
                b = events.next() => b,
            };
            let batch = match batch {
                None => return,
                Some(Err(StoreError::Compacted {
                    requested,
                    compacted,
                })) => {
                    let e = ApiError::too_old_resource_version(
                        (requested - 1).max(0) as u64,
                        compacted.max(0) as u64,
                    );
                    let _ = tx.send(error_line(&e)).await;
                    return;
                }
                Some(Err(e)) => {
                    // A slow or closed watch: the client re-lists.
                    tracing::debug!(error = %e, resource = %info.plural, "watch ended by the store");
                    let _ = tx.send(error_line(&storage::store_error(e))).await;
                    return;
                }
                Some(Ok(b)) => b,
            };
            for ev in batch {
                seen = seen.max(ev.kv.mod_revision);
                let Some((kind, obj)) = translate(&info, &opts, &ev) else {
                    continue;
                };
                if tx.send(line(kind, &obj)).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(rx)
}

/// A store event as the watcher sees it (or nothing, outside its selectors).
fn translate(
    info: &ResourceInfo,
    opts: &ListOptions,
    ev: &rkube_store::WatchEvent,
) -> Option<(&'static str, Value)> {
    let prev = ev.prev_kv.as_ref().and_then(|kv| storage::decode(kv).ok());
    let prev_matches = prev
        .as_ref()
        .is_some_and(|p| storage::matches(info, opts, p));
    match ev.kind {
        EventKind::Put => {
            let cur = storage::decode(&ev.kv).ok()?;
            let cur_matches = storage::matches(info, opts, &cur);
            match (prev.is_some() && prev_matches, cur_matches) {
                (true, true) => Some(("MODIFIED", cur)),
                (false, true) => Some(("ADDED", cur)),
                (true, false) => Some(("DELETED", cur)),
                (false, false) => None,
            }
        }
        EventKind::Delete => {
            let mut last = prev?;
            if !prev_matches {
                return None;
            }
            super::object::set_resource_version(&mut last, ev.kv.mod_revision);
            Some(("DELETED", last))
        }
    }
}
