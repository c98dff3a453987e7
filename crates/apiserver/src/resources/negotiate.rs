//! Content negotiation of responses (`Accept`): plain JSON, or the
//! `meta.k8s.io` Table kubectl asks for, or only metadata
//! (`PartialObjectMetadata(List)`, kube-rs' metadata API and client-go's
//! metadata informers). Clauses rkube cannot honour (protobuf, YAML) fall
//! through to the next; an
//! `Accept` nothing matches is 406.

use rkube_apimachinery::ApiError;

/// What to answer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Json,
    /// A Table in this `apiVersion` (`meta.k8s.io/v1` or `v1beta1`).
    Table(&'static str),
    /// Only metadata: `PartialObjectMetadata(List)` in this `apiVersion`.
    Metadata(&'static str),
}

/// The media types a resource request can be answered in.
const ACCEPTED: &[&str] = &[
    "application/json",
    "application/json;as=Table;v=v1;g=meta.k8s.io",
    "application/json;as=Table;v=v1beta1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io",
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io",
];

/// Picks the first clause of `accept` rkube can serve.
pub fn output(accept: Option<&str>) -> Result<Output, ApiError> {
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
        if !matches!(media, "application/json" | "*/*" | "application/*") {
            continue;
        }
        match params.get("as").copied() {
            None => return Ok(Output::Json),
            Some(what) if params.get("g").copied() == Some("meta.k8s.io") => {
                let version = match params.get("v").copied() {
                    Some("v1") => "meta.k8s.io/v1",
                    Some("v1beta1") => "meta.k8s.io/v1beta1",
                    _ => continue,
                };
                match what {
                    "Table" => return Ok(Output::Table(version)),
                    "PartialObjectMetadata" | "PartialObjectMetadataList" => {
                        return Ok(Output::Metadata(version))
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

    #[test]
    fn kubectl_get_gets_a_table() {
        let kubectl = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(
            output(Some(kubectl)).ok(),
            Some(Output::Table("meta.k8s.io/v1"))
        );
        assert_eq!(
            output(Some("application/json;as=Table;v=v1beta1;g=meta.k8s.io")).ok(),
            Some(Output::Table("meta.k8s.io/v1beta1"))
        );
    }

    #[test]
    fn json_and_fall_through() {
        assert_eq!(output(None).ok(), Some(Output::Json));
        assert_eq!(
            output(Some("application/vnd.kubernetes.protobuf, */*")).ok(),
            Some(Output::Json)
        );
        assert_eq!(
            output(Some(
                "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
            ))
            .ok(),
            Some(Output::Metadata("meta.k8s.io/v1"))
        );
        assert_eq!(
            output(Some(
                "application/json;as=Unknown;v=v1;g=meta.k8s.io,application/json"
            ))
            .ok(),
            Some(Output::Json)
        );
        let e = output(Some("application/yaml")).expect_err("406");
        assert_eq!(e.code(), 406);
        assert_eq!(
            output(Some("application/json;as=Table;v=v2;g=meta.k8s.io")).map_err(|e| e.code()),
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
    /// `PartialObjectMetadata` objects in this `apiVersion`.
    Metadata(&'static str),
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
