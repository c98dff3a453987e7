//! Conformance case for concurrent writers: every acknowledged write gets
//! its own revision and is visible to a later read.

use std::collections::BTreeSet;

use futures::future::join_all;

use super::util::{b, case_prefix, current};
use crate::store::Store;
use crate::types::{KeyRange, RangeRequest, Revision};

/// Writers running concurrently on the store.
const WRITERS: usize = 20;
/// Puts per writer.
const PUTS_PER_WRITER: usize = 10;

/// 20 concurrent writers, 10 puts each: revisions are distinct and
/// contiguous, and a range afterwards sees every key with the revision its
/// put returned.
pub async fn concurrent_writers(store: &dyn Store) {
    let p = case_prefix("concurrent_writers");
    let start = current(store, "concurrent").await;
    let p_ref = &p;
    let results: Vec<Vec<(String, Revision)>> = join_all((0..WRITERS).map(|w| async move {
        let mut done = Vec::with_capacity(PUTS_PER_WRITER);
        for i in 0..PUTS_PER_WRITER {
            let key = format!("{p_ref}w{w:02}/{i:02}");
            match store.put(b(&key), b(format!("{w}-{i}"))).await {
                Ok(rev) => done.push((key, rev)),
                Err(e) => panic!("concurrent put {key} failed: {e}"),
            }
        }
        done
    }))
    .await;
    let total = WRITERS * PUTS_PER_WRITER;
    let writes: Vec<(String, Revision)> = results.into_iter().flatten().collect();
    let revs: BTreeSet<Revision> = writes.iter().map(|(_, r)| *r).collect();
    assert_eq!(revs.len(), total, "every put must get its own revision");
    assert_eq!(
        (revs.first().copied(), revs.last().copied()),
        (Some(start + 1), Some(start + total as Revision)),
        "revisions of {total} puts must be start+1 ..= start+{total}"
    );
    assert_eq!(
        current(store, "concurrent").await,
        start + total as Revision
    );

    let all = store
        .range(RangeRequest::new(KeyRange::prefix(b(&p))))
        .await
        .expect("range");
    assert_eq!(
        all.count, total as i64,
        "a range after the writers must see every key"
    );
    for (key, rev) in &writes {
        let kv = all
            .kvs
            .iter()
            .find(|kv| kv.key == b(key))
            .unwrap_or_else(|| panic!("{key} missing"));
        assert_eq!(
            kv.mod_revision, *rev,
            "{key}: mod_revision must be the revision its put returned"
        );
    }
    // Each writer's puts were sequential, so its revisions increase.
    for w in 0..WRITERS {
        let mine: Vec<Revision> = writes
            .iter()
            .filter(|(k, _)| k.starts_with(&format!("{p}w{w:02}/")))
            .map(|(_, r)| *r)
            .collect();
        assert!(
            mine.windows(2).all(|x| x[0] < x[1]),
            "writer {w}: revisions must increase: {mine:?}"
        );
    }
}
