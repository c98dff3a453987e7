//! The data model shared by every backend: key-values with etcd's MVCC
//! metadata, range requests, transactions and watch events.

use bytes::Bytes;

/// A store revision. The store starts at revision 1 (as etcd does) and every
/// transaction that writes advances it by exactly one.
pub type Revision = i64;

/// One version of a key, with etcd's MVCC metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Bytes,
    /// Empty for a `DELETE` event's `kv` (the key is gone).
    pub value: Bytes,
    /// Revision at which the current generation of the key was created.
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Number of writes since creation (1 after the create); 0 when deleted.
    pub version: i64,
}

/// Which keys a request touches: one key, a half-open range or a prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRange {
    pub key: Bytes,
    /// `None`: only `key`. `Some(end)`: every key in `[key, end)`; an empty
    /// `end` means "to the end of the keyspace" (as in etcd).
    pub range_end: Option<Bytes>,
}

impl KeyRange {
    /// Exactly one key.
    pub fn key(key: impl Into<Bytes>) -> Self {
        KeyRange {
            key: key.into(),
            range_end: None,
        }
    }

    /// Every key starting with `prefix`.
    pub fn prefix(prefix: impl Into<Bytes>) -> Self {
        let key: Bytes = prefix.into();
        let range_end = prefix_end(&key);
        KeyRange {
            key,
            range_end: Some(range_end),
        }
    }

    /// Every key in `[start, end)`.
    pub fn between(start: impl Into<Bytes>, end: impl Into<Bytes>) -> Self {
        KeyRange {
            key: start.into(),
            range_end: Some(end.into()),
        }
    }

    /// Whether `k` lies in this range.
    pub fn contains(&self, k: &[u8]) -> bool {
        match &self.range_end {
            None => k == &self.key[..],
            Some(end) => k >= &self.key[..] && (end.is_empty() || k < &end[..]),
        }
    }
}

/// The smallest key greater than every key with this prefix (etcd's
/// `GetPrefixRangeEnd`); empty (meaning "no end") when none exists.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::new()
}

/// A read of a key or range, now or at an older revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RangeRequest {
    pub range: KeyRange,
    /// 0 (or less) reads at the current revision.
    pub revision: Revision,
    /// 0 means no limit.
    pub limit: i64,
    /// Return only `count`, no key-values.
    pub count_only: bool,
    /// Return keys and metadata without values.
    pub keys_only: bool,
    /// The caller does not need `count` beyond the page: a store may stop
    /// at the first key past `limit` (`count` is then a lower bound; `more`
    /// is still exact). etcd counts anyway.
    pub skip_count: bool,
}

impl RangeRequest {
    pub fn new(range: KeyRange) -> Self {
        RangeRequest {
            range,
            revision: 0,
            limit: 0,
            count_only: false,
            keys_only: false,
            skip_count: false,
        }
    }
    pub fn at_revision(mut self, revision: Revision) -> Self {
        self.revision = revision;
        self
    }
    pub fn with_limit(mut self, limit: i64) -> Self {
        self.limit = limit;
        self
    }
    pub fn count_only(mut self) -> Self {
        self.count_only = true;
        self
    }
    pub fn keys_only(mut self) -> Self {
        self.keys_only = true;
        self
    }
    pub fn skip_count(mut self) -> Self {
        self.skip_count = true;
        self
    }
}

/// The answer to a [`RangeRequest`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct RangeResponse {
    /// Key-values in key order, at most `limit`.
    pub kvs: Vec<KeyValue>,
    /// Number of keys in the range at that revision, ignoring `limit`
    /// (with `skip_count`, possibly only those up to the first past it).
    pub count: i64,
    /// Whether `limit` cut the result (more keys follow the last one). A
    /// caller continues with a range starting just after the last key, at
    /// the same revision.
    pub more: bool,
    /// The store's current revision when the read was served (etcd's header
    /// revision), not the revision read at.
    pub revision: Revision,
}

/// What a [`Compare`] looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompareTarget {
    /// The key's `mod_revision` (0 when the key does not exist).
    ModRevision(Revision),
    /// The key's `create_revision` (0 when the key does not exist).
    CreateRevision(Revision),
    /// The key's `version` (0 when the key does not exist).
    Version(i64),
    /// The key's value (a missing key never compares equal to any value, as in etcd).
    Value(Bytes),
}

