//! Conformance cases for single-key writes, reads and ranges: revision and
//! version bookkeeping, prefix and open-ended ranges, limits, count-only and
//! keys-only reads, reads at older and future revisions, range deletes.

use bytes::Bytes;

use super::util::{b, case_prefix, current, get, put};
use crate::error::StoreError;
use crate::store::Store;
use crate::types::{KeyRange, RangeRequest, RangeResponse, TxnOp, TxnOpResponse, TxnRequest};

async fn range(store: &dyn Store, req: RangeRequest, ctx: &str) -> RangeResponse {
    match store.range(req).await {
        Ok(resp) => resp,
        Err(e) => panic!("{ctx}: range failed: {e}"),
    }
}

fn keys(resp: &RangeResponse) -> Vec<Bytes> {
    resp.kvs.iter().map(|kv| kv.key.clone()).collect()
}

/// A fresh store is at revision 1, as etcd is. Not part of [`super::run_all`]:
/// call it first on a store nobody has written to.
pub async fn empty_store_starts_at_revision_one(store: &dyn Store) {
    assert_eq!(
        current(store, "fresh store").await,
        1,
        "a fresh store must be at revision 1"
    );
}

/// Each put advances the revision by one; a key's create_revision stays,
/// mod_revision follows the write, version counts writes from 1.
pub async fn put_get_revisions(store: &dyn Store) {
    let p = case_prefix("put_get_revisions");
    let k = format!("{p}k");
    let start = current(store, "put_get").await;

    assert_eq!(
        get(store, &k).await,
        None,
        "a key never written must be absent"
    );
    let r1 = put(store, &k, "v1").await;
    assert_eq!(r1, start + 1, "the first put must get revision start+1");
    assert_eq!(
        current(store, "put_get").await,
        r1,
        "current_revision must be the last write's"
    );
    let kv = get(store, &k).await.expect("key must exist after put");
    assert_eq!(
        kv.key,
        b(&k),
        "get must return the key without any backend prefix"
    );
    assert_eq!(kv.value, b("v1"));
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r1, 1),
        "after create"
    );

    let r2 = put(store, &k, "v2").await;
    assert_eq!(r2, r1 + 1, "the second put must get the next revision");
    let kv = get(store, &k).await.expect("key must exist");
    assert_eq!(kv.value, b("v2"));
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r2, 2),
        "after update"
    );

    // Writing the same value again is still a write.
    let r3 = put(store, &k, "v2").await;
    assert_eq!(
        r3,
        r2 + 1,
        "a put of an unchanged value still gets a new revision"
    );
    let kv = get(store, &k).await.expect("key must exist");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r3, 3)
    );

    // Another key does not disturb this one's metadata.
    let r4 = put(store, &format!("{p}other"), "x").await;
    assert_eq!(r4, r3 + 1);
    let kv = get(store, &k).await.expect("key must exist");
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r1, r3, 3)
    );

    // An empty value is a value.
    let r5 = put(store, &format!("{p}empty"), "").await;
    let kv = get(store, &format!("{p}empty"))
        .await
        .expect("a key with an empty value exists");
    assert_eq!((kv.value.len(), kv.mod_revision, kv.version), (0, r5, 1));
}

/// Deleting a key and writing it again starts a new generation:
/// create_revision is the new write's, version restarts at 1.
pub async fn delete_then_recreate(store: &dyn Store) {
    let p = case_prefix("delete_then_recreate");
    let k = format!("{p}k");
    let r1 = put(store, &k, "a").await;
    let r2 = put(store, &k, "b").await;
    let (deleted, r3) = store.delete(KeyRange::key(b(&k))).await.expect("delete");
    assert_eq!(deleted, 1, "delete of an existing key must report 1");
    assert_eq!(
        r3,
        r2 + 1,
        "a delete that removes a key is a write with its own revision"
    );
    assert_eq!(get(store, &k).await, None, "deleted key must be absent");
    assert_eq!(current(store, "delete").await, r3);

    let r4 = put(store, &k, "c").await;
    assert_eq!(r4, r3 + 1);
    let kv = get(store, &k).await.expect("re-created key must exist");
    assert_eq!(kv.value, b("c"));
    assert_eq!(
        (kv.create_revision, kv.mod_revision, kv.version),
        (r4, r4, 1),
        "re-creating a key resets create_revision and version (first generation was created at {r1})"
    );
}

