//! Conformance cases for watches: live events on a key and on a prefix,
//! `prev_kv`, the shape of delete events, replay from an older revision
//! followed by live events, one batch per transaction, several watchers.

use futures::future::join_all;

use super::util::{assert_quiet, b, case_prefix, collect_events, current, next_batch, put};
use crate::store::{Store, WatchStream};
use crate::types::{EventKind, KeyRange, Revision, TxnOp, TxnRequest, WatchEvent, WatchRequest};

async fn watch(store: &dyn Store, req: WatchRequest, ctx: &str) -> WatchStream {
    match store.watch(req).await {
        Ok(stream) => stream,
        Err(e) => panic!("{ctx}: watch failed: {e}"),
    }
}

async fn delete(store: &dyn Store, key: &str) -> Revision {
    let (deleted, rev) = store.delete(KeyRange::key(b(key))).await.expect("delete");
    assert_eq!(deleted, 1, "delete {key:?}");
    rev
}

fn summary(events: &[WatchEvent]) -> Vec<(EventKind, String, String, Revision)> {
    events
        .iter()
        .map(|e| {
            (
                e.kind,
                String::from_utf8_lossy(&e.kv.key).into_owned(),
                String::from_utf8_lossy(&e.kv.value).into_owned(),
                e.kv.mod_revision,
            )
        })
        .collect()
}

/// A watch from now on one key gets that key's puts and deletes in order,
/// nothing for other keys (not even ones it is a prefix of); with
/// `prev_kv`, each event carries the version it replaced. A delete event
/// has an empty value, `mod_revision` = the delete's revision, and
/// `create_revision` and `version` 0.
pub async fn watch_key_from_now(store: &dyn Store) {
    let p = case_prefix("watch_key_from_now");
    let k = format!("{p}k");
    let mut plain = watch(store, WatchRequest::new(KeyRange::key(b(&k))), "plain").await;
    let mut with_prev = watch(
        store,
        WatchRequest::new(KeyRange::key(b(&k))).with_prev_kv(),
        "prev",
    )
    .await;

    put(store, &format!("{p}k2"), "not mine").await;
    let r1 = put(store, &k, "v1").await;
    let r2 = put(store, &k, "v2").await;
    let r3 = delete(store, &k).await;
    let r4 = put(store, &k, "v3").await;

    let events = collect_events(&mut with_prev, 4, "watch key prev_kv").await;
    assert_eq!(
        summary(&events),
        vec![
            (EventKind::Put, k.clone(), "v1".into(), r1),
            (EventKind::Put, k.clone(), "v2".into(), r2),
            (EventKind::Delete, k.clone(), String::new(), r3),
            (EventKind::Put, k.clone(), "v3".into(), r4),
        ],
        "events of a key watch"
    );
    let [create, update, del, recreate] = &events[..] else {
        unreachable!()
    };
    assert_eq!((create.kv.create_revision, create.kv.version), (r1, 1));
    assert_eq!(create.prev_kv, None, "a create has no prev_kv");
    assert_eq!((update.kv.create_revision, update.kv.version), (r1, 2));
    let prev = update.prev_kv.as_ref().expect("an update carries prev_kv");
    assert_eq!(
        (prev.value.clone(), prev.mod_revision, prev.version),
        (b("v1"), r1, 1)
    );
    assert_eq!(
        (del.kv.create_revision, del.kv.mod_revision, del.kv.version, del.kv.value.len()),
        (0, r3, 0, 0),
        "a delete event's kv: create_revision 0, mod_revision = delete revision, version 0, empty value"
    );
    let prev = del.prev_kv.as_ref().expect("a delete carries prev_kv");
    assert_eq!(
        (prev.value.clone(), prev.mod_revision, prev.version),
        (b("v2"), r2, 2)
    );
    assert_eq!((recreate.kv.create_revision, recreate.kv.version), (r4, 1));
    assert_eq!(
        recreate.prev_kv, None,
        "a re-create after a delete has no prev_kv"
    );

    let events = collect_events(&mut plain, 4, "watch key").await;
    assert!(
        events.iter().all(|e| e.prev_kv.is_none()),
        "no prev_kv unless asked"
    );
    assert_eq!(events[2].kind, EventKind::Delete);
    assert_eq!(events[2].kv.mod_revision, r3);

    assert_quiet(&mut plain, "key watch after its events").await;
}

