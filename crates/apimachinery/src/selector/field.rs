//! Field selectors (`?fieldSelector=`): parsing, the field labels each kind
//! supports, and matching against an object.
//!
//! A selector is a comma-separated list of `field=value`, `field==value` or
//! `field!=value` terms (values may escape `\`, `,` and `=` with a
//! backslash). Only the labels a kind declares are accepted —
//! [`FieldSelector::for_kind`] rejects others with kube-apiserver's
//! message (`field label not supported: spec.foo` for kinds with their own
//! list, `"spec.foo" is not a known field selector: only "metadata.name",
//! "metadata.namespace"` for the rest). Matching reads the same derived
//! values kube-apiserver's strategies expose (e.g. `spec.hostNetwork` is
//! `"false"` when unset, a Job's `status.successful` is its
//! `status.succeeded`); a missing field reads as `""`.

use std::fmt;

use serde_json::Value;

use crate::status::ApiError;

/// `=`/`==` or `!=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOp {
    /// `field=value` or `field==value`.
    Equals,
    /// `field!=value`.
    NotEquals,
}

/// One term of a field selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldTerm {
    /// The field label (`metadata.name`).
    pub field: String,
    /// The comparison.
    pub op: FieldOp,
    /// The (unescaped) value.
    pub value: String,
}

/// A parsed field selector: all terms must hold; empty matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    terms: Vec<FieldTerm>,
}

impl FieldSelector {
    /// The selector that matches everything.
    pub fn everything() -> Self {
        FieldSelector::default()
    }

    /// A single `field=value` selector.
    pub fn equals(field: &str, value: &str) -> Self {
        FieldSelector {
            terms: vec![FieldTerm {
                field: field.into(),
                op: FieldOp::Equals,
                value: value.into(),
            }],
        }
    }

    /// Parses `?fieldSelector=` like kube-apiserver (terms are kept in the
    /// sorted order it uses); syntax errors are `400 BadRequest`.
    pub fn parse(selector: &str) -> Result<Self, ApiError> {
        let mut parts = split_terms(selector);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts {
            if part.is_empty() {
                continue;
            }
            let Some((field, op, raw)) = split_term(part) else {
                return Err(ApiError::bad_request(format!(
                    "invalid selector: '{selector}'; can't understand '{part}'"
                )));
            };
            let value = unescape_value(raw).map_err(ApiError::bad_request)?;
            terms.push(FieldTerm {
                field: field.into(),
                op,
                value,
            });
        }
        Ok(FieldSelector { terms })
    }

    /// Whether this selects everything.
    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The terms.
    pub fn terms(&self) -> &[FieldTerm] {
        &self.terms
    }

    /// Checks every field label against what `group`/`kind` supports and
    /// applies kube-apiserver's renames (`spec.host` → `spec.nodeName` on
    /// pods). Unsupported labels are `400 BadRequest`.
    pub fn for_kind(mut self, group: &str, kind: &str) -> Result<Self, ApiError> {
        for term in &mut self.terms {
            term.field = convert_field_label(group, kind, &term.field)?;
        }
        Ok(self)
    }

    /// Whether every term holds for the values `lookup` returns (missing
    /// fields should read as `""`).
    pub fn matches_with(&self, lookup: impl Fn(&str) -> String) -> bool {
        self.terms.iter().all(|t| {
            let v = lookup(&t.field);
            match t.op {
                FieldOp::Equals => v == t.value,
                FieldOp::NotEquals => v != t.value,
            }
        })
    }

    /// Whether `object` (of `group`/`kind`) matches, reading its selectable
    /// fields with [`field_value`].
    pub fn matches_object(&self, group: &str, kind: &str, object: &Value) -> bool {
        self.matches_with(|label| field_value(group, kind, object, label))
    }

    /// The value an `=`/`==` term pins `field` to (for `metadata.name`
    /// lookups without a scan).
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.terms
            .iter()
            .find(|t| t.field == field && t.op == FieldOp::Equals)
            .map(|t| t.value.as_str())
    }
}

impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .terms
            .iter()
            .map(|t| {
                let op = if t.op == FieldOp::Equals { "=" } else { "!=" };
                format!("{}{}{}", t.field, op, escape_value(&t.value))
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Splits on commas not preceded by a backslash escape.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut in_slash = false;
    for (i, c) in s.char_indices() {
        if in_slash {
            in_slash = false;
        } else if c == '\\' {
            in_slash = true;
        } else if c == ',' {
            terms.push(&s[start..i]);
            start = i + 1;
        }
    }
    terms.push(&s[start..]);
    terms
}

/// Splits at the first operator occurrence, trying `!=`, `==`, `=` at each
/// position.
fn split_term(term: &str) -> Option<(&str, FieldOp, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        if let Some(v) = rest.strip_prefix("!=") {
            return Some((&term[..i], FieldOp::NotEquals, v));
        }
        if let Some(v) = rest.strip_prefix("==") {
            return Some((&term[..i], FieldOp::Equals, v));
        }
        if let Some(v) = rest.strip_prefix('=') {
            return Some((&term[..i], FieldOp::Equals, v));
        }
    }
    None
}

