//! Stored objects as bytes. An object is stored as compact JSON with
//! `metadata` first and without `resourceVersion` (the store's revision
//! is the resourceVersion). Because `metadata` comes first, an object can
//! be served with its resourceVersion stamped in by splicing bytes, with no
//! parse and no re-serialisation: lists, watch events and gets of many
//! objects cost a copy each. Objects stored in another key order (by older
//! versions) are parsed and re-serialised instead.

use std::io::Write;

use bytes::Bytes;
use rkube_apimachinery::ApiError;
use rkube_store::KeyValue;
use serde_json::Value;

/// How every stored object begins.
const PREFIX: &[u8] = br#"{"metadata":{"#;

/// Encode an object for the store: `metadata` first, no `resourceVersion`.
pub fn encode(obj: &Value) -> Result<Bytes, ApiError> {
    let internal = |e: serde_json::Error| ApiError::internal(e.to_string());
    let Value::Object(map) = obj else {
        return serde_json::to_vec(obj).map(Bytes::from).map_err(internal);
    };
    let mut meta = map
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| Value::Object(Default::default()));
    if let Value::Object(m) = &mut meta {
        m.remove("resourceVersion");
    }
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"metadata":"#);
    serde_json::to_writer(&mut out, &meta).map_err(internal)?;
    for (k, v) in map.iter().filter(|(k, _)| k.as_str() != "metadata") {
        out.push(b',');
        serde_json::to_writer(&mut out, k).map_err(internal)?;
        out.push(b':');
        serde_json::to_writer(&mut out, v).map_err(internal)?;
    }
    out.push(b'}');
    Ok(Bytes::from(out))
}

/// Append the stored object `value` with `"resourceVersion":"<rv>"` in its
/// metadata to `out`. `false` (and nothing appended) when it is not in the
/// stored layout.
fn splice_into(value: &[u8], rv: i64, out: &mut Vec<u8>) -> bool {
    let Some(rest) = value.strip_prefix(PREFIX) else {
        return false;
    };
    out.extend_from_slice(PREFIX);
    out.extend_from_slice(br#""resourceVersion":""#);
    let _ = write!(out, "{rv}");
    out.push(b'"');
    if rest.first() != Some(&b'}') {
        out.push(b',');
    }
    out.extend_from_slice(rest);
    true
}

/// Append the stored object of `kv`, resourceVersion `rv`, as JSON to `out`.
pub fn write_stamped(value: &[u8], rv: i64, out: &mut Vec<u8>) -> Result<(), ApiError> {
    if splice_into(value, rv, out) {
        return Ok(());
    }
    let mut obj: Value = serde_json::from_slice(value)
        .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))?;
    super::object::set_resource_version(&mut obj, rv);
    serde_json::to_writer(out, &obj).map_err(|e| ApiError::internal(e.to_string()))
}

/// One item of a list: the stored bytes, stamped with their
/// resourceVersion only as they are written out (a list of 100,000 objects
/// holds the store's bytes, shared, not a stamped copy of each).
#[derive(Debug, Clone)]
pub struct Item {
    bytes: Bytes,
    /// The revision to splice in; `None` when `bytes` is final JSON.
    rv: Option<i64>,
}

impl Item {
    /// The stored object of `kv`. One stored in another layout (by an
    /// older version) is parsed and stamped now, so writing never fails.
    pub fn from_kv(kv: &KeyValue) -> Result<Self, ApiError> {
        if kv.value.starts_with(PREFIX) {
            return Ok(Item {
                bytes: kv.value.clone(),
                rv: Some(kv.mod_revision),
            });
        }
        let mut out = Vec::with_capacity(kv.value.len() + 32);
        write_stamped(&kv.value, kv.mod_revision, &mut out)?;
        Ok(Item::json(out))
    }

    /// An item that is already the JSON to send.
    pub fn json(bytes: Vec<u8>) -> Self {
        Item {
            bytes: Bytes::from(bytes),
            rv: None,
        }
    }

    /// About how many bytes [`Item::write_to`] appends.
    pub fn encoded_len(&self) -> usize {
        self.bytes.len() + if self.rv.is_some() { 40 } else { 0 }
    }

