//! Helpers shared by the conformance cases: unique key prefixes, short
//! constructors, and watch collection with timeouts (a case must fail, not
//! hang, when an event never comes).

use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;

use crate::store::{Store, WatchStream};
use crate::types::{KeyValue, Revision, WatchEvent};

/// How long a case waits for an expected watch batch.
pub(crate) const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a case waits to be sure that no event comes.
pub(crate) const QUIET_PERIOD: Duration = Duration::from_millis(300);

/// A key prefix no other case (or earlier run) uses: `/conformance/<case>/<nonce>/`.
pub(crate) fn case_prefix(case: &str) -> String {
    format!("/conformance/{case}/{:016x}/", rand::random::<u64>())
}

/// Bytes of a string.
pub(crate) fn b(s: impl AsRef<str>) -> Bytes {
    Bytes::copy_from_slice(s.as_ref().as_bytes())
}

/// The store's current revision, or panic.
pub(crate) async fn current(store: &dyn Store, ctx: &str) -> Revision {
    match store.current_revision().await {
        Ok(rev) => rev,
        Err(e) => panic!("{ctx}: current_revision failed: {e}"),
    }
}

/// Put, or panic; returns the new revision.
pub(crate) async fn put(store: &dyn Store, key: &str, value: &str) -> Revision {
    match store.put(b(key), b(value)).await {
        Ok(rev) => rev,
        Err(e) => panic!("put {key:?} failed: {e}"),
    }
}

/// Get one key, or panic.
pub(crate) async fn get(store: &dyn Store, key: &str) -> Option<KeyValue> {
    match store.get(b(key)).await {
        Ok(kv) => kv,
        Err(e) => panic!("get {key:?} failed: {e}"),
    }
}

/// The next batch of a watch; panics on an error, the end of the stream,
/// a timeout, or an empty batch.
pub(crate) async fn next_batch(stream: &mut WatchStream, ctx: &str) -> Vec<WatchEvent> {
    match tokio::time::timeout(EVENT_TIMEOUT, stream.next()).await {
        Err(_) => panic!("{ctx}: no watch batch within {EVENT_TIMEOUT:?}"),
        Ok(None) => panic!("{ctx}: watch stream ended unexpectedly"),
        Ok(Some(Err(e))) => panic!("{ctx}: watch stream failed: {e}"),
        Ok(Some(Ok(batch))) => {
            assert!(!batch.is_empty(), "{ctx}: watch yielded an empty batch");
            batch
        }
    }
}

/// Collect exactly `n` events, checking the batch rules on the way: within
/// a batch revisions never decrease, and one revision never spans two
/// batches. Panics if more than `n` events arrive in the last batch.
pub(crate) async fn collect_events(
    stream: &mut WatchStream,
    n: usize,
    ctx: &str,
) -> Vec<WatchEvent> {
    let mut events: Vec<WatchEvent> = Vec::with_capacity(n);
    while events.len() < n {
        let batch = next_batch(stream, ctx).await;
        let first = batch[0].kv.mod_revision;
        if let Some(last) = events.last() {
            assert!(
                first > last.kv.mod_revision,
                "{ctx}: batch starting at revision {first} does not follow the previous batch \
                 ending at {} (a revision split across batches, or out of order)",
                last.kv.mod_revision
            );
        }
        for pair in batch.windows(2) {
            assert!(
                pair[0].kv.mod_revision <= pair[1].kv.mod_revision,
                "{ctx}: revisions decrease within a batch: {} then {}",
                pair[0].kv.mod_revision,
                pair[1].kv.mod_revision
            );
        }
        events.extend(batch);
    }
    assert_eq!(
        events.len(),
        n,
        "{ctx}: more events than expected: {events:#?}"
    );
    events
}

/// Panic if the watch yields anything within [`QUIET_PERIOD`].
pub(crate) async fn assert_quiet(stream: &mut WatchStream, ctx: &str) {
    if let Ok(item) = tokio::time::timeout(QUIET_PERIOD, stream.next()).await {
        panic!("{ctx}: expected no watch output, got {item:?}");
    }
}
