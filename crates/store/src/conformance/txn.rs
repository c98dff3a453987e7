//! Conformance cases for transactions: every compare target and operator,
//! missing keys, success and failure branches, one revision per writing
//! transaction, read-only transactions, `prev_kv` on puts, duplicate keys,
//! and reads that follow writes inside one transaction.

use super::util::{b, case_prefix, current, get, put};
use crate::error::StoreError;
use crate::store::Store;
use crate::types::{
    Compare, CompareOp, KeyRange, RangeRequest, TxnOp, TxnOpResponse, TxnRequest, TxnResponse,
};

async fn txn(store: &dyn Store, req: TxnRequest, ctx: &str) -> TxnResponse {
    match store.txn(req).await {
        Ok(resp) => resp,
        Err(e) => panic!("{ctx}: txn failed: {e}"),
    }
}

async fn holds(store: &dyn Store, compare: Compare) -> bool {
    let ctx = format!("{compare:?}");
    txn(
        store,
        TxnRequest {
            compares: vec![compare],
            ..Default::default()
        },
        &ctx,
    )
    .await
    .succeeded
}

/// Compares on mod_revision, create_revision, version and value with each
/// operator, against an existing key.
pub async fn txn_compares(store: &dyn Store) {
    use CompareOp::{Equal as Eq, Greater as Gt, Less as Lt, NotEqual as Ne};
    let p = case_prefix("txn_compares");
    let k = format!("{p}k");
    let c = put(store, &k, "m").await;
    let m = put(store, &k, "m2").await; // version 2, value "m2"

    let cases: Vec<(Compare, bool)> = vec![
        (Compare::mod_revision(b(&k), Eq, m), true),
        (Compare::mod_revision(b(&k), Eq, c), false),
        (Compare::mod_revision(b(&k), Ne, c), true),
        (Compare::mod_revision(b(&k), Ne, m), false),
        (Compare::mod_revision(b(&k), Gt, c), true),
        (Compare::mod_revision(b(&k), Gt, m), false),
        (Compare::mod_revision(b(&k), Lt, m + 1), true),
        (Compare::mod_revision(b(&k), Lt, m), false),
        (Compare::create_revision(b(&k), Eq, c), true),
        (Compare::create_revision(b(&k), Eq, m), false),
        (Compare::create_revision(b(&k), Ne, m), true),
        (Compare::create_revision(b(&k), Gt, c - 1), true),
        (Compare::create_revision(b(&k), Gt, c), false),
        (Compare::create_revision(b(&k), Lt, m), true),
        (Compare::create_revision(b(&k), Lt, c), false),
        (Compare::version(b(&k), Eq, 2), true),
        (Compare::version(b(&k), Eq, 1), false),
        (Compare::version(b(&k), Ne, 1), true),
        (Compare::version(b(&k), Ne, 2), false),
        (Compare::version(b(&k), Gt, 1), true),
        (Compare::version(b(&k), Gt, 2), false),
        (Compare::version(b(&k), Lt, 3), true),
        (Compare::version(b(&k), Lt, 2), false),
        (Compare::value(b(&k), Eq, "m2"), true),
        (Compare::value(b(&k), Eq, "m"), false),
        (Compare::value(b(&k), Ne, "m"), true),
        (Compare::value(b(&k), Ne, "m2"), false),
        // Values compare as bytes.
        (Compare::value(b(&k), Gt, "m1"), true),
        (Compare::value(b(&k), Gt, "m3"), false),
        (Compare::value(b(&k), Lt, "m3"), true),
        (Compare::value(b(&k), Lt, "m"), false),
    ];
    let start = current(store, "compares").await;
    for (compare, want) in cases {
        let got = holds(store, compare.clone()).await;
        assert_eq!(
            got, want,
            "compare {compare:?} on a key with create {c}, mod {m}, version 2, value m2"
        );
    }
    assert_eq!(
        current(store, "compares").await,
        start,
        "compare-only transactions write nothing"
    );

    // Several compares: all must hold.
    let both = vec![
        Compare::version(b(&k), Eq, 2),
        Compare::value(b(&k), Eq, "m2"),
    ];
    assert!(
        txn(
            store,
            TxnRequest {
                compares: both,
                ..Default::default()
            },
            "all hold"
        )
        .await
        .succeeded
    );
    let one_fails = vec![
        Compare::version(b(&k), Eq, 2),
        Compare::value(b(&k), Eq, "nope"),
    ];
    assert!(
        !txn(
            store,
            TxnRequest {
                compares: one_fails,
                ..Default::default()
            },
            "one fails"
        )
        .await
        .succeeded,
        "a transaction succeeds only if every compare holds"
    );
}

