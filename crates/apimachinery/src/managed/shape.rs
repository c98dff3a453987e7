//! What server-side apply needs to know about a field's topology: whether a
//! list is atomic, a set, or a map keyed by some fields, and whether an
//! object is atomic (one value) or granular (field by field).
//!
//! Built-in kinds use Kubernetes' markers as `strategic.rs` knows them,
//! with SSA's differences (ports keyed with their protocol, label selectors
//! and node selectors atomic; see `shared/reference/patch-metadata.md` §1.11);
//! custom resources use their CRD schema (lists atomic unless marked).

use crate::crd::schema::Schema;

/// How a list merges and is owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListKind {
    /// One value.
    Atomic,
    /// Scalars, each owned on its own.
    Set,
    /// Objects identified by these key fields.
    Map(Vec<String>),
}

/// Where a value sits, for its topology.
#[derive(Debug, Clone)]
pub enum Shape<'a> {
    /// A built-in kind; `fields` are the field names from the root (list
    /// elements add nothing).
    Builtin { kind: &'a str, fields: Vec<String> },
    /// A custom resource, by its schema (`None`: no schema here).
    Custom(Option<&'a Schema>),
}

impl<'a> Shape<'a> {
    /// The shape of field `name` of this object.
    pub fn field(&self, name: &str) -> Shape<'a> {
        match self {
            Shape::Builtin { kind, fields } => {
                let mut fields = fields.clone();
                fields.push(name.to_string());
                Shape::Builtin { kind, fields }
            }
            Shape::Custom(s) => Shape::Custom(s.and_then(|s| s.property(name))),
        }
    }

    /// The shape of this list's elements.
    pub fn element(&self) -> Shape<'a> {
        match self {
            Shape::Builtin { .. } => self.clone(),
            Shape::Custom(s) => Shape::Custom(s.and_then(|s| s.items.as_deref())),
        }
    }

    /// This value, a list: how it merges.
    pub fn list(&self) -> ListKind {
        match self {
            Shape::Builtin { fields, .. } => {
                let Some(field) = fields.last() else {
                    return ListKind::Atomic;
                };
                let parent = fields.len().checked_sub(2).and_then(|i| fields.get(i));
                let in_container = parent.is_some_and(|p| {
                    matches!(
                        p.as_str(),
                        "containers" | "initContainers" | "ephemeralContainers"
                    )
                });
                match (
                    field.as_str(),
                    crate::strategic::list_strategy(field, in_container),
                ) {
                    ("ports", Some(Some(key))) => {
                        ListKind::Map(vec![key.to_string(), "protocol".to_string()])
                    }
                    ("topologySpreadConstraints", _) => ListKind::Map(vec![
                        "topologyKey".to_string(),
                        "whenUnsatisfiable".to_string(),
                    ]),
                    (_, Some(Some(key))) => ListKind::Map(vec![key.to_string()]),
                    (_, Some(None)) => ListKind::Set,
                    (_, None) => ListKind::Atomic,
                }
            }
            Shape::Custom(Some(s)) => match s.list_type.as_deref() {
                Some("set") => ListKind::Set,
                Some("map") => ListKind::Map(s.list_map_keys.clone()),
                _ => ListKind::Atomic,
            },
            Shape::Custom(None) => ListKind::Atomic,
        }
    }

    /// This value, an object: whether it is one value rather than fields.
    pub fn atomic_object(&self) -> bool {
        match self {
            Shape::Builtin { kind, fields } => match fields.last().map(String::as_str) {
                Some("nodeSelector") => true,
                Some("selector") => *kind != "PodDisruptionBudget",
                _ => false,
            },
            Shape::Custom(s) => s.is_some_and(|s| s.map_atomic),
        }
    }

    /// The default of key field `key` of this list's elements, if any
    /// (`protocol` defaults to `TCP` on built-in ports).
    pub fn key_default(&self, key: &str) -> Option<serde_json::Value> {
        match self {
            Shape::Builtin { .. } => (key == "protocol").then(|| serde_json::json!("TCP")),
            Shape::Custom(s) => s
                .and_then(|s| s.items.as_deref())
                .and_then(|i| i.properties.get(key))
                .and_then(|p| p.default.clone()),
        }
    }
}