/// Deleting a key (or range) that matches nothing writes nothing: the
/// revision does not move and the result reports 0 keys.
pub async fn delete_missing_key_writes_nothing(store: &dyn Store) {
    let p = case_prefix("delete_missing");
    let start = current(store, "delete_missing").await;
    let (deleted, rev) = store
        .delete(KeyRange::key(b(format!("{p}nope"))))
        .await
        .expect("delete");
    assert_eq!(
        (deleted, rev),
        (0, start),
        "deleting a missing key must not advance the revision"
    );
    let (deleted, rev) = store
        .delete(KeyRange::prefix(b(&p)))
        .await
        .expect("delete prefix");
    assert_eq!(
        (deleted, rev),
        (0, start),
        "deleting an empty range must not advance the revision"
    );
    assert_eq!(current(store, "delete_missing").await, start);
}

/// A prefix range returns exactly the keys with that prefix, in byte order,
/// whatever the order of writes; a single-key range does not match keys it
/// is a prefix of; `between` is half-open.
pub async fn range_prefix_sorted(store: &dyn Store) {
    let p = case_prefix("range_prefix_sorted");
    for k in ["c", "a", "b/2", "b/1", "b", "d"] {
        put(store, &format!("{p}{k}"), k).await;
    }
    // A sibling prefix that must not match `{p}b/`.
    put(store, &format!("{p}b0"), "sibling").await;

    let all = range(store, RangeRequest::new(KeyRange::prefix(b(&p))), "prefix").await;
    let want: Vec<Bytes> = ["a", "b", "b/1", "b/2", "b0", "c", "d"]
        .iter()
        .map(|k| b(format!("{p}{k}")))
        .collect();
    assert_eq!(
        keys(&all),
        want,
        "prefix range must return every key with the prefix, sorted"
    );
    assert_eq!(all.count, 7);
    assert!(!all.more);
    assert_eq!(
        all.revision,
        current(store, "prefix").await,
        "RangeResponse.revision is the current revision"
    );
    for kv in &all.kvs {
        let short = &kv.key[p.len()..];
        let want_value = if short == b"b0" {
            b("sibling")
        } else {
            Bytes::copy_from_slice(short)
        };
        assert_eq!(kv.value, want_value, "value of {:?}", kv.key);
    }

    let sub = range(
        store,
        RangeRequest::new(KeyRange::prefix(b(format!("{p}b/")))),
        "sub-prefix",
    )
    .await;
    assert_eq!(
        keys(&sub),
        vec![b(format!("{p}b/1")), b(format!("{p}b/2"))],
        "prefix b/ only"
    );

    let one = range(
        store,
        RangeRequest::new(KeyRange::key(b(format!("{p}b")))),
        "single key",
    )
    .await;
    assert_eq!(
        keys(&one),
        vec![b(format!("{p}b"))],
        "a single-key range matches only that key"
    );

    let between = range(
        store,
        RangeRequest::new(KeyRange::between(b(format!("{p}b")), b(format!("{p}c")))),
        "between",
    )
    .await;
    assert_eq!(
        keys(&between),
        ["b", "b/1", "b/2", "b0"]
            .iter()
            .map(|k| b(format!("{p}{k}")))
            .collect::<Vec<_>>(),
        "between(b, c) is [b, c)"
    );

    let none = range(
        store,
        RangeRequest::new(KeyRange::prefix(b(format!("{p}zz")))),
        "empty",
    )
    .await;
    assert!(
        none.kvs.is_empty() && none.count == 0 && !none.more,
        "an empty range: {none:?}"
    );
}

