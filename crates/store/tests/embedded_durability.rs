//! Durability of the embedded store on disk and under injected faults:
//! restart, snapshots and segment removal, torn tails, corruption, unknown
//! formats, failing writes and fsyncs.

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use rkube_store::backend::{Dir, Fault, MemDir};
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use rkube_store::{KeyRange, RangeRequest, Store, StoreError, WatchRequest};

fn opts(dir: &std::path::Path) -> EmbeddedOptions {
    let mut o = EmbeddedOptions::new(dir);
    o.compaction = CompactionPolicy::Manual;
    o
}

fn small(dir: &std::path::Path) -> EmbeddedOptions {
    let mut o = opts(dir);
    o.segment_bytes = 4096;
    o.snapshot_min_bytes = 1 << 40; // only explicit snapshots
    o
}

fn b(s: impl Into<String>) -> Bytes {
    Bytes::from(s.into())
}

async fn put_n(store: &EmbeddedStore, prefix: &str, n: usize) -> Vec<i64> {
    let mut revs = Vec::new();
    for i in 0..n {
        revs.push(
            store
                .put(b(format!("{prefix}{i:04}")), b(format!("value-{i}")))
                .await
                .expect("put"),
        );
    }
    revs
}

fn segments(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "seg"))
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn restart_keeps_every_write_and_its_metadata() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(small(tmp.path())).expect("open");
    let revs = put_n(&store, "/a/", 200).await;
    assert_eq!(revs, (2..202).collect::<Vec<_>>());
    store.put(b("/a/0000"), b("again")).await.expect("put");
    store
        .delete(KeyRange::key(b("/a/0001")))
        .await
        .expect("delete");
    let before = store
        .range(RangeRequest::new(KeyRange::prefix("/a/")))
        .await
        .expect("range");
    store.close();
    assert!(segments(tmp.path()).len() >= 2, "small segments roll over");

    let store = EmbeddedStore::open(small(tmp.path())).expect("reopen");
    let after = store
        .range(RangeRequest::new(KeyRange::prefix("/a/")))
        .await
        .expect("range");
    assert_eq!(before.kvs, after.kvs);
    assert_eq!(store.current_revision().await.expect("rev"), 203);
    let kv = store
        .get(b("/a/0000"))
        .await
        .expect("get")
        .expect("present");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (2, 202, 2)
    );
    // History survives too: the old value at its revision.
    let old = store
        .range(RangeRequest::new(KeyRange::key(b("/a/0001"))).at_revision(202))
        .await
        .expect("old read");
    assert_eq!(old.kvs[0].value, b("value-1"));
}

#[tokio::test]
async fn snapshot_after_compaction_reclaims_log_space() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(small(tmp.path())).expect("open");
    for round in 0..10 {
        for i in 0..20 {
            store
                .put(
                    b(format!("/k/{i}")),
                    b(format!("round {round} {}", "x".repeat(200))),
                )
                .await
                .expect("put");
        }
    }
    let rev = store.current_revision().await.expect("rev");
    let segs_before = segments(tmp.path()).len();
    store.compact(rev).await.expect("compact");
    store.snapshot().await.expect("snapshot");
    let segs_after = segments(tmp.path()).len();
    assert!(
        segs_after < segs_before,
        "segments {segs_before} -> {segs_after}"
    );
    assert!(matches!(
        store
            .range(RangeRequest::new(KeyRange::prefix("/k/")).at_revision(rev - 1))
            .await,
        Err(StoreError::Compacted { .. })
    ));
    store
        .put(b("/k/after"), b("1"))
        .await
        .expect("put after snapshot");
    store.close();

    let store = EmbeddedStore::open(small(tmp.path())).expect("reopen from snapshot");
    let all = store
        .range(RangeRequest::new(KeyRange::prefix("/k/")))
        .await
        .expect("range");
    assert_eq!(all.count, 21);
    assert!(all.kvs.iter().any(|kv| kv.value.starts_with(b"round 9")));
    assert_eq!(store.current_revision().await.expect("rev"), rev + 1);
    assert!(
        matches!(
            store
                .range(RangeRequest::new(KeyRange::prefix("/k/")).at_revision(rev - 1))
                .await,
            Err(StoreError::Compacted { .. })
        ),
        "compaction survives restart"
    );
}

