//! The options of the verbs, as parsed from a request's query and body:
//! what a list selects, how a write is carried out, what a delete
//! requires, and the patch formats. Plain data; the verbs read them.

use rkube_apimachinery::typed::FieldValidation;
use rkube_apimachinery::{ApiError, FieldSelector, LabelSelector};
use serde_json::Value;

/// List options, as parsed from the query.
#[derive(Debug, Default, Clone)]
pub struct ListOptions {
    pub label_selector: LabelSelector,
    pub field_selector: FieldSelector,
    pub limit: i64,
    pub continue_token: Option<String>,
    pub resource_version: Option<String>,
    pub resource_version_match: Option<String>,
}

/// The patch formats a PATCH may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// RFC 6902 (`application/json-patch+json`).
    Json,
    /// RFC 7386 (`application/merge-patch+json`).
    Merge,
    /// `application/strategic-merge-patch+json`, with Kubernetes' merge
    /// keys for built-in kinds (see `rkube_apimachinery::strategic`).
    Strategic,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

/// How a write is carried out, from its query.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `dryRun=All`: do everything but persist.
    pub dry_run: bool,
    /// What to do about fields the kind's type does not have.
    pub field_validation: FieldValidation,
    /// Who writes (`fieldManager`, else the User-Agent's product).
    pub field_manager: String,
    /// `force=true` on an apply: take conflicting fields.
    pub force: bool,
}

impl WriteOptions {
    /// Options for writes the server makes itself.
    pub fn internal(manager: &str) -> Self {
        WriteOptions {
            field_manager: manager.to_string(),
            ..Default::default()
        }
    }
}

/// A written object and the warnings for the client.
#[derive(Debug, Clone)]
pub struct Written {
    pub object: Value,
    /// `Warning` header texts (e.g. unknown fields that were dropped).
    pub warnings: Vec<String>,
}

impl Written {
    pub(super) fn new(object: Value, warnings: Vec<String>) -> Self {
        Written { object, warnings }
    }
}

/// Delete preconditions from a `DeleteOptions` body.
#[derive(Debug, Default, Clone)]
pub struct DeleteOptions {
    pub uid: Option<String>,
    pub resource_version: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub dry_run: bool,
    /// `propagationPolicy`: `Orphan`, `Background` or `Foreground`.
    pub propagation_policy: Option<String>,
    /// The legacy `orphanDependents`.
    pub orphan_dependents: Option<bool>,
}

impl DeleteOptions {
    pub fn from_body(body: &Value) -> Self {
        let pre = body.get("preconditions");
        let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        DeleteOptions {
            uid: s(pre.and_then(|p| p.get("uid"))),
            resource_version: s(pre.and_then(|p| p.get("resourceVersion"))),
            grace_period_seconds: body.get("gracePeriodSeconds").and_then(Value::as_i64),
            dry_run: body
                .get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v == "All")),
            propagation_policy: s(body.get("propagationPolicy")),
            orphan_dependents: body.get("orphanDependents").and_then(Value::as_bool),
        }
    }

    /// A `propagationPolicy` kube-apiserver does not know, or one set along
    /// with `orphanDependents`, is a 422.
    pub fn check(&self) -> Result<(), ApiError> {
        if let Some(p) = &self.propagation_policy {
            if !matches!(p.as_str(), "Orphan" | "Background" | "Foreground") {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    vec![rkube_apimachinery::Cause::not_supported(
                        "propagationPolicy",
                        p.clone(),
                        &["Foreground", "Background", "Orphan", "nil"],
                    )],
                ));
            }
            if self.orphan_dependents.is_some() {
                return Err(ApiError::invalid(
                    "meta.k8s.io",
                    "DeleteOptions",
                    "",
                    vec![rkube_apimachinery::Cause::invalid(
                        "propagationPolicy",
                        p.clone(),
                        "orphanDependents and deletionPropagation cannot be both set",
                    )],
                ));
            }
        }
        Ok(())
    }
}
