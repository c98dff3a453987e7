//! The fields of every Kubernetes protobuf message, read once from
//! `schema.txt`. Its lines are
//!
//! - `M <module>.<Message>`: a message (module as in the k8s-pb crate,
//!   e.g. `api.core.v1.Pod`, `apimachinery.pkg.apis.meta.v1.ObjectMeta`);
//! - `F <tag> <jsonName> single|repeated|inline <type>`: a field of the message
//!   above; `<type>` is a scalar (`string`, `bytes`, `int32`, `int64`,
//!   `bool`, `double`) or `.<module>.<Message>`;
//! - `F <tag> <jsonName> map <keyType> <valueType>`: a map field.

use std::collections::HashMap;
use std::sync::OnceLock;

/// What a field holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldType {
    String,
    Bytes,
    Int32,
    Int64,
    Bool,
    Double,
    Message(String),
}

/// One field of a message.
#[derive(Debug, Clone)]
pub struct Field {
    pub json: String,
    pub repeated: bool,
    /// A Go struct embedded with `json:",inline"`: its fields belong to
    /// the enclosing object.
    pub inline: bool,
    /// For maps: the key type; the value type is `ty`.
    pub map_key: Option<FieldType>,
    pub ty: FieldType,
}

/// Fields by tag, per message.
pub type Messages = HashMap<String, HashMap<u32, Field>>;

fn parse_type(t: &str) -> Option<FieldType> {
    Some(match t {
        "string" => FieldType::String,
        "bytes" => FieldType::Bytes,
        "int32" => FieldType::Int32,
        "int64" => FieldType::Int64,
        "bool" => FieldType::Bool,
        "double" => FieldType::Double,
        m => FieldType::Message(m.strip_prefix('.')?.to_string()),
    })
}

fn parse(text: &str) -> Messages {
    let mut messages = Messages::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let parts: Vec<&str> = line.split(' ').collect();
        match parts.as_slice() {
            ["M", name] => {
                messages.entry(name.to_string()).or_default();
                current = Some(name.to_string());
            }
            ["F", tag, json, rest @ ..] => {
                let (Some(msg), Ok(tag)) = (&current, tag.parse::<u32>()) else {
                    continue;
                };
                let field = match rest {
                    ["map", key, value] => parse_type(value).map(|ty| Field {
                        json: json.to_string(),
                        repeated: false,
                        inline: false,
                        map_key: parse_type(key),
                        ty,
                    }),
                    [label, ty] => parse_type(ty).map(|ty| Field {
                        json: json.to_string(),
                        repeated: *label == "repeated",
                        inline: *label == "inline",
                        map_key: None,
                        ty,
                    }),
                    _ => None,
                };
                if let Some(f) = field {
                    messages.entry(msg.clone()).or_default().insert(tag, f);
                }
            }
            _ => {}
        }
    }
    messages
}

/// Every message (parsed on first use).
pub fn messages() -> &'static Messages {
    static MESSAGES: OnceLock<Messages> = OnceLock::new();
    MESSAGES.get_or_init(|| parse(include_str!("schema.txt")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_the_built_in_kinds() {
        let m = messages();
        for kind in [
            "api.core.v1.Pod",
            "api.core.v1.ConfigMap",
            "api.apps.v1.Deployment",
            "api.batch.v1.Job",
            "api.rbac.v1.Role",
            "apimachinery.pkg.apis.meta.v1.DeleteOptions",
            "apimachinery.pkg.runtime.Unknown",
        ] {
            assert!(m.contains_key(kind), "{kind}");
        }
        let status = &m["api.core.v1.PodStatus"];
        assert!(
            status.values().any(|f| f.json == "podIP"),
            "exact JSON names"
        );
        let cm = &m["api.core.v1.ConfigMap"];
        assert_eq!(cm[&3].map_key, Some(FieldType::String));
        assert_eq!(cm[&3].ty, FieldType::Bytes);
    }
}