fn unescape_value(s: &str) -> Result<String, String> {
    if !s.contains(['\\', ',', '=']) {
        return Ok(s.to_string());
    }
    let mut out = String::with_capacity(s.len());
    let mut in_slash = false;
    for c in s.chars() {
        if in_slash {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => {
                    return Err(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    ));
                }
            }
            in_slash = false;
            continue;
        }
        match c {
            '\\' => in_slash = true,
            // Go prints the rune with %v, i.e. as its code point number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            other => out.push(other),
        }
    }
    if in_slash {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(',', "\\,")
        .replace('=', "\\=")
}

const META: &[&str] = &["metadata.name", "metadata.namespace"];
const POD: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const NODE: &[&str] = &["metadata.name", "spec.unschedulable"];
const NAMESPACE: &[&str] = &["status.phase", "metadata.name"];
const SECRET: &[&str] = &["type", "metadata.namespace", "metadata.name"];
const SERVICE: &[&str] = &[
    "metadata.namespace",
    "metadata.name",
    "spec.clusterIP",
    "spec.type",
];
const EVENT: &[&str] = &[
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
    "metadata.namespace",
    "metadata.name",
];
const REPLICAS: &[&str] = &["metadata.name", "metadata.namespace", "status.replicas"];
const JOB: &[&str] = &["metadata.name", "metadata.namespace", "status.successful"];

/// The field labels a kind declares itself, or `None` for kinds that only
/// support the defaults (`metadata.name`, `metadata.namespace`).
pub fn kind_field_labels(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    Some(match (group, kind) {
        ("", "Pod") => POD,
        ("", "Node") => NODE,
        ("", "Namespace") => NAMESPACE,
        ("", "Secret") => SECRET,
        ("", "Service") => SERVICE,
        ("", "Event") | ("events.k8s.io", "Event") => EVENT,
        ("", "ReplicationController") | ("apps", "ReplicaSet") => REPLICAS,
        ("batch", "Job") => JOB,
        _ => return None,
    })
}

/// Every field label `group`/`kind` accepts.
pub fn supported_field_labels(group: &str, kind: &str) -> &'static [&'static str] {
    kind_field_labels(group, kind).unwrap_or(META)
}

/// Validates (and renames) one field label for `group`/`kind`, with
/// kube-apiserver's error message when it is not supported.
pub fn convert_field_label(group: &str, kind: &str, label: &str) -> Result<String, ApiError> {
    match kind_field_labels(group, kind) {
        Some(labels) => {
            if group.is_empty() && kind == "Pod" && label == "spec.host" {
                return Ok("spec.nodeName".into());
            }
            if labels.contains(&label) {
                Ok(label.into())
            } else {
                Err(ApiError::bad_request(format!(
                    "field label not supported: {label}"
                )))
            }
        }
        None => {
            if META.contains(&label) {
                Ok(label.into())
            } else {
                Err(ApiError::bad_request(format!(
                    "\"{label}\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
                )))
            }
        }
    }
}

/// The selectable value of `label` on `object`, as kube-apiserver's
/// strategy for `group`/`kind` computes it; for labels without a special
/// rule, the dotted path read from the JSON (strings as is, numbers and
/// booleans printed, anything missing as `""`).
pub fn field_value(group: &str, kind: &str, object: &Value, label: &str) -> String {
    let path = |p: &str| lookup(object, p);
    match (group, kind, label) {
        ("", "Pod", "spec.hostNetwork") => bool_or_false(path("spec.hostNetwork")),
        ("", "Pod", "status.podIP") => {
            let first = object
                .pointer("/status/podIPs/0/ip")
                .and_then(Value::as_str);
            first
                .map(str::to_string)
                .unwrap_or_else(|| scalar(path("status.podIP")))
        }
        ("", "Node", "spec.unschedulable") => bool_or_false(path("spec.unschedulable")),
        ("", "Event", "source") => {
            let component = scalar(path("source.component"));
            if component.is_empty() {
                scalar(path("reportingComponent"))
            } else {
                component
            }
        }
        ("events.k8s.io", "Event", _) => events_v1_field(object, label),
        ("", "ReplicationController", "status.replicas")
        | ("apps", "ReplicaSet", "status.replicas") => int_or_zero(path("status.replicas")),
        ("batch", "Job", "status.successful") => int_or_zero(path("status.succeeded")),
        _ => scalar(path(label)),
    }
}

/// The core-named labels read from an `events.k8s.io/v1` Event.
fn events_v1_field(object: &Value, label: &str) -> String {
    let path = |p: &str| scalar(lookup(object, p));
    if let Some(rest) = label.strip_prefix("involvedObject.") {
        return path(&format!("regarding.{rest}"));
    }
    match label {
        "reportingComponent" => path("reportingController"),
        "source" => {
            let component = path("deprecatedSource.component");
            if component.is_empty() {
                path("reportingController")
            } else {
                component
            }
        }
        other => path(other),
    }
}

fn lookup<'a>(object: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted.split('.').try_fold(object, |v, key| v.get(key))
}

fn scalar(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn bool_or_false(v: Option<&Value>) -> String {
    v.and_then(Value::as_bool).unwrap_or(false).to_string()
}

fn int_or_zero(v: Option<&Value>) -> String {
    v.and_then(Value::as_i64).unwrap_or(0).to_string()
}