/// On a missing key mod_revision, create_revision and version compare as 0;
/// a value compare never holds, whatever the operator (as in etcd).
pub async fn txn_compares_on_missing_key(store: &dyn Store) {
    use CompareOp::{Equal as Eq, Greater as Gt, Less as Lt, NotEqual as Ne};
    let p = case_prefix("txn_compares_missing");
    let k = format!("{p}missing");
    let cases: Vec<(Compare, bool)> = vec![
        (Compare::mod_revision(b(&k), Eq, 0), true),
        (Compare::mod_revision(b(&k), Ne, 0), false),
        (Compare::mod_revision(b(&k), Lt, 1), true),
        (Compare::mod_revision(b(&k), Gt, 0), false),
        (Compare::create_revision(b(&k), Eq, 0), true),
        (Compare::create_revision(b(&k), Gt, 0), false),
        (Compare::version(b(&k), Eq, 0), true),
        (Compare::version(b(&k), Ne, 0), false),
        (Compare::version(b(&k), Lt, 1), true),
        (Compare::value(b(&k), Eq, ""), false),
        (Compare::value(b(&k), Eq, "x"), false),
        (Compare::value(b(&k), Ne, "x"), false),
        (Compare::value(b(&k), Gt, ""), false),
        (Compare::value(b(&k), Lt, "x"), false),
    ];
    for (compare, want) in cases {
        assert_eq!(
            holds(store, compare.clone()).await,
            want,
            "compare {compare:?} on a missing key"
        );
    }

    // A deleted key is missing too.
    put(store, &k, "x").await;
    store.delete(KeyRange::key(b(&k))).await.expect("delete");
    assert!(
        holds(store, Compare::mod_revision(b(&k), Eq, 0)).await,
        "a deleted key's mod_revision is 0"
    );
    assert!(
        holds(store, Compare::version(b(&k), Eq, 0)).await,
        "a deleted key's version is 0"
    );
    assert!(
        !holds(store, Compare::value(b(&k), Ne, "x")).await,
        "value compares on a deleted key never hold"
    );

    // The create-if-absent idiom.
    let create = |v: &str| TxnRequest {
        compares: vec![Compare::mod_revision(b(&k), Eq, 0)],
        success: vec![TxnOp::put(b(&k), b(v))],
        failure: vec![TxnOp::get(b(&k))],
    };
    let first = txn(store, create("one"), "create").await;
    assert!(
        first.succeeded,
        "create-if-absent must succeed on a missing key"
    );
    let second = txn(store, create("two"), "create again").await;
    assert!(
        !second.succeeded,
        "create-if-absent must fail on an existing key"
    );
    match &second.responses[..] {
        [TxnOpResponse::Range(r)] => assert_eq!(r.kvs[0].value, b("one")),
        other => panic!("failure branch must return the get: {other:?}"),
    }
}

