//! Content negotiation of responses (`Accept`): plain JSON, or the
//! `meta.k8s.io` Table kubectl asks for, or only metadata
//! (`PartialObjectMetadata(List)`, kube-rs' metadata API and client-go's
//! metadata informers), for every verb that answers with an object or a
//! list (get, list, watch, create, update, patch, delete), as
//! kube-apiserver's `transformResponseObject`. Clauses rkube cannot honour
//! (protobuf, YAML) fall through to the next; an `Accept` nothing matches
//! is 406, and so is `PartialObjectMetadata` asked of a list or
//! `PartialObjectMetadataList` of one object (after a write is done, as
//! there).

use rkube_apimachinery::ApiError;

/// What to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    /// A Table in this `apiVersion` (`meta.k8s.io/v1` or `v1beta1`).
    Table(&'static str),
    /// Only metadata: `PartialObjectMetadata` in this `apiVersion`.
    Metadata(&'static str),
    /// Only metadata: `PartialObjectMetadataList` in this `apiVersion`.
    MetadataList(&'static str),
    /// [`Output::Metadata`] in Kubernetes protobuf.
    MetadataProtobuf(&'static str),
    /// [`Output::MetadataList`] in Kubernetes protobuf.
    MetadataListProtobuf(&'static str),
}

/// Kubernetes' protobuf media type.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The media types a resource request can be answered in.
const ACCEPTED: &[&str] = &[
    "application/json",
    "application/json;as=Table;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
];

/// Picks the first clause of `accept` rkube can serve; `protobuf`: whether
/// the metadata forms may be answered in protobuf (not for a watch, whose
/// protobuf framing rkube does not write).
pub fn output(accept: Option<&str>, protobuf: bool) -> Result<Output, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Output::Json);
    };
    for clause in accept.split(',') {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("");
        let mut params = std::collections::HashMap::new();
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                params.insert(k.trim(), v.trim());
            }
        }
        let is_protobuf = media == PROTOBUF;
        if !(matches!(media, "application/json" | "*/*" | "application/*")
            || (is_protobuf && protobuf))
        {
            continue;
        }
        match params.get("as").copied() {
            None if is_protobuf => continue,
            None => return Ok(Output::Json),
            Some(what) if params.get("g").copied() == Some("meta.k8s.io") => {
                let version = match params.get("v").copied() {
                    Some("v1") => "meta.k8s.io/v1",
                    Some("v1beta1") => "meta.k8s.io/v1beta1",
                    _ => continue,
                };
                match (what, is_protobuf) {
                    ("Table", false) => return Ok(Output::Table(version)),
                    ("PartialObjectMetadata", false) => return Ok(Output::Metadata(version)),
                    ("PartialObjectMetadataList", false) => {
                        return Ok(Output::MetadataList(version))
                    }
                    ("PartialObjectMetadata", true) => {
                        return Ok(Output::MetadataProtobuf(version))
                    }
                    ("PartialObjectMetadataList", true) => {
                        return Ok(Output::MetadataListProtobuf(version))
                    }
                    _ => continue,
                }
            }
            _ => continue,
        }
    }
    Err(ApiError::not_acceptable(ACCEPTED))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output_of(accept: Option<&str>) -> Result<Output, ApiError> {
        output(accept, true)
    }

    #[test]
    fn kubectl_get_gets_a_table() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            output_of(Some(kubectl)).ok(),
            Some(Output::Table("meta.k8s.io/v1"))
        );
        assert_eq!(
            output_of(Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io")).ok(),
            Some(Output::Table("meta.k8s.io/v1beta1"))
        );
    }

    #[test]
    fn json_and_fall_through() {
        assert_eq!(output_of(None).ok(), Some(Output::Json));
        assert_eq!(
            output_of(Some("application/vnd.kubernetes.protobuf, */*")).ok(),
            Some(Output::Json)
        );
        assert_eq!(
            output_of(Some(
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
            ))
            .ok(),
            Some(Output::MetadataList("meta.k8s.io/v1"))
        );
        assert_eq!(
            output_of(Some(
                "application/json;as=Unknown;v=v1;g=meta.k8s.io,application/json"
            ))
            .ok(),
            Some(Output::Json)
        );
        // client-go's metadata client: protobuf first, JSON next (a watch
        // takes the JSON one).
        let metadata = "application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json";
        assert_eq!(
            output(Some(metadata), true).ok(),
            Some(Output::MetadataProtobuf("meta.k8s.io/v1"))
        );
        assert_eq!(
            output(Some(metadata), false).ok(),
            Some(Output::Metadata("meta.k8s.io/v1"))
        );
        let e = output_of(Some("application/yaml")).expect_err("406");
        assert_eq!(e.code(), 406);
        assert_eq!(
            output_of(Some("application/json;as=Table;v=v2;g=meta.k8s.io")).map_err(|e| e.code()),
            Err(406)
        );
    }
}