/// An empty `range_end` means "to the end of the keyspace".
pub async fn range_to_end_of_keyspace(store: &dyn Store) {
    let p = case_prefix("range_to_end");
    for k in ["a", "b", "c", "d", "e"] {
        put(store, &format!("{p}{k}"), k).await;
    }
    let resp = range(
        store,
        RangeRequest::new(KeyRange::between(b(format!("{p}c")), Bytes::new())).with_limit(3),
        "to end",
    )
    .await;
    // Every key between `{p}c` and `{p}e` has the prefix `p`, so the first
    // three keys from `{p}c` on are ours even if the store holds other data.
    assert_eq!(
        keys(&resp),
        ["c", "d", "e"]
            .iter()
            .map(|k| b(format!("{p}{k}")))
            .collect::<Vec<_>>(),
        "range from c to the end of the keyspace"
    );
    assert!(
        resp.count >= 3,
        "count must include every key from c on, got {}",
        resp.count
    );
    assert!(
        !keys(&resp).contains(&b(format!("{p}b"))),
        "the range must start at its key"
    );
}

/// `limit` cuts the result and sets `more`; `count` ignores the limit;
/// paging from just after the last key at the same revision gives the rest;
/// count-only returns no key-values; keys-only returns no values.
pub async fn range_limit_count_keys_only(store: &dyn Store) {
    let p = case_prefix("range_limit");
    let mut revs = Vec::new();
    for k in ["a", "b", "c", "d", "e"] {
        revs.push(put(store, &format!("{p}{k}"), &format!("value-{k}")).await);
    }
    let whole = KeyRange::prefix(b(&p));

    let two = range(
        store,
        RangeRequest::new(whole.clone()).with_limit(2),
        "limit 2",
    )
    .await;
    assert_eq!(
        keys(&two),
        vec![b(format!("{p}a")), b(format!("{p}b"))],
        "limit 2 gives the first two keys"
    );
    assert_eq!(
        (two.count, two.more),
        (5, true),
        "count ignores limit; more is set when cut"
    );

    let exact = range(
        store,
        RangeRequest::new(whole.clone()).with_limit(5),
        "limit 5",
    )
    .await;
    assert_eq!(
        (exact.kvs.len(), exact.count, exact.more),
        (5, 5, false),
        "limit == count is not cut"
    );
    let big = range(
        store,
        RangeRequest::new(whole.clone()).with_limit(100),
        "limit 100",
    )
    .await;
    assert_eq!((big.kvs.len(), big.count, big.more), (5, 5, false));
    let unlimited = range(store, RangeRequest::new(whole.clone()), "no limit").await;
    assert_eq!(
        (unlimited.kvs.len(), unlimited.count, unlimited.more),
        (5, 5, false),
        "limit 0 is no limit"
    );

    // Page on at the first page's revision, after writing more.
    put(store, &format!("{p}bb"), "late").await;
    let mut after_b = format!("{p}b").into_bytes();
    after_b.push(0);
    let end = whole.range_end.clone().expect("prefix range has an end");
    let rest = range(
        store,
        RangeRequest::new(KeyRange::between(Bytes::from(after_b), end)).at_revision(two.revision),
        "page 2",
    )
    .await;
    assert_eq!(
        keys(&rest),
        ["c", "d", "e"]
            .iter()
            .map(|k| b(format!("{p}{k}")))
            .collect::<Vec<_>>(),
        "the second page at the first page's revision must not see later writes"
    );

    // count_only: the count, no key-values. (`more` is unspecified here:
    // etcd reports false.)
    let counted = range(
        store,
        RangeRequest::new(whole.clone()).count_only(),
        "count_only",
    )
    .await;
    assert!(
        counted.kvs.is_empty(),
        "count_only returns no key-values: {counted:?}"
    );
    assert_eq!(counted.count, 6);
    let counted = range(
        store,
        RangeRequest::new(whole.clone()).count_only().with_limit(2),
        "count_only limit",
    )
    .await;
    assert!(counted.kvs.is_empty());
    assert_eq!(counted.count, 6, "count_only ignores limit in the count");

    // skip_count: the same page and `more`; `count` at least the page and
    // one more, at most the whole range (etcd counts everything anyway).
    let exact = range(
        store,
        RangeRequest::new(whole.clone()).with_limit(2),
        "limit 2 counted",
    )
    .await;
    let skipped = range(
        store,
        RangeRequest::new(whole.clone()).with_limit(2).skip_count(),
        "limit 2 skip_count",
    )
    .await;
    assert_eq!((keys(&skipped), skipped.more), (keys(&exact), true));
    assert!(
        (3..=exact.count).contains(&skipped.count),
        "count {} of {}",
        skipped.count,
        exact.count
    );
    let last = range(
        store,
        RangeRequest::new(whole.clone()).with_limit(10).skip_count(),
        "skip_count, all in the page",
    )
    .await;
    assert_eq!(
        (last.kvs.len() as i64, last.count, last.more),
        (exact.count, exact.count, false),
        "a page holding the whole range counts it exactly"
    );

    // keys_only: keys and metadata, empty values.
    let ko = range(
        store,
        RangeRequest::new(whole.clone()).keys_only().with_limit(3),
        "keys_only",
    )
    .await;
    assert_eq!(ko.kvs.len(), 3);
    assert_eq!((ko.count, ko.more), (6, true));
    assert_eq!(ko.kvs[0].key, b(format!("{p}a")));
    assert_eq!(ko.kvs[0].value.len(), 0, "keys_only returns empty values");
    assert_eq!(
        (
            ko.kvs[0].create_revision,
            ko.kvs[0].mod_revision,
            ko.kvs[0].version
        ),
        (revs[0], revs[0], 1),
        "keys_only keeps the metadata"
    );
}

