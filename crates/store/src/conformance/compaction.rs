//! Conformance case for compaction: what is gone and what stays, and the
//! errors of reads, watches and compactions on either side of it.

use futures::StreamExt;

use super::util::{b, case_prefix, collect_events, current, put, EVENT_TIMEOUT};
use crate::error::StoreError;
use crate::store::Store;
use crate::types::{KeyRange, RangeRequest, WatchRequest};

/// `compact(rev)`: reads below `rev` fail with `Compacted`, reads at `rev`
/// and later work; a watch from below `rev` yields `Err(Compacted)` and
/// ends, a watch from exactly `rev` replays from `rev`; compacting again at
/// or below `rev` fails with `Compacted`, above the current revision with
/// `FutureRevision`; compacting at exactly the current revision works and
/// does not advance the revision.
pub async fn compaction(store: &dyn Store) {
    let p = case_prefix("compaction");
    let k = format!("{p}k");
    let r1 = put(store, &k, "v1").await;
    let r2 = put(store, &k, "v2").await;
    let r3 = put(store, &k, "v3").await;
    let r4 = put(store, &format!("{p}other"), "x").await;
    let key_at = |rev| RangeRequest::new(KeyRange::key(b(&k))).at_revision(rev);

    store
        .compact(r2)
        .await
        .unwrap_or_else(|e| panic!("compact({r2}) failed: {e}"));
    assert_eq!(
        current(store, "compact").await,
        r4,
        "compaction does not advance the revision"
    );

    match store.range(key_at(r1)).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => {
            assert_eq!(
                (requested, compacted),
                (r1, r2),
                "Compacted fields for a range below the compaction"
            );
        }
        other => {
            panic!("range at {r1} after compact({r2}) must fail with Compacted, got {other:?}")
        }
    }
    let at_r2 = store
        .range(key_at(r2))
        .await
        .expect("range at the compacted revision must work");
    assert_eq!(
        at_r2.kvs[0].value,
        b("v2"),
        "the compacted revision's state is kept"
    );
    assert_eq!(
        (at_r2.kvs[0].create_revision, at_r2.kvs[0].version),
        (r1, 2),
        "metadata survives compaction"
    );
    let at_r3 = store
        .range(key_at(r3))
        .await
        .expect("range after the compacted revision");
    assert_eq!(at_r3.kvs[0].value, b("v3"));
    let now = store
        .range(RangeRequest::new(KeyRange::prefix(b(&p))))
        .await
        .expect("range now");
    assert_eq!(now.count, 2, "compaction keeps the current state");

    // Transactions reading below the compaction fail the same way.
    let txn = crate::types::TxnRequest {
        success: vec![crate::types::TxnOp::Range(key_at(r1))],
        ..Default::default()
    };
    assert!(
        matches!(store.txn(txn).await, Err(StoreError::Compacted { .. })),
        "a transaction reading below the compaction must fail with Compacted"
    );

    // A watch from below the compaction: Err(Compacted), then the end.
    let mut w = store
        .watch(WatchRequest::new(KeyRange::key(b(&k))).from_revision(r1))
        .await
        .expect("creating the watch itself may succeed; the stream reports the compaction");
    match tokio::time::timeout(EVENT_TIMEOUT, w.next()).await {
        Ok(Some(Err(StoreError::Compacted {
            requested,
            compacted,
        }))) => {
            assert_eq!(
                (requested, compacted),
                (r1, r2),
                "Compacted fields for a watch"
            );
        }
        other => {
            panic!("watch from {r1} after compact({r2}) must yield Err(Compacted), got {other:?}")
        }
    }
    match tokio::time::timeout(EVENT_TIMEOUT, w.next()).await {
        Ok(None) => {}
        other => panic!("a watch stream must end after Err(Compacted), got {other:?}"),
    }

    // A watch from exactly the compacted revision is allowed.
    let mut w = store
        .watch(WatchRequest::new(KeyRange::key(b(&k))).from_revision(r2))
        .await
        .expect("watch from the compacted revision");
    let events = collect_events(&mut w, 2, "watch from the compacted revision").await;
    let revs: Vec<_> = events.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(
        revs,
        vec![r2, r3],
        "a watch from the compacted revision replays from it"
    );

    // Compacting again at or below the compacted revision.
    for rev in [r2, r1] {
        match store.compact(rev).await {
            Err(StoreError::Compacted {
                requested,
                compacted,
            }) => {
                assert_eq!(
                    (requested, compacted),
                    (rev, r2),
                    "Compacted fields for compact({rev})"
                );
            }
            other => {
                panic!("compact({rev}) after compact({r2}) must fail with Compacted, got {other:?}")
            }
        }
    }

    // Compacting in the future.
    match store.compact(r4 + 1).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!(
                (requested, current),
                (r4 + 1, r4),
                "FutureRevision fields for compact"
            );
        }
        other => panic!("compact(current+1) must fail with FutureRevision, got {other:?}"),
    }

    // Compacting at exactly the current revision.
    store
        .compact(r4)
        .await
        .unwrap_or_else(|e| panic!("compact(current) failed: {e}"));
    assert_eq!(current(store, "compact current").await, r4);
    match store.range(key_at(r3)).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (r3, r4)),
        other => {
            panic!("range at {r3} after compact({r4}) must fail with Compacted, got {other:?}")
        }
    }
    let at_r4 = store
        .range(RangeRequest::new(KeyRange::prefix(b(&p))).at_revision(r4))
        .await
        .expect("range at r4");
    assert_eq!(at_r4.count, 2);

    // Writes and live watches carry on after compaction.
    let mut w = store
        .watch(WatchRequest::new(KeyRange::key(b(&k))))
        .await
        .expect("watch after compaction");
    let r5 = put(store, &k, "v4").await;
    let events = collect_events(&mut w, 1, "live watch after compaction").await;
    assert_eq!(events[0].kv.mod_revision, r5);
    assert_eq!(r5, r4 + 1);
}
