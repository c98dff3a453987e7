//! Field-level validation errors ([`Cause`]), the Rust side of
//! apimachinery's `field.Error`.
//!
//! A `Cause` is what a validation rule returns; [`crate::ApiError::invalid`]
//! turns a list of them into the `422 Invalid` [`crate::Status`] whose
//! `details.causes` carry one entry per cause and whose message joins them
//! the way kube-apiserver does (`Pod "x" is invalid: [a, b]`).
//!
//! The message of a cause is rendered when it is built, exactly like
//! `field.Error.ErrorBody()`: the type's phrase (`Required value`,
//! `Invalid value`, ...), then the offending value for the types that show it
//! (strings Go-quoted, numbers and booleans bare, anything else as compact
//! JSON), then `: <detail>` when there is a detail.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The machine-readable type of a [`Cause`]; serialized as the cause's
/// `reason` in a `Status` (`FieldValueRequired`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CauseType {
    /// A referenced value does not exist (`FieldValueNotFound`).
    #[serde(rename = "FieldValueNotFound")]
    NotFound,
    /// A required value is missing (`FieldValueRequired`).
    #[serde(rename = "FieldValueRequired")]
    Required,
    /// A value that must be unique is repeated (`FieldValueDuplicate`).
    #[serde(rename = "FieldValueDuplicate")]
    Duplicate,
    /// A malformed value (`FieldValueInvalid`).
    #[serde(rename = "FieldValueInvalid")]
    Invalid,
    /// A value outside an enumeration (`FieldValueNotSupported`).
    #[serde(rename = "FieldValueNotSupported")]
    NotSupported,
    /// A well-formed value that is not allowed here (`FieldValueForbidden`).
    #[serde(rename = "FieldValueForbidden")]
    Forbidden,
    /// A value longer than allowed; the value is not echoed (`FieldValueTooLong`).
    #[serde(rename = "FieldValueTooLong")]
    TooLong,
    /// A list with too many items (`FieldValueTooMany`).
    #[serde(rename = "FieldValueTooMany")]
    TooMany,
    /// A list with too few items (`FieldValueTooFew`).
    #[serde(rename = "FieldValueTooFew")]
    TooFew,
    /// A value shorter than allowed (`FieldValueTooShort`).
    #[serde(rename = "FieldValueTooShort")]
    TooShort,
    /// A value of the wrong JSON type (`FieldValueTypeInvalid`).
    #[serde(rename = "FieldValueTypeInvalid")]
    TypeInvalid,
    /// A server-side failure while validating (`InternalError`).
    #[serde(rename = "InternalError")]
    Internal,
}

impl CauseType {
    /// The wire name (`FieldValueRequired`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            CauseType::NotFound => "FieldValueNotFound",
            CauseType::Required => "FieldValueRequired",
            CauseType::Duplicate => "FieldValueDuplicate",
            CauseType::Invalid => "FieldValueInvalid",
            CauseType::NotSupported => "FieldValueNotSupported",
            CauseType::Forbidden => "FieldValueForbidden",
            CauseType::TooLong => "FieldValueTooLong",
            CauseType::TooMany => "FieldValueTooMany",
            CauseType::TooFew => "FieldValueTooFew",
            CauseType::TooShort => "FieldValueTooShort",
            CauseType::TypeInvalid => "FieldValueTypeInvalid",
            CauseType::Internal => "InternalError",
        }
    }

    /// The human phrase kube-apiserver prints for this type (`Required value`).
    pub fn phrase(self) -> &'static str {
        match self {
            CauseType::NotFound => "Not found",
            CauseType::Required => "Required value",
            CauseType::Duplicate => "Duplicate value",
            CauseType::Invalid | CauseType::TypeInvalid => "Invalid value",
            CauseType::NotSupported => "Unsupported value",
            CauseType::Forbidden => "Forbidden",
            CauseType::TooLong => "Too long",
            CauseType::TooMany => "Too many",
            CauseType::TooFew => "Too few",
            CauseType::TooShort => "Too short",
            CauseType::Internal => "Internal error",
        }
    }
}