/// A range at an older revision sees the store as it was then: older
/// values, deleted keys still present, later keys absent, earlier
/// generations of re-created keys.
pub async fn range_at_older_revision(store: &dyn Store) {
    let p = case_prefix("range_at_older_revision");
    let k = format!("{p}k");
    let r1 = put(store, &k, "v1").await;
    let r2 = put(store, &k, "v2").await;
    let (_, r3) = store.delete(KeyRange::key(b(&k))).await.expect("delete");
    let r4 = put(store, &k, "v3").await;
    let r5 = put(store, &format!("{p}later"), "x").await;

    let at = |rev| RangeRequest::new(KeyRange::key(b(&k))).at_revision(rev);
    let v1 = range(store, at(r1), "at r1").await;
    assert_eq!(v1.kvs.len(), 1, "at r1 the key exists");
    assert_eq!(v1.kvs[0].value, b("v1"));
    assert_eq!(
        (
            v1.kvs[0].create_revision,
            v1.kvs[0].mod_revision,
            v1.kvs[0].version
        ),
        (r1, r1, 1)
    );
    assert_eq!(
        v1.revision, r5,
        "RangeResponse.revision is the current revision, not the one read at"
    );

    let v2 = range(store, at(r2), "at r2").await;
    assert_eq!(v2.kvs[0].value, b("v2"));
    assert_eq!(
        (
            v2.kvs[0].create_revision,
            v2.kvs[0].mod_revision,
            v2.kvs[0].version
        ),
        (r1, r2, 2)
    );

    let gone = range(store, at(r3), "at r3").await;
    assert!(
        gone.kvs.is_empty() && gone.count == 0,
        "at the delete's revision the key is absent: {gone:?}"
    );

    let v3 = range(store, at(r4), "at r4").await;
    assert_eq!(v3.kvs[0].value, b("v3"));
    assert_eq!(
        (
            v3.kvs[0].create_revision,
            v3.kvs[0].mod_revision,
            v3.kvs[0].version
        ),
        (r4, r4, 1)
    );

    let before = range(
        store,
        RangeRequest::new(KeyRange::prefix(b(&p))).at_revision(r1 - 1),
        "before",
    )
    .await;
    assert!(
        before.kvs.is_empty(),
        "before the first write nothing exists: {before:?}"
    );
    let prefix_r2 = range(
        store,
        RangeRequest::new(KeyRange::prefix(b(&p))).at_revision(r2),
        "prefix r2",
    )
    .await;
    assert_eq!(
        keys(&prefix_r2),
        vec![b(&k)],
        "at r2 the later key does not exist yet"
    );
    let now = range(
        store,
        RangeRequest::new(KeyRange::prefix(b(&p))).at_revision(r5),
        "at current",
    )
    .await;
    assert_eq!(
        now.count, 2,
        "a range at exactly the current revision is allowed"
    );
}

