//! get and list: one object, or a list of them with selectors and paging
//! (continue tokens, `remainingItemCount`, reads at a resourceVersion).

use base64::Engine;
use bytes::Bytes;
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::{KeyRange, RangeRequest, Revision, Store, StoreError};
use serde_json::{json, Value};

use super::options::ListOptions;
use super::raw::{self, RawList};
use super::store_access::{decode, list_prefix, read, store_error, wait_for_revision};
use super::versions;

/// `GET` of one object: the stored object and its revision.
pub async fn get(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
) -> Result<(Value, Revision), ApiError> {
    read(store, info, ns, name).await
}

#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
    /// Keys from `start` on at `rv`, when the page before counted them
    /// (rkube's addition; kube-apiserver's tokens have none): the next
    /// pages need not count again for `remainingItemCount`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    left: Option<i64>,
}

fn decode_continue(token: &str) -> Result<ContinueToken, ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token}"));
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&raw).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.rv <= 0 {
        return Err(bad());
    }
    Ok(t)
}

fn encode_continue(rv: i64, start: &str, left: Option<i64>) -> String {
    let t = ContinueToken {
        v: "meta.k8s.io/v1".into(),
        rv,
        start: start.into(),
        left,
    };
    base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(&t).unwrap_or_default())
}

/// Whether an object matches the selectors.
pub fn matches(info: &ResourceInfo, opts: &ListOptions, obj: &Value) -> bool {
    opts.label_selector.matches_object(obj)
        && opts
            .field_selector
            .matches_object(&info.group, &info.kind, obj)
}

/// A list, as the `<Kind>List` object.
pub async fn list(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    opts: &ListOptions,
) -> Result<Value, ApiError> {
    list_raw(store, info, ns, opts).await?.to_value()
}

/// A list with its items as stored bytes (resourceVersion stamped in):
/// objects are only parsed when a selector has to look at them.
pub async fn list_raw(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    opts: &ListOptions,
) -> Result<RawList, ApiError> {
    let prefix = list_prefix(info, ns);
    let end = rkube_store::prefix_end(prefix.as_bytes());
    let requested_rv = match opts.resource_version.as_deref() {
        None | Some("") | Some("0") => 0,
        Some(rv) => rv
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("invalid resource version: {rv}")))?,
    };
    if opts
        .continue_token
        .as_deref()
        .is_some_and(|c| !c.is_empty())
        && requested_rv > 0
    {
        return Err(ApiError::bad_request(
            "specifying resource version is not allowed when using continue",
        ));
    }
    if requested_rv > 0 {
        wait_for_revision(store, requested_rv).await?;
    }
    let mut known_count = None;
    let (mut start, rev) = match &opts.continue_token {
        Some(token) if !token.is_empty() => {
            let t = decode_continue(token)?;
            known_count = t.left.filter(|n| *n >= 0);
            (format!("{prefix}{}", t.start), t.rv)
        }
        // An exact revision is read only with a limit (or when asked); otherwise "not older than".
        _ if requested_rv > 0
            && (opts.limit > 0 || opts.resource_version_match.as_deref() == Some("Exact")) =>
        {
            (prefix.clone(), requested_rv)
        }
        _ => (prefix.clone(), 0),
    };
    let filtering = !opts.label_selector.is_empty() || !opts.field_selector.is_empty();
    let limit = opts.limit.max(0) as usize;
    let mut items = Vec::new();
    let mut read_rev = rev;
    let mut next_token = None;
    let mut remaining: Option<i64> = None;
    loop {
        let page = if limit == 0 {
            0
        } else if filtering {
            (limit * 2).max(500) as i64
        } else {
            (limit + 1) as i64
        };
        let mut req = RangeRequest::new(KeyRange::between(Bytes::from(start.clone()), end.clone()))
            .at_revision(read_rev)
            .with_limit(page);
        // Only an unfiltered page reports `remainingItemCount`, and a page
        // after one that counted knows the count already.
        if filtering || limit == 0 || known_count.is_some() {
            req = req.skip_count();
        }
        let resp = store
            .range(req)
            .await
            .map_err(|e| match e {
                StoreError::Compacted { .. } if opts.continue_token.is_some() => ApiError::expired(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
                ),
                other => store_error(other),
            })?;
        if read_rev == 0 {
            read_rev = resp.revision;
        }
        let mut last_key = None;
        let mut consumed = 0i64;
        for kv in &resp.kvs {
            if limit > 0 && items.len() == limit {
                break;
            }
            consumed += 1;
            last_key = Some(kv.key.clone());
            if !filtering || matches(info, opts, &decode(kv)?) {
                items.push(raw::Item::from_kv(kv)?);
            }
        }
        let more_here = (resp.kvs.len() as i64) > consumed || resp.more;
        if limit > 0 && items.len() == limit && more_here {
            if let Some(k) = last_key {
                let rel = String::from_utf8_lossy(&k[prefix.len()..]).to_string();
                if !filtering {
                    remaining = Some(known_count.unwrap_or(resp.count) - consumed);
                }
                next_token = Some(encode_continue(read_rev, &format!("{rel}\u{0}"), remaining));
            }
            break;
        }
        if !resp.more || limit == 0 {
            break;
        }
        match resp.kvs.last() {
            Some(k) => start = format!("{}\u{0}", String::from_utf8_lossy(&k.key)),
            None => break,
        }
    }
    let mut metadata = json!({ "resourceVersion": read_rev.to_string() });
    if let Some(token) = next_token {
        metadata["continue"] = Value::String(token);
        if let Some(r) = remaining {
            metadata["remainingItemCount"] = Value::from(r);
        }
    }
    for item in &mut items {
        if let Some(other) = item.rewritten(|b| versions::served_bytes(info, b)) {
            *item = other;
        }
    }
    Ok(RawList {
        kind: info.list_kind.clone(),
        api_version: info.api_version(),
        metadata,
        items,
    })
}