    /// Appends the item's JSON to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self.rv {
            Some(rv) if splice_into(&self.bytes, rv, out) => {}
            _ => out.extend_from_slice(&self.bytes),
        }
    }

    /// The item with its bytes rewritten by `f` (which answers `None` to
    /// leave them as they are), its resourceVersion kept.
    pub fn rewritten(&self, f: impl FnOnce(&[u8]) -> Option<Vec<u8>>) -> Option<Self> {
        let other = f(&self.bytes)?;
        match self.rv {
            Some(rv) => {
                let mut out = Vec::with_capacity(other.len() + 32);
                write_stamped(&other, rv, &mut out).ok()?;
                Some(Item::json(out))
            }
            None => Some(Item::json(other)),
        }
    }

    /// The item's JSON.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.write_to(&mut out);
        out
    }
}

/// For a custom resource served in several versions (conversion `None`):
/// `item` with its `apiVersion` set to `api_version`, when it has another.
/// Only such items are parsed.
pub fn with_api_version(item: &[u8], api_version: &str) -> Option<Vec<u8>> {
    let wanted = format!("\"apiVersion\":{}", Value::String(api_version.to_string()));
    if item.windows(wanted.len()).any(|w| w == wanted.as_bytes()) {
        return None;
    }
    let mut obj: Value = serde_json::from_slice(item).ok()?;
    let map = obj.as_object_mut()?;
    if map.get("apiVersion").and_then(Value::as_str) == Some(api_version) {
        return None;
    }
    map.insert("apiVersion".into(), Value::String(api_version.to_string()));
    serde_json::to_vec(&obj).ok()
}

/// A list read from the store, items still as bytes.
#[derive(Debug, Clone)]
pub struct RawList {
    pub kind: String,
    pub api_version: String,
    /// The list's `metadata` (resourceVersion, continue, remainingItemCount).
    pub metadata: Value,
    /// The items, stamped with their resourceVersion as they are written.
    pub items: Vec<Item>,
}