#[tokio::test]
async fn a_torn_last_record_is_cut_and_everything_before_it_recovered() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(opts(tmp.path())).expect("open");
    put_n(&store, "/t/", 50).await;
    store.close();
    let last = segments(tmp.path()).pop().expect("segment");
    let len = std::fs::metadata(&last).expect("meta").len();
    // Cut the last record in half, as a crash mid-write would.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .expect("open")
        .set_len(len - 7)
        .expect("truncate");

    let store = EmbeddedStore::open(opts(tmp.path())).expect("recovers");
    let all = store
        .range(RangeRequest::new(KeyRange::prefix("/t/")))
        .await
        .expect("range");
    assert_eq!(all.count, 49, "all but the torn record");
    assert_eq!(store.current_revision().await.expect("rev"), 50);
    // The log continues cleanly after the cut.
    assert_eq!(store.put(b("/t/new"), b("x")).await.expect("put"), 51);
    store.close();
    let store = EmbeddedStore::open(opts(tmp.path())).expect("reopen");
    assert_eq!(store.current_revision().await.expect("rev"), 51);
}

#[tokio::test]
async fn a_flipped_byte_mid_log_refuses_to_start_naming_file_and_offset() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(opts(tmp.path())).expect("open");
    put_n(&store, "/c/", 50).await;
    store.close();
    let seg = segments(tmp.path()).pop().expect("segment");
    let mut data = std::fs::read(&seg).expect("read");
    let mid = data.len() / 2;
    data[mid] ^= 0x01;
    std::fs::write(&seg, &data).expect("write");

    match EmbeddedStore::open(opts(tmp.path())) {
        Err(e @ StoreError::Corrupt { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains(&seg.display().to_string()),
                "names the file: {msg}"
            );
            let StoreError::Corrupt { offset, .. } = e else {
                unreachable!()
            };
            assert!(
                offset <= mid as u64 && mid as u64 - offset < 200,
                "offset {offset} near {mid}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    // Nothing was changed by the refusal: the file is as it was.
    assert_eq!(std::fs::read(&seg).expect("read"), data);
}

#[tokio::test]
async fn an_unknown_format_version_is_refused_with_a_clear_message() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = EmbeddedStore::open(opts(tmp.path())).expect("open");
    store.put(b("/x"), b("1")).await.expect("put");
    store.close();
    std::fs::write(tmp.path().join("FORMAT"), "rkube-store 99\n").expect("write");
    let err = EmbeddedStore::open(opts(tmp.path())).expect_err("must refuse");
    let msg = err.to_string();
    assert!(matches!(err, StoreError::UnsupportedFormat { .. }), "{msg}");
    assert!(
        msg.contains("rkube-store 99") && msg.contains("understands version 1"),
        "{msg}"
    );
}

#[tokio::test]
async fn a_failed_fsync_is_never_acknowledged_and_stops_writes_cleanly() {
    let mem = MemDir::new();
    let dir: Arc<dyn Dir> = Arc::new(mem.clone());
    let store = EmbeddedStore::open_on(dir, opts("unused".as_ref())).expect("open");
    put_n(&store, "/f/", 10).await;
    mem.set_fault(Some(Fault::SyncAfter(0)));
    let err = store
        .put(b("/f/lost"), b("x"))
        .await
        .expect_err("fsync failed");
    assert!(matches!(err, StoreError::Io(_)), "{err:?}");
    // Later writes are refused; reads keep serving what is durable.
    let err = store
        .put(b("/f/later"), b("x"))
        .await
        .expect_err("store stopped");
    assert!(matches!(err, StoreError::Failed(_)), "{err:?}");
    assert!(
        store.get(b("/f/lost")).await.expect("read").is_none(),
        "unacknowledged write invisible"
    );
    assert_eq!(
        store
            .range(RangeRequest::new(KeyRange::prefix("/f/")))
            .await
            .expect("range")
            .count,
        10
    );

    // After a power loss, every acknowledged write is there.
    mem.set_fault(None);
    let crashed = mem.crash(true);
    let store = EmbeddedStore::open_on(Arc::new(crashed), opts("unused".as_ref())).expect("reopen");
    let all = store
        .range(RangeRequest::new(KeyRange::prefix("/f/")))
        .await
        .expect("range");
    assert_eq!(all.count, 10);
    assert!(
        store.put(b("/f/next"), b("y")).await.is_ok(),
        "usable after reopen"
    );
}

#[tokio::test]
async fn a_failed_append_is_not_acknowledged() {
    let mem = MemDir::new();
    let store =
        EmbeddedStore::open_on(Arc::new(mem.clone()), opts("unused".as_ref())).expect("open");
    store.put(b("/g/1"), b("x")).await.expect("put");
    mem.set_fault(Some(Fault::AppendAfter(0)));
    assert!(store.put(b("/g/2"), b("x")).await.is_err());
    mem.set_fault(None);
    let store = EmbeddedStore::open_on(Arc::new(mem.crash(false)), opts("unused".as_ref()))
        .expect("reopen");
    assert!(store.get(b("/g/1")).await.expect("get").is_some());
}

#[tokio::test]
async fn a_slow_watcher_is_cancelled_without_slowing_writers_or_others() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.watch_buffer = 4;
    let store = EmbeddedStore::open(o).expect("open");
    let mut slow = store
        .watch(WatchRequest::new(KeyRange::prefix("/w/")))
        .await
        .expect("watch");
    let mut fast = store
        .watch(WatchRequest::new(KeyRange::prefix("/w/")))
        .await
        .expect("watch");
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while seen.len() < 300 {
            match fast.next().await {
                Some(Ok(events)) => seen.extend(events.into_iter().map(|e| e.kv.mod_revision)),
                other => panic!("fast watcher ended: {other:?}"),
            }
        }
        seen
    });
    for i in 0..300 {
        store
            .put(b(format!("/w/{i}")), b("v"))
            .await
            .expect("writers never wait for watchers");
    }
    let seen = reader.await.expect("reader");
    assert_eq!(seen, (2..302).collect::<Vec<_>>(), "every event, in order");
    // The slow one never read: it was cancelled, and says so.
    let mut last = None;
    while let Some(item) = slow.next().await {
        last = Some(item);
    }
    assert!(
        matches!(last, Some(Err(StoreError::SlowWatcher))),
        "{last:?}"
    );
    assert!(store.metrics().slow_watchers.get() >= 1);
}