/// The success branch runs when the compares hold, the failure branch
/// otherwise; responses match the ops of the branch that ran, in order.
pub async fn txn_branches(store: &dyn Store) {
    let p = case_prefix("txn_branches");
    let k = format!("{p}k");
    let r0 = put(store, &k, "v").await;

    // Optimistic update that succeeds.
    let resp = txn(
        store,
        TxnRequest {
            compares: vec![Compare::mod_revision(b(&k), CompareOp::Equal, r0)],
            success: vec![TxnOp::put(b(&k), b("v2")), TxnOp::get(b(&k))],
            failure: vec![TxnOp::get(b(&k))],
        },
        "cas ok",
    )
    .await;
    assert!(resp.succeeded);
    assert_eq!(
        resp.revision,
        r0 + 1,
        "a succeeded write transaction gets the next revision"
    );
    assert!(
        matches!(
            resp.responses[..],
            [TxnOpResponse::Put { .. }, TxnOpResponse::Range(_)]
        ),
        "{resp:?}"
    );

    // Optimistic update with a stale revision: failure branch, which writes.
    let resp = txn(
        store,
        TxnRequest {
            compares: vec![Compare::mod_revision(b(&k), CompareOp::Equal, r0)],
            success: vec![TxnOp::put(b(&k), b("stale"))],
            failure: vec![
                TxnOp::get(b(&k)),
                TxnOp::put(b(format!("{p}conflicts")), b("1")),
            ],
        },
        "cas stale",
    )
    .await;
    assert!(
        !resp.succeeded,
        "a stale mod_revision must fail the compare"
    );
    assert_eq!(
        resp.revision,
        r0 + 2,
        "the failure branch wrote, so the revision advances"
    );
    match &resp.responses[..] {
        [TxnOpResponse::Range(r), TxnOpResponse::Put { prev_kv: None }] => {
            assert_eq!(
                r.kvs[0].value,
                b("v2"),
                "failure get sees the current value"
            );
            assert_eq!(r.kvs[0].mod_revision, r0 + 1);
        }
        other => panic!("failure branch responses: {other:?}"),
    }
    assert_eq!(
        get(store, &k).await.expect("k").value,
        b("v2"),
        "the success branch did not run"
    );

    // Failing compare with an empty failure branch: nothing happens.
    let start = current(store, "empty failure").await;
    let resp = txn(
        store,
        TxnRequest {
            compares: vec![Compare::value(b(&k), CompareOp::Equal, "nope")],
            success: vec![TxnOp::put(b(&k), b("no"))],
            failure: vec![],
        },
        "empty failure",
    )
    .await;
    assert!(!resp.succeeded && resp.responses.is_empty());
    assert_eq!(resp.revision, start, "revision reported is the current one");
    assert_eq!(
        current(store, "empty failure").await,
        start,
        "nothing was written"
    );

    // No compares: always the success branch.
    let resp = txn(
        store,
        TxnRequest {
            success: vec![TxnOp::get(b(&k))],
            ..Default::default()
        },
        "no compares",
    )
    .await;
    assert!(resp.succeeded, "a transaction without compares succeeds");
}

/// All writes of one transaction share one new revision.
pub async fn txn_one_revision_for_all_writes(store: &dyn Store) {
    let p = case_prefix("txn_one_revision");
    put(store, &format!("{p}old/1"), "x").await;
    put(store, &format!("{p}old/2"), "x").await;
    let start = current(store, "one revision").await;
    let resp = txn(
        store,
        TxnRequest {
            success: vec![
                TxnOp::put(b(format!("{p}a")), b("1")),
                TxnOp::put(b(format!("{p}b")), b("2")),
                TxnOp::delete(KeyRange::prefix(b(format!("{p}old/")))),
                TxnOp::put(b(format!("{p}c")), b("3")),
            ],
            ..Default::default()
        },
        "multi",
    )
    .await;
    assert_eq!(
        resp.revision,
        start + 1,
        "a transaction with several writes advances the revision by one"
    );
    assert_eq!(current(store, "one revision").await, start + 1);
    for k in ["a", "b", "c"] {
        let kv = get(store, &format!("{p}{k}")).await.expect("written");
        assert_eq!(
            (kv.create_revision, kv.mod_revision, kv.version),
            (start + 1, start + 1, 1),
            "key {k}"
        );
    }
    match &resp.responses[2] {
        TxnOpResponse::Delete { deleted, .. } => assert_eq!(*deleted, 2),
        other => panic!("third response must be the delete: {other:?}"),
    }
}