impl RawList {
    /// The `<Kind>List` document as bytes, items copied as they are (what
    /// [`RawList::into_chunks`] sends, in one piece).
    #[cfg(test)]
    pub fn to_bytes(&self) -> Result<Vec<u8>, ApiError> {
        let internal = |e: serde_json::Error| ApiError::internal(e.to_string());
        let size: usize = self.items.iter().map(|i| i.encoded_len() + 1).sum();
        let mut out = Vec::with_capacity(size + 256);
        out.extend_from_slice(br#"{"kind":"#);
        serde_json::to_writer(&mut out, &self.kind).map_err(internal)?;
        out.extend_from_slice(br#","apiVersion":"#);
        serde_json::to_writer(&mut out, &self.api_version).map_err(internal)?;
        out.extend_from_slice(br#","metadata":"#);
        serde_json::to_writer(&mut out, &self.metadata).map_err(internal)?;
        out.extend_from_slice(br#","items":["#);
        for (i, item) in self.items.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            item.write_to(&mut out);
        }
        out.extend_from_slice(b"]}");
        Ok(out)
    }

    /// The list as JSON in pieces of about `chunk` bytes, built as they are
    /// sent: a list of 100,000 objects never sits in memory twice (items,
    /// then one body), and its first bytes leave at once.
    pub fn into_chunks(self, chunk: usize) -> Result<impl Iterator<Item = Bytes>, ApiError> {
        let internal = |e: serde_json::Error| ApiError::internal(e.to_string());
        let mut head = Vec::with_capacity(256);
        head.extend_from_slice(br#"{"kind":"#);
        serde_json::to_writer(&mut head, &self.kind).map_err(internal)?;
        head.extend_from_slice(br#","apiVersion":"#);
        serde_json::to_writer(&mut head, &self.api_version).map_err(internal)?;
        head.extend_from_slice(br#","metadata":"#);
        serde_json::to_writer(&mut head, &self.metadata).map_err(internal)?;
        head.extend_from_slice(br#","items":["#);
        let mut items = self.items.into_iter().enumerate().peekable();
        let mut pending = Some(head);
        let mut done = false;
        Ok(std::iter::from_fn(move || {
            if done {
                return None;
            }
            let mut out = pending
                .take()
                .unwrap_or_else(|| Vec::with_capacity(chunk + 4096));
            while out.len() < chunk {
                match items.next() {
                    Some((i, item)) => {
                        if i > 0 {
                            out.push(b',');
                        }
                        item.write_to(&mut out);
                    }
                    None => {
                        out.extend_from_slice(b"]}");
                        done = true;
                        break;
                    }
                }
            }
            if items.peek().is_none() && !done {
                out.extend_from_slice(b"]}");
                done = true;
            }
            Some(Bytes::from(out))
        }))
    }

    /// The items parsed.
    pub fn item_values(&self) -> Result<Vec<Value>, ApiError> {
        self.items
            .iter()
            .map(|i| {
                serde_json::from_slice(&i.to_vec())
                    .map_err(|e| ApiError::internal(format!("stored object is not JSON: {e}")))
            })
            .collect()
    }

    /// The `<Kind>List` document as a value.
    pub fn to_value(&self) -> Result<Value, ApiError> {
        Ok(serde_json::json!({
            "kind": self.kind,
            "apiVersion": self.api_version,
            "metadata": self.metadata,
            "items": self.item_values()?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn stamp(value: &[u8], rv: i64) -> Value {
        let mut out = Vec::new();
        write_stamped(value, rv, &mut out).expect("stamp");
        serde_json::from_slice(&out).expect("stamped JSON")
    }

    #[test]
    fn encoded_objects_get_their_resource_version_by_splicing() {
        let obj = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "b"},
                         "metadata": {"name": "x", "resourceVersion": "3", "labels": {"k": "v"}}});
        let bytes = encode(&obj).expect("encode");
        assert!(bytes.starts_with(PREFIX), "metadata first");
        assert!(!String::from_utf8_lossy(&bytes).contains("resourceVersion"));
        let mut out = Vec::new();
        assert!(splice_into(&bytes, 42, &mut out));
        let back: Value = serde_json::from_slice(&out).expect("spliced JSON");
        let mut want = obj.clone();
        want["metadata"]["resourceVersion"] = json!("42");
        assert_eq!(back, want);
    }

    #[test]
    fn empty_or_missing_metadata_still_splices() {
        for obj in [json!({"kind": "X", "metadata": {}}), json!({"kind": "X"})] {
            let bytes = encode(&obj).expect("encode");
            assert_eq!(
                stamp(&bytes, 7)["metadata"],
                json!({"resourceVersion": "7"})
            );
        }
    }

    #[test]
    fn other_layouts_are_parsed() {
        let old = br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"}}"#;
        let v = stamp(old, 9);
        assert_eq!(v["metadata"], json!({"name": "x", "resourceVersion": "9"}));
        assert!(write_stamped(b"not json", 1, &mut Vec::new()).is_err());
    }

    #[test]
    fn a_raw_list_is_the_list_document() {
        let items = [
            encode(&json!({"kind": "ConfigMap", "metadata": {"name": "a"}})).expect("a"),
            encode(&json!({"kind": "ConfigMap", "metadata": {"name": "b"}})).expect("b"),
        ];
        let list = RawList {
            kind: "ConfigMapList".into(),
            api_version: "v1".into(),
            metadata: json!({"resourceVersion": "5"}),
            items: items
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    Item::from_kv(&KeyValue {
                        key: Bytes::from(format!("/registry/configmaps/{i}")),
                        value: b.clone(),
                        create_revision: i as i64 + 1,
                        mod_revision: i as i64 + 1,
                        version: 1,
                    })
                    .expect("item")
                })
                // One item in an older layout, stamped when read.
                .chain([Item::from_kv(&KeyValue {
                    key: Bytes::from("/registry/configmaps/old"),
                    value: Bytes::from_static(br#"{"kind":"ConfigMap","metadata":{"name":"c"}}"#),
                    create_revision: 3,
                    mod_revision: 3,
                    version: 1,
                })
                .expect("old item")])
                .collect(),
        };
        let whole = list.to_bytes().expect("bytes");
        let chunked: Vec<u8> = list
            .clone()
            .into_chunks(8)
            .expect("chunks")
            .flat_map(|b| b.to_vec())
            .collect();
        assert_eq!(chunked, whole, "chunks join to the same body");
        let parsed: Value = serde_json::from_slice(&whole).expect("json");
        assert_eq!(parsed, list.to_value().expect("value"));
        assert_eq!(parsed["items"][1]["metadata"]["resourceVersion"], "2");
        assert_eq!(parsed["items"][2]["metadata"]["resourceVersion"], "3");
        assert_eq!(parsed["items"][2]["metadata"]["name"], "c");
        assert_eq!(parsed["kind"], "ConfigMapList");
    }
}
