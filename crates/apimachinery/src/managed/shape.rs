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

/// Where a value sits, for its topology. Descending borrows the field
/// names, so walking an object allocates nothing here.
#[derive(Debug, Clone)]
pub enum Shape<'a> {
    /// A built-in kind: the field this value is (list elements keep their
    /// list's), and whether that field's parent list is a pod's containers.
    Builtin {
        kind: &'a str,
        field: Option<&'a str>,
        in_container: bool,
    },
    /// A custom resource, by its schema (`None`: no schema here).
    Custom(Option<&'a Schema>),
}

impl<'a> Shape<'a> {
    /// The root of a built-in `kind`.
    pub fn builtin(kind: &'a str) -> Shape<'a> {
        Shape::Builtin {
            kind,
            field: None,
            in_container: false,
        }
    }

    /// The shape of field `name` of this object.
    pub fn field<'b>(&self, name: &'b str) -> Shape<'b>
    where
        'a: 'b,
    {
        match self {
            Shape::Builtin { kind, field, .. } => Shape::Builtin {
                kind,
                field: Some(name),
                in_container: matches!(
                    field,
                    Some("containers" | "initContainers" | "ephemeralContainers")
                ),
            },
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
            Shape::Builtin {
                field,
                in_container,
                ..
            } => {
                let Some(field) = field else {
                    return ListKind::Atomic;
                };
                match (
                    *field,
                    crate::strategic::list_strategy(field, *in_container),
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
            Shape::Builtin { kind, field, .. } => match field {
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
