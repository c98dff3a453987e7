//! What a resource request asks for, read from its query, headers and
//! body: the body decoded (JSON, YAML or protobuf), list, write and delete
//! options (validated as kube-apiserver validates them), the patch type,
//! and the shape of the answer.

use std::collections::HashMap;

use axum::http::{header, HeaderMap};
use rkube_apimachinery::list_options::{self, ListQuery};
use rkube_apimachinery::protobuf;
use rkube_apimachinery::table::{IncludeObject, TableOptions};
use rkube_apimachinery::typed::{self, FieldValidation};
use rkube_apimachinery::{ApiError, FieldSelector, LabelSelector};
use serde_json::Value;

use super::negotiate::{self, Output, Render};
use super::options::{DeleteOptions, ListOptions, PatchType, WriteOptions};
use super::path::ResourcePath;
use super::pipeline;

/// The `Accept` header.
pub fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// Decode a request body: JSON, YAML (one document), or Kubernetes protobuf.
pub fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        }),
        "application/yaml" => decode_yaml(body),
        "application/vnd.kubernetes.protobuf" => protobuf::decode_object(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as protobuf: {e}"
            ))
        }),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ])),
    }
}

/// One YAML document as JSON (YAML-only values such as non-string keys are refused).
pub fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_saphyr::from_slice::<Value>(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as YAML: {e}"
        ))
    })
}

/// The list options of a list, watch or deletecollection, after
/// kube-apiserver's `ListOptions` validation (422 when they contradict).
pub fn list_options(
    p: &ResourcePath,
    q: &HashMap<String, String>,
    watch: bool,
) -> Result<ListOptions, ApiError> {
    list_options::validate(&ListQuery {
        watch,
        resource_version: q.get("resourceVersion").map(String::as_str),
        resource_version_match: q.get("resourceVersionMatch").map(String::as_str),
        continue_token: q.get("continue").map(String::as_str),
        send_initial_events: q.get("sendInitialEvents").and_then(|v| v.parse().ok()),
    })?;
    let label_selector = match q.get("labelSelector") {
        Some(s) if !s.is_empty() => LabelSelector::parse(s)?,
        _ => LabelSelector::everything(),
    };
    let field_selector = match q.get("fieldSelector") {
        Some(s) if !s.is_empty() => {
            FieldSelector::parse(s)?.for_kind(&p.info.group, &p.info.kind)?
        }
        _ => FieldSelector::everything(),
    };
    let limit = match q.get("limit") {
        Some(l) if !l.is_empty() => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        _ => 0,
    };
    Ok(ListOptions {
        label_selector,
        field_selector,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
        resource_version: q.get("resourceVersion").filter(|c| !c.is_empty()).cloned(),
        resource_version_match: q
            .get("resourceVersionMatch")
            .filter(|c| !c.is_empty())
            .cloned(),
    })
}

pub fn is_true(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| v == "true" || v == "1")
}

pub fn dry_run(q: &HashMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
}

/// How to shape a get, list or watch answer, from `Accept` and `includeObject`.
/// `watch`: the metadata forms are not answered in protobuf.
pub fn render(
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    watch: bool,
) -> Result<Render, ApiError> {
    match negotiate::output(accept(headers), !watch)? {
        Output::Json => Ok(Render::Json),
        Output::Metadata(v) => Ok(Render::Metadata(v)),
        Output::MetadataList(v) => Ok(Render::MetadataList(v)),
        Output::MetadataProtobuf(v) => Ok(Render::MetadataProtobuf(v)),
        Output::MetadataListProtobuf(v) => Ok(Render::MetadataListProtobuf(v)),
        Output::Table(api_version) => {
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str))
                .map_err(ApiError::bad_request)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Ok(Render::Table(TableOptions {
                api_version,
                include,
                headers: true,
                now,
            }))
        }
    }
}

/// `dryRun` and `fieldValidation` from the query of a write.
pub fn write_options(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    patch: Option<PatchType>,
) -> Result<WriteOptions, ApiError> {
    let options_kind = if patch.is_some() {
        "PatchOptions"
    } else {
        "CreateOptions"
    };
    use rkube_apimachinery::Cause;
    let invalid = |cause: Cause| ApiError::invalid("meta.k8s.io", options_kind, "", vec![cause]);
    let field_manager = match q.get("fieldManager") {
        Some(m) if m.chars().count() > 128 => {
            return Err(invalid(Cause::too_long("fieldManager", 128)));
        }
        Some(m) if m.chars().any(|c| c.is_control()) => {
            return Err(invalid(Cause::invalid(
                "fieldManager",
                m.as_str(),
                "must only contain printable characters",
            )));
        }
        Some(m) => m.clone(),
        // kube-apiserver: the User-Agent up to its first '/'.
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| {
                ua.split('/')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(128)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let force = match (q.get("force"), patch) {
        (None, _) => false,
        (Some(f), Some(PatchType::Apply)) => f == "true",
        (Some(_), _) => {
            return Err(invalid(Cause::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )))
        }
    };
    if patch == Some(PatchType::Apply) && !q.contains_key("fieldManager") {
        return Err(invalid(Cause::required(
            "fieldManager",
            "is required for apply patch",
        )));
    }
    Ok(WriteOptions {
        dry_run: dry_run(q),
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        field_manager,
        force,
    })
}

/// The body of a create or update, read through the kind's type as
/// kube-apiserver decodes it; returns the object and the warnings.
pub fn decode_object(
    p: &ResourcePath,
    headers: &HeaderMap,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>), ApiError> {
    let obj = decode_body(headers, body)?;
    let decoded = pipeline::decode(&p.info, obj, None, opts.field_validation)?;
    let warnings = typed::warnings(&decoded);
    Ok((decoded.object, warnings))
}

/// The `DeleteOptions` of a delete: its body, then the query.
pub fn delete_options(
    headers: &HeaderMap,
    body: &[u8],
    q: &HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        DeleteOptions::from_body(&decode_body(headers, body)?)
    };
    if let Some(g) = q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        opts.grace_period_seconds = Some(g);
    }
    if let Some(p) = q.get("propagationPolicy") {
        opts.propagation_policy = Some(p.clone());
    }
    if let Some(o) = q.get("orphanDependents") {
        opts.orphan_dependents = Some(o == "true");
    }
    opts.check()?;
    Ok(opts)
}

/// The patch type of a PATCH request, from its `Content-Type`.
pub fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match ct.split(';').next().unwrap_or("").trim() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ])),
    }
}