/// A range above the current revision fails with `FutureRevision`.
pub async fn range_at_future_revision(store: &dyn Store) {
    let p = case_prefix("range_at_future_revision");
    put(store, &format!("{p}k"), "v").await;
    let cur = current(store, "future").await;
    match store
        .range(RangeRequest::new(KeyRange::key(b(format!("{p}k")))).at_revision(cur + 1))
        .await
    {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!(
                (requested, current),
                (cur + 1, cur),
                "FutureRevision fields"
            );
        }
        other => panic!("range at current+1 must fail with FutureRevision, got {other:?}"),
    }
    match store
        .range(RangeRequest::new(KeyRange::prefix(b(&p))).at_revision(cur + 1000))
        .await
    {
        Err(StoreError::FutureRevision { requested, .. }) => assert_eq!(requested, cur + 1000),
        other => panic!("range at current+1000 must fail with FutureRevision, got {other:?}"),
    }
    let txn = crate::types::TxnRequest {
        success: vec![crate::types::TxnOp::Range(
            RangeRequest::new(KeyRange::key(b(format!("{p}k")))).at_revision(cur + 1),
        )],
        ..Default::default()
    };
    match store.txn(txn).await {
        Err(StoreError::FutureRevision { requested, current }) => {
            assert_eq!(
                (requested, current),
                (cur + 1, cur),
                "FutureRevision fields for a txn read"
            );
        }
        other => panic!("a txn reading at current+1 must fail with FutureRevision, got {other:?}"),
    }
    assert_eq!(
        current(store, "future").await,
        cur,
        "failed requests write nothing"
    );
}

/// A range delete removes every key in the range at one revision, reports
/// how many, and returns their last versions (in key order) when asked.
pub async fn delete_range_prev_kvs(store: &dyn Store) {
    let p = case_prefix("delete_range_prev_kvs");
    for k in ["x/c", "x/a", "x/b", "y"] {
        put(store, &format!("{p}{k}"), k).await;
    }
    let start = current(store, "delete range").await;
    let resp = store
        .txn(TxnRequest {
            success: vec![TxnOp::Delete {
                range: KeyRange::prefix(b(format!("{p}x/"))),
                prev_kv: true,
            }],
            ..Default::default()
        })
        .await
        .expect("delete range");
    assert_eq!(resp.revision, start + 1, "a range delete is one write");
    match &resp.responses[..] {
        [TxnOpResponse::Delete { deleted, prev_kvs }] => {
            assert_eq!(*deleted, 3);
            let got: Vec<(Bytes, Bytes)> = prev_kvs
                .iter()
                .map(|kv| (kv.key.clone(), kv.value.clone()))
                .collect();
            let want: Vec<(Bytes, Bytes)> = ["x/a", "x/b", "x/c"]
                .iter()
                .map(|k| (b(format!("{p}{k}")), b(k)))
                .collect();
            assert_eq!(
                got, want,
                "prev_kvs are the deleted key-values in key order"
            );
            assert!(prev_kvs
                .iter()
                .all(|kv| kv.version == 1 && kv.mod_revision < resp.revision));
        }
        other => panic!("expected one Delete response, got {other:?}"),
    }
    let left = range(
        store,
        RangeRequest::new(KeyRange::prefix(b(&p))),
        "after delete",
    )
    .await;
    assert_eq!(keys(&left), vec![b(format!("{p}y"))]);

    // Without prev_kv: a count and no key-values; `between` is half-open.
    for k in ["z/1", "z/2", "z/3"] {
        put(store, &format!("{p}{k}"), k).await;
    }
    let resp = store
        .txn(TxnRequest {
            success: vec![TxnOp::delete(KeyRange::between(
                b(format!("{p}z/1")),
                b(format!("{p}z/3")),
            ))],
            ..Default::default()
        })
        .await
        .expect("delete between");
    match &resp.responses[..] {
        [TxnOpResponse::Delete { deleted, prev_kvs }] => {
            assert_eq!(*deleted, 2, "between(z/1, z/3) deletes z/1 and z/2");
            assert!(prev_kvs.is_empty(), "no prev_kvs unless asked");
        }
        other => panic!("expected one Delete response, got {other:?}"),
    }
    assert!(
        get(store, &format!("{p}z/3")).await.is_some(),
        "the range end is exclusive"
    );
}