/// A watch from now on a prefix gets every key under it, interleaved in
/// commit order, and nothing outside it.
pub async fn watch_prefix_from_now(store: &dyn Store) {
    let p = case_prefix("watch_prefix_from_now");
    let dir = format!("{p}dir/");
    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::prefix(b(&dir))).with_prev_kv(),
        "prefix",
    )
    .await;

    let r1 = put(store, &format!("{dir}b"), "1").await;
    put(store, &format!("{p}dir"), "outside").await;
    put(store, &format!("{p}dir0"), "outside").await;
    let r2 = put(store, &format!("{dir}a"), "2").await;
    let r3 = put(store, &format!("{dir}b"), "3").await;
    let r4 = delete(store, &format!("{dir}a")).await;
    let r5 = put(store, &format!("{dir}sub/c"), "5").await;

    let events = collect_events(&mut w, 5, "prefix watch").await;
    assert_eq!(
        summary(&events),
        vec![
            (EventKind::Put, format!("{dir}b"), "1".into(), r1),
            (EventKind::Put, format!("{dir}a"), "2".into(), r2),
            (EventKind::Put, format!("{dir}b"), "3".into(), r3),
            (EventKind::Delete, format!("{dir}a"), String::new(), r4),
            (EventKind::Put, format!("{dir}sub/c"), "5".into(), r5),
        ],
        "a prefix watch gets the prefix's events in commit order"
    );
    assert_eq!(
        events[2].prev_kv.as_ref().map(|kv| kv.value.clone()),
        Some(b("1"))
    );
    assert_eq!(
        events[3].prev_kv.as_ref().map(|kv| kv.mod_revision),
        Some(r2)
    );
    assert_quiet(&mut w, "prefix watch after its events").await;
}

/// A watch from an older revision first replays history from that revision
/// (inclusive), with prev_kv, then continues with live events.
pub async fn watch_from_older_revision(store: &dyn Store) {
    let p = case_prefix("watch_from_older_revision");
    let k = format!("{p}k");
    let r1 = put(store, &k, "v1").await;
    let r2 = put(store, &k, "v2").await;
    let r3 = delete(store, &k).await;
    let r4 = put(store, &format!("{p}j"), "j").await;

    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::prefix(b(&p)))
            .from_revision(r2)
            .with_prev_kv(),
        "replay",
    )
    .await;
    let replay = collect_events(&mut w, 3, "replay").await;
    assert_eq!(
        summary(&replay),
        vec![
            (EventKind::Put, k.clone(), "v2".into(), r2),
            (EventKind::Delete, k.clone(), String::new(), r3),
            (EventKind::Put, format!("{p}j"), "j".into(), r4),
        ],
        "replay starts at the requested revision, inclusive"
    );
    assert_eq!(
        replay[0]
            .prev_kv
            .as_ref()
            .map(|kv| (kv.value.clone(), kv.mod_revision)),
        Some((b("v1"), r1))
    );
    assert_eq!(
        replay[1].prev_kv.as_ref().map(|kv| kv.value.clone()),
        Some(b("v2"))
    );
    assert_eq!(replay[2].prev_kv, None);
    assert_eq!(
        replay[1].kv.create_revision, 0,
        "replayed delete events look like live ones"
    );

    let r5 = put(store, &k, "v3").await;
    let live = collect_events(&mut w, 1, "live after replay").await;
    assert_eq!(
        summary(&live),
        vec![(EventKind::Put, k.clone(), "v3".into(), r5)]
    );
    assert_eq!(live[0].kv.create_revision, r5);

    // From the current revision: that revision's event, then nothing more.
    let cur = current(store, "replay").await;
    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::prefix(b(&p))).from_revision(cur),
        "from current",
    )
    .await;
    let only = collect_events(&mut w, 1, "from current").await;
    assert_eq!(only[0].kv.mod_revision, cur);
    assert_quiet(&mut w, "from current").await;

    // From the first revision of the case, on one key only.
    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::key(b(&k))).from_revision(r1),
        "key replay",
    )
    .await;
    let all = collect_events(&mut w, 4, "key replay").await;
    let revs: Vec<Revision> = all.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(
        revs,
        vec![r1, r2, r3, r5],
        "a key watch replays only that key"
    );
}

/// A watch may start above the current revision (as in etcd): it is
/// accepted and delivers events from that revision on, nothing before.
pub async fn watch_from_future_revision(store: &dyn Store) {
    let p = case_prefix("watch_from_future_revision");
    let cur = current(store, "future watch").await;
    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::prefix(b(&p))).from_revision(cur + 2),
        "future watch",
    )
    .await;
    let r1 = put(store, &format!("{p}a"), "1").await;
    let r2 = put(store, &format!("{p}b"), "2").await;
    assert_eq!((r1, r2), (cur + 1, cur + 2));
    let events = collect_events(&mut w, 1, "future watch").await;
    assert_eq!(
        summary(&events),
        vec![(EventKind::Put, format!("{p}b"), "2".into(), r2)],
        "a watch from a future revision starts at that revision"
    );
    assert_quiet(&mut w, "future watch").await;
}