/// How a get, list or watch answer is shaped.
#[derive(Debug, Clone, Copy, Default)]
pub enum Render {
    #[default]
    Json,
    Table(rkube_apimachinery::table::TableOptions),
    /// `PartialObjectMetadata` in this `apiVersion`.
    Metadata(&'static str),
    /// `PartialObjectMetadataList` in this `apiVersion` (a watch sends
    /// each event's object as `PartialObjectMetadata` either way).
    MetadataList(&'static str),
    /// [`Render::Metadata`] in protobuf (never for a watch).
    MetadataProtobuf(&'static str),
    /// [`Render::MetadataList`] in protobuf (never for a watch).
    MetadataListProtobuf(&'static str),
}

/// A response body and its media type.
#[derive(Debug, Clone)]
pub struct Answer {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
}

/// A get's, a list's or a write's answer (`obj`: an object of `info`, its
/// list, or a `Status`, which passes as it is) shaped as `shape` asks.
pub fn answer(
    info: &rkube_apimachinery::ResourceInfo,
    obj: serde_json::Value,
    shape: &Render,
) -> Result<Answer, ApiError> {
    let kind = obj.get("kind").and_then(serde_json::Value::as_str);
    let is_status = kind == Some("Status");
    let is_list = kind == Some(info.list_kind.as_str());
    if !is_status {
        fits(info, shape, is_list)?;
    }
    let items = || match obj.get("items") {
        Some(serde_json::Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    let list_metadata = || {
        obj.get("metadata")
            .cloned()
            .unwrap_or_else(|| serde_json::json!({}))
    };
    let value = match *shape {
        _ if is_status => return json(&obj),
        Render::Json => return json(&obj),
        Render::Metadata(v) | Render::MetadataProtobuf(v) => partial(&obj, v),
        Render::MetadataList(v) | Render::MetadataListProtobuf(v) => {
            partial_list(items(), list_metadata(), v)
        }
        Render::Table(ref t) if is_list => table(info, items(), list_metadata(), t),
        Render::Table(ref t) => {
            let rv = obj
                .pointer("/metadata/resourceVersion")
                .cloned()
                .unwrap_or(serde_json::Value::Null);
            table(
                info,
                std::slice::from_ref(&obj),
                serde_json::json!({"resourceVersion": rv}),
                t,
            )
        }
    };
    match shape {
        Render::MetadataProtobuf(v) | Render::MetadataListProtobuf(v) => {
            let kind = value
                .get("kind")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("PartialObjectMetadata");
            let bytes = rkube_apimachinery::protobuf::encode_object(v, kind, &value)
                .map_err(|e| ApiError::internal(e.to_string()))?;
            Ok(Answer {
                bytes,
                content_type: PROTOBUF,
            })
        }
        _ => json(&value),
    }
}

fn json(value: &serde_json::Value) -> Result<Answer, ApiError> {
    Ok(Answer {
        bytes: serde_json::to_vec(value).map_err(|e| ApiError::internal(e.to_string()))?,
        content_type: "application/json",
    })
}

/// The 406 for metadata of one object asked of a list (`is_list`), or
/// the reverse.
pub fn fits(
    info: &rkube_apimachinery::ResourceInfo,
    shape: &Render,
    is_list: bool,
) -> Result<(), ApiError> {
    match shape {
        Render::Metadata(_) | Render::MetadataProtobuf(_) if is_list => {
            Err(ApiError::not_acceptable_as(format!(
                "you requested PartialObjectMetadata, but the requested object is a list ({})",
                go_type(info, true)
            )))
        }
        Render::MetadataList(_) | Render::MetadataListProtobuf(_) if !is_list => {
            Err(ApiError::not_acceptable_as(format!(
            "you requested PartialObjectMetadataList, but the requested object is not a list ({})",
            go_type(info, false)
        )))
        }
        _ => Ok(()),
    }
}

/// The Go type kube-apiserver names in a 406 about the object's shape: its
/// internal type (`*core.Pod`, `*apps.DeploymentList`), or
/// `*unstructured.Unstructured(List)` for a custom resource.
fn go_type(info: &rkube_apimachinery::ResourceInfo, list: bool) -> String {
    let list_suffix = if list { "List" } else { "" };
    if info.custom.is_some() {
        return format!("*unstructured.Unstructured{list_suffix}");
    }
    // Internal packages are named for the group's first label; the core
    // group's (and events.k8s.io's, served from core Events) is `core`.
    let package = match info.group.as_str() {
        "" | "events.k8s.io" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("*{package}.{}{list_suffix}", info.kind)
}

/// An object reduced to its metadata.
pub fn partial(obj: &serde_json::Value, api_version: &str) -> serde_json::Value {
    serde_json::json!({
        "kind": "PartialObjectMetadata",
        "apiVersion": api_version,
        "metadata": obj.get("metadata").cloned().unwrap_or_else(|| serde_json::json!({})),
    })
}

/// A list reduced to its items' metadata.
pub fn partial_list(
    items: &[serde_json::Value],
    metadata: serde_json::Value,
    api_version: &str,
) -> serde_json::Value {
    serde_json::json!({
        "kind": "PartialObjectMetadataList",
        "apiVersion": api_version,
        "metadata": metadata,
        "items": items.iter().map(|i| partial(i, api_version)).collect::<Vec<_>>(),
    })
}

/// The Table of `items`: kube-apiserver's printer for a built-in kind, a
/// CRD's printer columns for a custom resource.
pub fn table(
    info: &rkube_apimachinery::ResourceInfo,
    items: &[serde_json::Value],
    metadata: serde_json::Value,
    opts: &rkube_apimachinery::table::TableOptions,
) -> serde_json::Value {
    match &info.custom {
        Some(c) => rkube_apimachinery::crd::columns::table(&c.columns, items, metadata, opts),
        None => rkube_apimachinery::table::table(&info.group, &info.kind, items, metadata, opts),
    }
}
