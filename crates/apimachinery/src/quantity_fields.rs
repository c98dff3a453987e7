//! Every Quantity in a built-in object, found through its type and
//! checked as kube-apiserver parses it while it decodes a body.
//!
//! Which fields hold a Quantity comes from the protobuf schema
//! (`protobuf/schema.txt`, generated from the Kubernetes types): a field of
//! type `resource.Quantity`, alone, in a list or as map values, at any
//! depth — containers' (and init and ephemeral containers') requests and
//! limits, pod overhead, LimitRange limits, ResourceQuota hard and used,
//! claims' and volumes' sizes, node capacity and allocatable, emptyDir
//! size limits, and so on for any kind the schema has. Per message, only
//! the fields that lead to a Quantity are walked (computed once), so a
//! kind without one costs a lookup.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde_json::Value;

use crate::protobuf::schema::{self, FieldType};
use crate::quantity::{self, QuantityError};

/// The schema's name of `resource.Quantity`.
const QUANTITY: &str = "apimachinery.pkg.api.resource.Quantity";

/// How a field holds what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    One,
    List,
    /// Map values (keys are strings).
    Map,
    /// A Go struct inlined into the enclosing object.
    Inline,
}

/// A field that holds a Quantity, or a message that (at some depth) does.
#[derive(Debug, Clone)]
struct Step {
    json: String,
    shape: Shape,
    /// `None`: the field holds Quantities; `Some(message)`: messages to walk.
    message: Option<String>,
}

/// The message a field holds, if it holds one.
fn target(f: &schema::Field) -> Option<&str> {
    match &f.ty {
        FieldType::Message(m) => Some(m.as_str()),
        _ => None,
    }
}

/// Per message, its fields that lead to a Quantity (messages that lead to
/// none are absent).
fn steps() -> &'static HashMap<String, Vec<Step>> {
    static STEPS: OnceLock<HashMap<String, Vec<Step>>> = OnceLock::new();
    STEPS.get_or_init(|| {
        let messages = schema::messages();
        // The messages that hold a Quantity at some depth: a fixpoint, as
        // the schema has cycles (JSONSchemaProps).
        let mut leads: HashSet<&str> = HashSet::from([QUANTITY]);
        loop {
            let before = leads.len();
            for (name, fields) in messages {
                if !leads.contains(name.as_str())
                    && fields
                        .values()
                        .filter_map(target)
                        .any(|m| leads.contains(m))
                {
                    leads.insert(name);
                }
            }
            if leads.len() == before {
                break;
            }
        }
        let mut steps = HashMap::new();
        for (name, fields) in messages {
            let mut tags: Vec<(&u32, &schema::Field)> = fields
                .iter()
                .filter(|(_, f)| target(f).is_some_and(|m| leads.contains(m)))
                .collect();
            if tags.is_empty() || name == QUANTITY {
                continue;
            }
            tags.sort_by_key(|(tag, _)| **tag);
            let list = tags
                .into_iter()
                .filter_map(|(_, f)| {
                    let m = target(f)?;
                    Some(Step {
                        json: f.json.clone(),
                        shape: if f.inline {
                            Shape::Inline
                        } else if f.map_key.is_some() {
                            Shape::Map
                        } else if f.repeated {
                            Shape::List
                        } else {
                            Shape::One
                        },
                        message: (m != QUANTITY).then(|| m.to_string()),
                    })
                })
                .collect();
            steps.insert(name.clone(), list);
        }
        steps
    })
}

/// Checks every Quantity of `obj`, an object of `api_version`/`kind` as
/// JSON; the first that does not parse is the error. Kinds the schema
/// does not know pass.
pub fn check(api_version: &str, kind: &str, obj: &Value) -> Result<(), QuantityError> {
    walk(&crate::protobuf::message_for(api_version, kind), obj)
}

fn walk(message: &str, v: &Value) -> Result<(), QuantityError> {
    let (Some(steps), Value::Object(map)) = (steps().get(message), v) else {
        return Ok(());
    };
    for step in steps {
        if step.shape == Shape::Inline {
            if let Some(m) = &step.message {
                walk(m, v)?;
            }
            continue;
        }
        let Some(field) = map.get(&step.json) else {
            continue;
        };
        match (step.shape, field) {
            (Shape::List, Value::Array(items)) => {
                for item in items {
                    one(step, item)?;
                }
            }
            (Shape::Map, Value::Object(values)) => {
                for item in values.values() {
                    one(step, item)?;
                }
            }
            (Shape::One, _) => one(step, field)?,
            _ => {}
        }
    }
    Ok(())
}