/// A watch with an empty `range_end` covers every key from its start key
/// to the end of the keyspace.
pub async fn watch_to_end_of_keyspace(store: &dyn Store) {
    let p = case_prefix("watch_to_end_of_keyspace");
    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::between(b(format!("{p}m")), bytes::Bytes::new())),
        "to end",
    )
    .await;
    put(store, &format!("{p}a"), "below").await;
    let r = put(store, &format!("{p}z"), "above").await;
    let events = collect_events(&mut w, 1, "to end").await;
    assert_eq!(
        summary(&events),
        vec![(EventKind::Put, format!("{p}z"), "above".into(), r)]
    );
}

/// The events of one transaction arrive together, in one batch, in op order.
pub async fn watch_txn_is_one_batch(store: &dyn Store) {
    let p = case_prefix("watch_txn_is_one_batch");
    put(store, &format!("{p}gone"), "x").await;
    let mut w = watch(
        store,
        WatchRequest::new(KeyRange::prefix(b(&p))),
        "txn batch",
    )
    .await;
    let resp = store
        .txn(TxnRequest {
            success: vec![
                TxnOp::put(b(format!("{p}b")), b("1")),
                TxnOp::put(b(format!("{p}a")), b("2")),
                TxnOp::delete(KeyRange::key(b(format!("{p}gone")))),
                TxnOp::put(b(format!("{p}c")), b("3")),
            ],
            ..Default::default()
        })
        .await
        .expect("txn");
    let want = vec![
        (EventKind::Put, format!("{p}b")),
        (EventKind::Put, format!("{p}a")),
        (EventKind::Delete, format!("{p}gone")),
        (EventKind::Put, format!("{p}c")),
    ];
    let batch = next_batch(&mut w, "txn batch").await;
    check_txn_batch(&batch, resp.revision, &want, "live");

    // Replayed from history: the same batch, in the same order.
    let mut replay = watch(
        store,
        WatchRequest::new(KeyRange::prefix(b(&p))).from_revision(resp.revision),
        "txn batch replay",
    )
    .await;
    let batch = next_batch(&mut replay, "txn batch replay").await;
    check_txn_batch(&batch, resp.revision, &want, "replayed");
}

fn check_txn_batch(batch: &[WatchEvent], rev: Revision, want: &[(EventKind, String)], ctx: &str) {
    assert_eq!(
        batch.len(),
        want.len(),
        "{ctx}: all events of one revision in one batch: {batch:#?}"
    );
    assert!(
        batch.iter().all(|e| e.kv.mod_revision == rev),
        "{ctx}: all at the txn's revision"
    );
    let got: Vec<(EventKind, String)> = batch
        .iter()
        .map(|e| (e.kind, String::from_utf8_lossy(&e.kv.key).into_owned()))
        .collect();
    assert_eq!(
        got, want,
        "{ctx}: events of one transaction come in op order (not key order), as in etcd"
    );
}

/// Several watchers on overlapping ranges each get every event, in order.
pub async fn watch_several_watchers(store: &dyn Store) {
    let p = case_prefix("watch_several_watchers");
    let mut watchers = Vec::new();
    for i in 0..3 {
        watchers.push(
            watch(
                store,
                WatchRequest::new(KeyRange::prefix(b(&p))),
                &format!("watcher {i}"),
            )
            .await,
        );
    }
    let mut revs = Vec::new();
    for i in 0..30 {
        let k = format!("{p}k{}", i % 7);
        if i % 5 == 4 {
            let (deleted, rev) = store.delete(KeyRange::key(b(&k))).await.expect("delete");
            if deleted == 1 {
                revs.push(rev);
            }
        } else {
            revs.push(put(store, &k, &format!("v{i}")).await);
        }
    }
    let n = revs.len();
    let results = join_all(
        watchers
            .iter_mut()
            .enumerate()
            .map(|(i, w)| async move { collect_events(w, n, &format!("watcher {i}")).await }),
    )
    .await;
    for (i, events) in results.iter().enumerate() {
        let got: Vec<Revision> = events.iter().map(|e| e.kv.mod_revision).collect();
        assert_eq!(
            got, revs,
            "watcher {i} must see every write in commit order"
        );
        assert_eq!(
            summary(events),
            summary(&results[0]),
            "watchers {i} and 0 must see the same events"
        );
    }
}