/// A transaction that only reads (or whose deletes match nothing) does not
/// advance the revision and reports the current one.
pub async fn txn_read_only_keeps_revision(store: &dyn Store) {
    let p = case_prefix("txn_read_only");
    let k = format!("{p}k");
    let r = put(store, &k, "v").await;
    let resp = txn(
        store,
        TxnRequest {
            compares: vec![Compare::version(b(&k), CompareOp::Equal, 1)],
            success: vec![
                TxnOp::get(b(&k)),
                TxnOp::Range(RangeRequest::new(KeyRange::prefix(b(&p))).count_only()),
                TxnOp::delete(KeyRange::key(b(format!("{p}missing")))),
            ],
            failure: vec![],
        },
        "read only",
    )
    .await;
    assert!(resp.succeeded);
    assert_eq!(
        resp.revision, r,
        "a transaction that writes nothing reports the current revision"
    );
    assert_eq!(
        current(store, "read only").await,
        r,
        "and does not advance it"
    );
    match &resp.responses[..] {
        [TxnOpResponse::Range(one), TxnOpResponse::Range(count), TxnOpResponse::Delete { deleted: 0, .. }] =>
        {
            assert_eq!(one.kvs[0].value, b("v"));
            assert_eq!(count.count, 1);
            assert!(count.kvs.is_empty());
        }
        other => panic!("read-only responses: {other:?}"),
    }
}

/// A put with `prev_kv` returns the key-value it replaced (none on create).
pub async fn txn_put_prev_kv(store: &dyn Store) {
    let p = case_prefix("txn_put_prev_kv");
    let k = format!("{p}k");
    let put_prev = |v: &str| TxnRequest {
        success: vec![TxnOp::Put {
            key: b(&k),
            value: b(v),
            prev_kv: true,
        }],
        ..Default::default()
    };
    let first = txn(store, put_prev("one"), "create").await;
    assert!(
        matches!(first.responses[..], [TxnOpResponse::Put { prev_kv: None }]),
        "creating a key has no prev_kv: {first:?}"
    );
    let second = txn(store, put_prev("two"), "update").await;
    match &second.responses[..] {
        [TxnOpResponse::Put {
            prev_kv: Some(prev),
        }] => {
            assert_eq!(prev.key, b(&k));
            assert_eq!(prev.value, b("one"));
            assert_eq!(
                (prev.create_revision, prev.mod_revision, prev.version),
                (first.revision, first.revision, 1)
            );
        }
        other => panic!("update must return prev_kv: {other:?}"),
    }
    let third = txn(
        store,
        TxnRequest {
            success: vec![TxnOp::put(b(&k), b("three"))],
            ..Default::default()
        },
        "no prev",
    )
    .await;
    assert!(
        matches!(third.responses[..], [TxnOpResponse::Put { prev_kv: None }]),
        "no prev_kv unless asked: {third:?}"
    );
}