#[tokio::test]
async fn an_interrupted_first_start_leaves_a_directory_that_opens() {
    // Killed while writing FORMAT for the first time: only FORMAT.tmp exists.
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("FORMAT.tmp"), "rkube-st").expect("write");
    let store = EmbeddedStore::open(opts(tmp.path())).expect("opens");
    store.put(b("/a"), b("1")).await.expect("put");
    store.close();
    let store = EmbeddedStore::open(opts(tmp.path())).expect("reopens");
    assert_eq!(store.current_revision().await.expect("rev"), 2);
}

#[tokio::test]
async fn a_watch_from_before_the_replay_window_gets_every_event() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut o = opts(tmp.path());
    o.watch_window = 4;
    let store = EmbeddedStore::open(o).expect("open");
    for i in 0..30 {
        store
            .put(b(format!("/w/{}", i % 7)), b(format!("v{i}")))
            .await
            .expect("put");
    }
    store
        .delete(KeyRange::key(b("/w/3")))
        .await
        .expect("delete");
    let mut watch = store
        .watch(
            WatchRequest::new(KeyRange::prefix("/w/"))
                .from_revision(2)
                .with_prev_kv(),
        )
        .await
        .expect("watch");
    let mut seen = Vec::new();
    while seen.len() < 31 {
        let batch = watch.next().await.expect("open").expect("events");
        seen.extend(batch);
    }
    let revs: Vec<i64> = seen.iter().map(|e| e.kv.mod_revision).collect();
    assert_eq!(
        revs,
        (2..33).collect::<Vec<_>>(),
        "every revision once, in order"
    );
    // Values and previous values are right, old or recent.
    assert_eq!(seen[9].kv.value, b("v9"));
    assert_eq!(
        seen[9].prev_kv.as_ref().map(|p| p.value.clone()),
        Some(b("v2"))
    );
    assert_eq!(seen[30].kind, rkube_store::EventKind::Delete);
    // Live events follow.
    store.put(b("/w/new"), b("x")).await.expect("put");
    let live = watch.next().await.expect("open").expect("events");
    assert_eq!(live[0].kv.mod_revision, 33);
}
