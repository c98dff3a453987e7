//! The fields of every Kubernetes protobuf message, read once from
//! `schema.txt`. Its lines are
//!
//! - `M <module>.<Message>`: a message (module as in the k8s-pb crate,
//!   e.g. `api.core.v1.Pod`, `apimachinery.pkg.apis.meta.v1.ObjectMeta`);
//! - `F <tag> <jsonName> single|repeated|inline <type>`: a field of the message
//!   above; `<type>` is a scalar (`string`, `bytes`, `int32`, `int64`,
//!   `bool`, `double`) or `.<module>.<Message>`;
//! - `F <tag> <jsonName> map <keyType> <valueType>`: a map field.

use std::collections::{HashMap, HashSet};
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

/// Whether field `tag` of `message` keeps its zero value (`""`, `0`,
/// `false`) in JSON: a Go pointer that was set, or a field without
/// `omitempty`. Read once from `zeros.txt` (`scripts/gen-protobuf-zeros.py`
/// writes it from the Go API types). Every other scalar field is a
/// non-pointer `omitempty` one, whose zero Go writes on the wire but leaves
/// out of JSON.
pub fn keeps_zero(message: &str, tag: u32) -> bool {
    static ZEROS: OnceLock<HashSet<(String, u32)>> = OnceLock::new();
    ZEROS
        .get_or_init(|| parse_zeros(include_str!("zeros.txt")))
        .contains(&(message.to_string(), tag))
}

fn parse_zeros(text: &str) -> HashSet<(String, u32)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let message = parts.next()?;
            let tag = parts.next()?.parse().ok()?;
            Some((message.to_string(), tag))
        })
        .collect()
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

    #[test]
    fn zeros_kept_are_pointers_and_fields_without_omitempty() {
        for (message, tag) in [
            ("api.apps.v1.DeploymentSpec", 1),            // *int32 replicas
            ("api.core.v1.PersistentVolumeClaimSpec", 5), // *string storageClassName
            ("api.core.v1.SecurityContext", 7),           // *bool allowPrivilegeEscalation
            ("api.core.v1.ServicePort", 3),               // int32 port, no omitempty
            ("apimachinery.pkg.apis.meta.v1.DeleteOptions", 1), // *int64 gracePeriodSeconds
        ] {
            assert!(keeps_zero(message, tag), "{message} {tag}");
        }
        for (message, tag) in [
            ("api.apps.v1.DeploymentSpec", 5), // int32 minReadySeconds,omitempty
            ("api.apps.v1.DeploymentStatus", 2), // int32 replicas,omitempty
            ("apimachinery.pkg.apis.meta.v1.ObjectMeta", 2), // string generateName,omitempty
            ("api.core.v1.Container", 16),     // bool stdin,omitempty
        ] {
            assert!(!keeps_zero(message, tag), "{message} {tag}");
        }
        // Where schema.txt (k8s-pb) has the field too, it is the same
        // field: the same JSON name. (zeros.txt comes from newer Go types,
        // so it may name fields k8s-pb's protos do not have yet.)
        let m = messages();
        let text = include_str!("zeros.txt");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let parts: Vec<&str> = line.split(' ').collect();
            let [message, tag, json] = parts.as_slice() else {
                panic!("bad line {line:?}");
            };
            if message.contains("alpha") || message.contains("beta") {
                continue; // not served; k8s-openapi has no names for them
            }
            let tag: u32 = tag.parse().expect("a tag");
            if let Some(field) = m.get(*message).and_then(|f| f.get(&tag)) {
                assert_eq!(&field.json, json, "{message} {tag}");
            }
        }
    }
}