/// A transaction whose branch writes one key twice (put+put, or a put and a
/// delete covering it, in either order) is rejected with `InvalidRequest`
/// and changes nothing — checked for both branches, even the one that would
/// not run. Overlapping deletes are allowed (as in etcd): the later one
/// finds nothing left to delete.
pub async fn txn_duplicate_keys(store: &dyn Store) {
    let p = case_prefix("txn_duplicate_keys");
    let k = format!("{p}k");
    put(store, &k, "orig").await;
    let start = current(store, "dup").await;
    let bad: Vec<(&str, TxnRequest)> = vec![
        (
            "put+put",
            TxnRequest {
                success: vec![TxnOp::put(b(&k), b("1")), TxnOp::put(b(&k), b("2"))],
                ..Default::default()
            },
        ),
        (
            "put+delete",
            TxnRequest {
                success: vec![
                    TxnOp::put(b(&k), b("1")),
                    TxnOp::delete(KeyRange::key(b(&k))),
                ],
                ..Default::default()
            },
        ),
        (
            "delete+put",
            TxnRequest {
                success: vec![
                    TxnOp::delete(KeyRange::key(b(&k))),
                    TxnOp::put(b(&k), b("1")),
                ],
                ..Default::default()
            },
        ),
        (
            "put+delete prefix covering it",
            TxnRequest {
                success: vec![
                    TxnOp::put(b(format!("{p}x/1")), b("1")),
                    TxnOp::delete(KeyRange::prefix(b(format!("{p}x/")))),
                ],
                ..Default::default()
            },
        ),
        (
            "put+put in the failure branch, success taken",
            TxnRequest {
                success: vec![TxnOp::put(b(format!("{p}other")), b("1"))],
                failure: vec![TxnOp::put(b(&k), b("1")), TxnOp::put(b(&k), b("2"))],
                ..Default::default()
            },
        ),
    ];
    for (what, req) in bad {
        match store.txn(req).await {
            Err(StoreError::InvalidRequest(_)) => {}
            other => panic!("{what}: a transaction writing one key twice must fail with InvalidRequest, got {other:?}"),
        }
    }
    assert_eq!(
        current(store, "dup").await,
        start,
        "rejected transactions must not write"
    );
    assert_eq!(get(store, &k).await.expect("k").value, b("orig"));
    assert!(
        get(store, &format!("{p}other")).await.is_none(),
        "a rejected transaction runs no branch"
    );

    // The same key in different branches is fine.
    let resp = txn(
        store,
        TxnRequest {
            success: vec![TxnOp::put(b(&k), b("s"))],
            failure: vec![TxnOp::put(b(&k), b("f"))],
            ..Default::default()
        },
        "same key in both branches",
    )
    .await;
    assert!(resp.succeeded);

    // Overlapping deletes are allowed.
    let start = current(store, "overlapping deletes").await;
    let resp = txn(
        store,
        TxnRequest {
            success: vec![
                TxnOp::delete(KeyRange::prefix(b(&p))),
                TxnOp::delete(KeyRange::key(b(&k))),
            ],
            ..Default::default()
        },
        "overlapping deletes",
    )
    .await;
    assert_eq!(resp.revision, start + 1);
    match &resp.responses[..] {
        [TxnOpResponse::Delete { deleted: 1, .. }, TxnOpResponse::Delete { deleted: 0, .. }] => {}
        other => {
            panic!("overlapping deletes: the first deletes k, the second finds nothing: {other:?}")
        }
    }
}

/// Inside one transaction, a read that follows a write sees that write (as
/// in etcd: ops run in order on the transaction's view). Reads before the
/// first write see the state before the transaction.
pub async fn txn_reads_see_earlier_writes(store: &dyn Store) {
    let p = case_prefix("txn_reads_see_earlier_writes");
    let a = format!("{p}a");
    let d = format!("{p}d");
    put(store, &a, "old").await;
    put(store, &d, "doomed").await;
    let start = current(store, "read after write").await;
    let resp = txn(
        store,
        TxnRequest {
            success: vec![
                TxnOp::get(b(&a)),
                TxnOp::put(b(&a), b("new")),
                TxnOp::get(b(&a)),
                TxnOp::delete(KeyRange::key(b(&d))),
                TxnOp::Range(RangeRequest::new(KeyRange::prefix(b(&p)))),
            ],
            ..Default::default()
        },
        "read after write",
    )
    .await;
    let rev = start + 1;
    assert_eq!(resp.revision, rev);
    match &resp.responses[..] {
        [TxnOpResponse::Range(before), TxnOpResponse::Put { .. }, TxnOpResponse::Range(after), TxnOpResponse::Delete { deleted: 1, .. }, TxnOpResponse::Range(all)] =>
        {
            assert_eq!(
                before.kvs[0].value,
                b("old"),
                "a read before any write sees the old value"
            );
            assert_eq!(
                after.kvs[0].value,
                b("new"),
                "a read after a put in the same transaction sees the put"
            );
            assert_eq!((after.kvs[0].mod_revision, after.kvs[0].version), (rev, 2));
            let keys: Vec<_> = all.kvs.iter().map(|kv| kv.key.clone()).collect();
            assert_eq!(
                keys,
                vec![b(&a)],
                "a read after a delete in the same transaction does not see the key"
            );
        }
        other => panic!("responses: {other:?}"),
    }
}