/// How a [`Compare`] compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CompareOp {
    Equal,
    NotEqual,
    Greater,
    Less,
}

/// One condition of a transaction, on a single key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compare {
    pub key: Bytes,
    pub op: CompareOp,
    pub target: CompareTarget,
}

impl Compare {
    pub fn mod_revision(key: impl Into<Bytes>, op: CompareOp, rev: Revision) -> Self {
        Compare {
            key: key.into(),
            op,
            target: CompareTarget::ModRevision(rev),
        }
    }
    pub fn create_revision(key: impl Into<Bytes>, op: CompareOp, rev: Revision) -> Self {
        Compare {
            key: key.into(),
            op,
            target: CompareTarget::CreateRevision(rev),
        }
    }
    pub fn version(key: impl Into<Bytes>, op: CompareOp, version: i64) -> Self {
        Compare {
            key: key.into(),
            op,
            target: CompareTarget::Version(version),
        }
    }
    pub fn value(key: impl Into<Bytes>, op: CompareOp, value: impl Into<Bytes>) -> Self {
        Compare {
            key: key.into(),
            op,
            target: CompareTarget::Value(value.into()),
        }
    }
}

/// One operation of a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOp {
    Put {
        key: Bytes,
        value: Bytes,
        prev_kv: bool,
    },
    Delete {
        range: KeyRange,
        prev_kv: bool,
    },
    Range(RangeRequest),
}

impl TxnOp {
    pub fn put(key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        TxnOp::Put {
            key: key.into(),
            value: value.into(),
            prev_kv: false,
        }
    }
    pub fn delete(range: KeyRange) -> Self {
        TxnOp::Delete {
            range,
            prev_kv: false,
        }
    }
    pub fn get(key: impl Into<Bytes>) -> Self {
        TxnOp::Range(RangeRequest::new(KeyRange::key(key)))
    }
}

/// The result of one [`TxnOp`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOpResponse {
    Put {
        prev_kv: Option<KeyValue>,
    },
    Delete {
        deleted: i64,
        prev_kvs: Vec<KeyValue>,
    },
    Range(RangeResponse),
}

/// An atomic `if all(compares) then success else failure`, as etcd's Txn.
/// Ops run in order, and a later op sees the writes of earlier ones; all
/// writes of one transaction share one new revision. A transaction that writes nothing
/// does not advance the revision. Ops in one transaction may not write the
/// same key twice.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnRequest {
    pub compares: Vec<Compare>,
    pub success: Vec<TxnOp>,
    pub failure: Vec<TxnOp>,
}

/// The result of a [`TxnRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnResponse {
    /// Whether every compare held (so `success` ran).
    pub succeeded: bool,
    /// The store revision after the transaction (its own revision if it wrote).
    pub revision: Revision,
    /// One response per op of the branch that ran, in order.
    pub responses: Vec<TxnOpResponse>,
}

/// Whether a [`WatchEvent`] is a write or a delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One change seen by a watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub kind: EventKind,
    /// For `Put`, the new version. For `Delete`, the key with an empty value,
    /// `mod_revision` = the delete's revision, `create_revision` and
    /// `version` 0 (as etcd reports it).
    pub kv: KeyValue,
    /// The version before this event, when the watch asked for it and the
    /// key existed.
    pub prev_kv: Option<KeyValue>,
}

/// Start a watch on a key or range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchRequest {
    pub range: KeyRange,
    /// First revision to deliver; 0 means "changes after now".
    pub start_revision: Revision,
    /// Fill [`WatchEvent::prev_kv`].
    pub prev_kv: bool,
}

impl WatchRequest {
    pub fn new(range: KeyRange) -> Self {
        WatchRequest {
            range,
            start_revision: 0,
            prev_kv: false,
        }
    }
    pub fn from_revision(mut self, revision: Revision) -> Self {
        self.start_revision = revision;
        self
    }
    pub fn with_prev_kv(mut self) -> Self {
        self.prev_kv = true;
        self
    }
}