/// One value of a step: a Quantity to check, or a message to walk.
fn one(step: &Step, v: &Value) -> Result<(), QuantityError> {
    match (&step.message, v) {
        (Some(m), _) => walk(m, v),
        // As Quantity's UnmarshalJSON: a string's text without the
        // surrounding white space, or a number's text.
        (None, Value::String(s)) => quantity::check(s.trim()),
        (None, Value::Number(n)) => quantity::check(&n.to_string()),
        (None, _) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(resources: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
               "spec": {"containers": [{"name": "c", "image": "i", "resources": resources}]}})
    }

    #[test]
    fn container_requests_and_limits() {
        assert_eq!(
            check(
                "v1",
                "Pod",
                &pod(json!({"requests": {"cpu": "100m", "memory": "1Gi"}}))
            ),
            Ok(())
        );
        assert_eq!(
            check("v1", "Pod", &pod(json!({"requests": {"cpu": "lots"}}))),
            Err(QuantityError::Format)
        );
        assert_eq!(
            check("v1", "Pod", &pod(json!({"limits": {"memory": "1kk"}}))),
            Err(QuantityError::Suffix)
        );
        // Numbers and padded strings read as Quantity reads JSON.
        assert_eq!(
            check(
                "v1",
                "Pod",
                &pod(json!({"limits": {"cpu": 2, "memory": " 1Gi "}}))
            ),
            Ok(())
        );
    }

    #[test]
    fn every_place_a_quantity_lives() {
        let bad = json!("lots");
        let cases: Vec<(&str, &str, Value)> = vec![
            (
                "v1",
                "Pod",
                json!({"spec": {"initContainers": [{"name": "i", "resources": {"limits": {"cpu": bad}}}]}}),
            ),
            (
                "v1",
                "Pod",
                json!({"spec": {"ephemeralContainers": [{"name": "e", "resources": {"requests": {"cpu": bad}}}]}}),
            ),
            ("v1", "Pod", json!({"spec": {"overhead": {"cpu": bad}}})),
            (
                "v1",
                "Pod",
                json!({"spec": {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": bad}}]}}),
            ),
            (
                "v1",
                "Pod",
                json!({"spec": {"containers": [{"name": "c", "resizePolicy": [], "resources": {"limits": {"memory": bad}}}]}}),
            ),
            (
                "v1",
                "LimitRange",
                json!({"spec": {"limits": [{"type": "Container", "maxLimitRequestRatio": {"cpu": bad}}]}}),
            ),
            (
                "v1",
                "LimitRange",
                json!({"spec": {"limits": [{"type": "Container", "defaultRequest": {"cpu": bad}}]}}),
            ),
            (
                "v1",
                "ResourceQuota",
                json!({"spec": {"hard": {"pods": bad}}}),
            ),
            (
                "v1",
                "ResourceQuota",
                json!({"status": {"used": {"pods": bad}}}),
            ),
            (
                "v1",
                "PersistentVolumeClaim",
                json!({"spec": {"resources": {"requests": {"storage": bad}}}}),
            ),
            (
                "v1",
                "PersistentVolumeClaim",
                json!({"status": {"capacity": {"storage": bad}}}),
            ),
            (
                "v1",
                "PersistentVolume",
                json!({"spec": {"capacity": {"storage": bad}}}),
            ),
            (
                "v1",
                "Node",
                json!({"status": {"allocatable": {"cpu": bad}}}),
            ),
            ("v1", "Node", json!({"status": {"capacity": {"cpu": bad}}})),
            (
                "apps/v1",
                "Deployment",
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": bad}}}]}}}}),
            ),
            (
                "apps/v1",
                "StatefulSet",
                json!({"spec": {"volumeClaimTemplates": [{"spec": {"resources": {"requests": {"storage": bad}}}}]}}),
            ),
            (
                "batch/v1",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"overhead": {"memory": bad}}}}}}}),
            ),
            (
                "node.k8s.io/v1",
                "RuntimeClass",
                json!({"overhead": {"podFixed": {"cpu": bad}}}),
            ),
            (
                "storage.k8s.io/v1",
                "CSIStorageCapacity",
                json!({"capacity": bad}),
            ),
        ];
        for (api_version, kind, obj) in cases {
            assert_eq!(
                check(api_version, kind, &obj),
                Err(QuantityError::Format),
                "{kind} {obj}"
            );
        }
    }

    #[test]
    fn kinds_without_quantities_and_unknown_kinds_pass() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"cpu": "lots"}});
        assert_eq!(check("v1", "ConfigMap", &cm), Ok(()));
        assert_eq!(
            check("example.com/v1", "Widget", &json!({"cpu": "lots"})),
            Ok(())
        );
        // Wrong shapes are the type's business, not this walk's.
        assert_eq!(
            check("v1", "Pod", &json!({"spec": {"containers": "x"}})),
            Ok(())
        );
    }
}