impl fmt::Display for CauseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One field-level validation failure.
///
/// `Display` gives `<field>: <message>`, the form kube-apiserver joins into
/// an `Invalid` status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// What kind of failure.
    pub kind: CauseType,
    /// The JSON path of the field (`metadata.name`, `spec.containers[0].image`).
    pub field: String,
    /// The rendered body without the field (`Required value: name or generateName is required`).
    pub message: String,
}

impl Cause {
    /// Builds a cause from its parts, rendering the body like `ErrorBody()`.
    /// `value` is only shown for the types that echo values.
    pub fn new(
        kind: CauseType,
        field: impl Into<String>,
        value: Option<&Value>,
        detail: &str,
    ) -> Self {
        let mut message = String::from(kind.phrase());
        let echoes = matches!(
            kind,
            CauseType::Invalid
                | CauseType::TypeInvalid
                | CauseType::NotSupported
                | CauseType::NotFound
                | CauseType::Duplicate
                | CauseType::TooMany
                | CauseType::TooFew
        );
        if echoes {
            if let Some(v) = value {
                message.push_str(": ");
                message.push_str(&render_value(v));
            }
        }
        if !detail.is_empty() {
            message.push_str(": ");
            message.push_str(detail);
        }
        Cause {
            kind,
            field: field.into(),
            message,
        }
    }

    /// `Required value[: detail]`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        Cause::new(CauseType::Required, field, None, detail)
    }

    /// `Invalid value: <value>[: detail]`.
    pub fn invalid(field: impl Into<String>, value: impl Into<Value>, detail: &str) -> Self {
        Cause::new(CauseType::Invalid, field, Some(&value.into()), detail)
    }

    /// `Unsupported value: <value>: supported values: "a", "b"`.
    pub fn not_supported(
        field: impl Into<String>,
        value: impl Into<Value>,
        supported: &[&str],
    ) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| go_quote(s)).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Cause::new(CauseType::NotSupported, field, Some(&value.into()), &detail)
    }

    /// `Duplicate value: <value>`.
    pub fn duplicate(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cause::new(CauseType::Duplicate, field, Some(&value.into()), "")
    }

    /// `Not found: <value>`.
    pub fn not_found(field: impl Into<String>, value: impl Into<Value>) -> Self {
        Cause::new(CauseType::NotFound, field, Some(&value.into()), "")
    }

    /// `Forbidden[: detail]`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Cause::new(CauseType::Forbidden, field, None, detail)
    }

    /// `Too long: may not be more than <max> bytes` (the value is never echoed).
    pub fn too_long(field: impl Into<String>, max_bytes: usize) -> Self {
        let unit = if max_bytes == 1 { "byte" } else { "bytes" };
        Cause::new(
            CauseType::TooLong,
            field,
            None,
            &format!("may not be more than {max_bytes} {unit}"),
        )
    }

    /// `Too many: <actual>: must have at most <max> items`.
    pub fn too_many(field: impl Into<String>, actual: usize, max: usize) -> Self {
        let unit = if max == 1 { "item" } else { "items" };
        Cause::new(
            CauseType::TooMany,
            field,
            Some(&Value::from(actual)),
            &format!("must have at most {max} {unit}"),
        )
    }

    /// `Internal error: <detail>`.
    pub fn internal(field: impl Into<String>, detail: &str) -> Self {
        Cause::new(CauseType::Internal, field, None, detail)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Joins causes the way apimachinery's error aggregate prints them: one
/// message alone, several as `[a, b]`, duplicates (same text) once.
/// Returns `None` for an empty list.
pub fn aggregate_message(causes: &[Cause]) -> Option<String> {
    let mut seen: Vec<String> = Vec::new();
    for c in causes {
        let msg = c.to_string();
        if !seen.contains(&msg) {
            seen.push(msg);
        }
    }
    match seen.len() {
        0 => None,
        1 => seen.pop(),
        _ => Some(format!("[{}]", seen.join(", "))),
    }
}

/// Renders a bad value the way `ErrorBody()` does: strings with Go's `%q`,
/// numbers and booleans bare, lists of strings and string maps as Go's
/// `%#v` prints them (`[]string{"a", "b"}`, `map[string]string{"k":"v"}`),
/// anything else as compact JSON.
pub fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let quoted: Vec<String> = items
                .iter()
                .filter_map(Value::as_str)
                .map(go_quote)
                .collect();
            format!("[]string{{{}}}", quoted.join(", "))
        }
        Value::Object(map) if map.values().all(Value::is_string) => {
            let pairs: Vec<String> = map
                .iter()
                .filter_map(|(k, v)| Some(format!("{}:{}", go_quote(k), go_quote(v.as_str()?))))
                .collect();
            format!("map[string]string{{{}}}", pairs.join(", "))
        }
        other => other.to_string(),
    }
}

