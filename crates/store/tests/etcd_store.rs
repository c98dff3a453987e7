//! Behaviour of the etcd backend beyond the shared conformance suite: key
//! prefixes isolate stores sharing one etcd, errors carry the right
//! revisions, metrics count, and the test server cleans up after itself.

use bytes::Bytes;
use futures::StreamExt;
use rkube_store::etcd::EtcdStore;
use rkube_store::testing::EtcdServer;
use rkube_store::{KeyRange, RangeRequest, Store, StoreError, WatchRequest};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefixes_isolate_stores_sharing_one_etcd() {
    let server = EtcdServer::start_async().await.expect("start etcd");
    // Prefixes that are not prefixes of one another (hence the trailing
    // `/`): "/a/" sorts before "/a2/" and "/b/"; none may see another.
    let a = EtcdStore::connect(&server.endpoints(), "/a/")
        .await
        .expect("connect a");
    let a2 = EtcdStore::connect(&server.endpoints(), "/a2/")
        .await
        .expect("connect a2");
    let z = EtcdStore::connect(&server.endpoints(), "/b/")
        .await
        .expect("connect b");

    let mut watch_all_a = a
        .watch(WatchRequest::new(KeyRange::prefix(Bytes::new())))
        .await
        .expect("watch");
    a.put(b("/k"), b("in a")).await.expect("put a");
    a2.put(b("/k"), b("in a2")).await.expect("put a2");
    z.put(b("/k"), b("in b")).await.expect("put b");
    a.put(b("/last"), b("in a")).await.expect("put a");

    assert_eq!(
        a.get(b("/k")).await.expect("get").map(|kv| kv.value),
        Some(b("in a"))
    );
    assert_eq!(
        a2.get(b("/k")).await.expect("get").map(|kv| kv.value),
        Some(b("in a2"))
    );
    for (name, store, want) in [("a", &a, 2), ("a2", &a2, 1), ("b", &z, 1)] {
        let everything = store
            .range(RangeRequest::new(KeyRange::prefix(Bytes::new())))
            .await
            .expect("range");
        assert_eq!(
            everything.count, want,
            "store {name} sees only its own keys: {everything:?}"
        );
        let to_end = store
            .range(RangeRequest::new(KeyRange::between(b("/"), Bytes::new())))
            .await
            .expect("range");
        assert_eq!(
            to_end.count, want,
            "store {name}: `to the end` stops at the end of its prefix"
        );
        assert!(
            everything.kvs.iter().all(|kv| kv.key.starts_with(b"/")),
            "keys come back without the prefix"
        );
    }

    // A whole-keyspace watch on `a` sees only `a`'s two writes.
    let mut keys = Vec::new();
    while keys.len() < 2 {
        let batch = tokio::time::timeout(std::time::Duration::from_secs(5), watch_all_a.next())
            .await
            .expect("event")
            .expect("stream open")
            .expect("no error");
        keys.extend(batch.into_iter().map(|e| (e.kv.key, e.kv.value)));
    }
    assert_eq!(keys, vec![(b("/k"), b("in a")), (b("/last"), b("in a"))]);

    let (deleted, _) = a
        .delete(KeyRange::prefix(Bytes::new()))
        .await
        .expect("delete all of a");
    assert_eq!(
        deleted, 2,
        "deleting a's whole keyspace deletes only a's keys"
    );
    assert!(
        a2.get(b("/k")).await.expect("get").is_some(),
        "a2 keeps its key"
    );
    assert!(
        z.get(b("/k")).await.expect("get").is_some(),
        "b keeps its key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_errors_report_the_compacted_revision() {
    let server = EtcdServer::start_async().await.expect("start etcd");
    let store = EtcdStore::connect(&server.endpoints(), "/c")
        .await
        .expect("connect");
    // Compacting at revision 1 leaves nothing a watch from 1 could reveal:
    // the compacted revision must still be found.
    store.compact(1).await.expect("compact(1)");
    let started = std::time::Instant::now();
    match store.compact(1).await {
        Err(StoreError::Compacted {
            requested: 1,
            compacted: 1,
        }) => {}
        other => panic!("compact(1) twice: {other:?}"),
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "the lookup must not wait for a timeout"
    );
    let r = store.put(b("/k"), b("1")).await.expect("put");
    store.put(b("/k"), b("2")).await.expect("put");
    let r3 = store.put(b("/k"), b("3")).await.expect("put");
    store.compact(r3).await.expect("compact");
    match store
        .range(RangeRequest::new(KeyRange::key(b("/k"))).at_revision(r))
        .await
    {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (r, r3)),
        other => panic!("range below the compaction: {other:?}"),
    }
    match store.compact(r).await {
        Err(StoreError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (r, r3)),
        other => panic!("compact below the compaction: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_reads_writes_and_watchers() {
    let server = EtcdServer::start_async().await.expect("start etcd");
    let store = EtcdStore::connect(&server.endpoints(), "/m")
        .await
        .expect("connect");
    let m = store.metrics();
    let (writes, reads) = (m.writes.get(), m.reads.get());
    store.put(b("/k"), b("v")).await.expect("put");
    store.get(b("/k")).await.expect("get");
    store
        .delete(KeyRange::key(b("/missing")))
        .await
        .expect("delete nothing");
    assert_eq!(
        m.writes.get() - writes,
        1,
        "one write (a delete of nothing is not one)"
    );
    assert_eq!(
        m.reads.get() - reads,
        2,
        "a get and a transaction that wrote nothing"
    );
    let w = store
        .watch(WatchRequest::new(KeyRange::key(b("/k"))))
        .await
        .expect("watch");
    assert_eq!(m.watchers.get(), 1);
    drop(w);
    assert_eq!(m.watchers.get(), 0, "dropping a watch unregisters it");
}

#[tokio::test]
async fn connecting_to_nothing_fails() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let endpoints = vec![format!("http://127.0.0.1:{port}")];
    match EtcdStore::connect(&endpoints, "/x").await {
        Err(StoreError::Etcd(_)) => {}
        other => {
            panic!("connecting to a closed port must fail with StoreError::Etcd, got {other:?}")
        }
    }
}

#[test]
fn dropping_the_server_kills_etcd_and_removes_its_directory() {
    let server = EtcdServer::start().expect("start etcd");
    let pid = server.pid();
    let dir = server.dir().to_path_buf();
    assert!(dir.join("data").exists());
    drop(server);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "etcd {pid} must be gone"
    );
    assert!(!dir.exists(), "{} must be removed", dir.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_prefix_uses_the_keys_as_they_are() {
    let server = EtcdServer::start_async().await.expect("start etcd");
    let s = EtcdStore::connect(&server.endpoints(), "")
        .await
        .expect("connect without a prefix");
    assert!(s.current_revision().await.expect("revision") >= 1);
    s.put(b("/registry/configmaps/default/a"), b("1"))
        .await
        .expect("put");
    let all = s
        .range(RangeRequest::new(KeyRange::prefix(Bytes::new())))
        .await
        .expect("range everything");
    assert_eq!(all.kvs.len(), 1);
    assert_eq!(all.kvs[0].key, b("/registry/configmaps/default/a"));
}