/// Quotes a string like Go's `strconv.Quote` (`%q`): double quotes,
/// backslash escapes for quotes, backslashes and control characters;
/// printable Unicode is kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{07}' => out.push_str("\\a"),
            '\u{08}' => out.push_str("\\b"),
            '\u{0c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{0b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                let n = c as u32;
                if n < 0x10000 {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_match_kube_apiserver() {
        let cases: Vec<(Cause, &str)> = vec![
            (Cause::required("spec.containers[0].name", ""), "spec.containers[0].name: Required value"),
            (
                Cause::required("metadata.name", "name or generateName is required"),
                "metadata.name: Required value: name or generateName is required",
            ),
            (
                Cause::invalid("metadata.name", "Foo", "must be lowercase"),
                "metadata.name: Invalid value: \"Foo\": must be lowercase",
            ),
            (Cause::invalid("spec.replicas", -1, "must be greater than or equal to 0"), "spec.replicas: Invalid value: -1: must be greater than or equal to 0"),
            (Cause::invalid("spec.paused", true, ""), "spec.paused: Invalid value: true"),
            (
                Cause::invalid("spec.x", serde_json::json!(["a", "b"]), "bad"),
                "spec.x: Invalid value: []string{\"a\", \"b\"}: bad",
            ),
            (
                Cause::not_supported("spec.restartPolicy", "Sometimes", &["Always", "OnFailure", "Never"]),
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ),
            (Cause::duplicate("spec.ports[1].name", "http"), "spec.ports[1].name: Duplicate value: \"http\""),
            (Cause::forbidden("metadata.namespace", "not allowed on this type"), "metadata.namespace: Forbidden: not allowed on this type"),
            (Cause::too_long("metadata.annotations", 262144), "metadata.annotations: Too long: may not be more than 262144 bytes"),
            (Cause::too_many("spec.x", 5, 1), "spec.x: Too many: 5: must have at most 1 item"),
            (Cause::internal("metadata.name", "boom"), "metadata.name: Internal error: boom"),
            (Cause::not_found("spec.volumes[0]", "v"), "spec.volumes[0]: Not found: \"v\""),
        ];
        for (cause, want) in cases {
            assert_eq!(cause.to_string(), want);
        }
    }

    #[test]
    fn aggregate_joins_and_dedups() {
        let a = Cause::required("a", "");
        let b = Cause::required("b", "");
        assert_eq!(aggregate_message(&[]), None);
        assert_eq!(
            aggregate_message(std::slice::from_ref(&a)).as_deref(),
            Some("a: Required value")
        );
        assert_eq!(
            aggregate_message(&[a.clone(), b.clone()]).as_deref(),
            Some("[a: Required value, b: Required value]")
        );
        assert_eq!(
            aggregate_message(&[a.clone(), a.clone()]).as_deref(),
            Some("a: Required value")
        );
        assert_eq!(
            aggregate_message(&[a.clone(), b, a]).as_deref(),
            Some("[a: Required value, b: Required value]")
        );
    }

    #[test]
    fn go_quote_escapes() {
        let cases = [
            ("plain", "\"plain\""),
            ("a\"b", "\"a\\\"b\""),
            ("back\\slash", "\"back\\\\slash\""),
            ("tab\tnl\n", "\"tab\\tnl\\n\""),
            ("\u{1}", "\"\\x01\""),
            ("héllo", "\"héllo\""),
            ("\u{85}", "\"\\u0085\""),
        ];
        for (input, want) in cases {
            assert_eq!(go_quote(input), want, "input {input:?}");
        }
    }

    #[test]
    fn cause_type_wire_names() {
        assert_eq!(
            serde_json::to_value(CauseType::Required).ok(),
            Some(Value::from("FieldValueRequired"))
        );
        assert_eq!(CauseType::Internal.as_str(), "InternalError");
        assert_eq!(CauseType::TooLong.phrase(), "Too long");
    }
}
