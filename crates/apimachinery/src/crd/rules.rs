//! `x-kubernetes-validations`: the CEL rules of a structural schema, compiled
//! when the CRD is read and evaluated against each write of its objects,
//! with kube-apiserver's field errors.
//!
//! What a rule sees: `self`, the value at its schema node (typed by the
//! schema: `integer` as int, `number` as double, objects as maps), and on
//! an update `oldSelf`, the value at the same place in the stored object —
//! a rule that names `oldSelf` is a transition rule and is only evaluated
//! when there is an old value (with `optionalOldSelf: true` it always runs,
//! `oldSelf` being an optional). List items are matched to their old
//! versions by their map keys (`x-kubernetes-list-type: map`) or by value
//! (`set`); items of atomic lists have no old value.
//!
//! The CEL environment is the standard library with the `strings` and
//! `lists` extensions (the `cel` crate). Not modelled: Kubernetes' own
//! libraries (`quantity()`, `url()`, `isSorted()`, `format`…), cost limits,
//! and validation ratcheting of unchanged fields.

use std::collections::HashMap;
use std::sync::Arc;

use cel::objects::OptionalValue;
use cel::{Context, Value as Cel};
use serde_json::Value;

use crate::cause::{Cause, CauseType};

use super::rule::{env, Rule};
use super::schema::Schema;

/// Evaluates every rule of `schema` and its descendants against `new`
/// (with `old`, the stored object, on an update). `new` is the whole
/// custom resource.
pub fn validate_root(schema: &Schema, new: &Value, old: Option<&Value>) -> Vec<Cause> {
    let mut causes = Vec::new();
    if schema.has_rules() {
        walk(schema, new, old, "", &mut causes);
    }
    causes
}

fn walk(schema: &Schema, new: &Value, old: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    if new.is_null() {
        return;
    }
    if !schema.validations.is_empty() {
        evaluate(schema, new, old, path, causes);
    }
    match new {
        Value::Object(map) => {
            let old_map = old.and_then(Value::as_object);
            for (k, child) in map {
                let Some(s) = schema.property(k) else {
                    continue;
                };
                if s.has_rules() {
                    let old_child = old_map.and_then(|m| m.get(k));
                    walk(s, child, old_child, &join(path, k), causes);
                }
            }
        }
        Value::Array(items) => {
            let Some(s) = schema.items.as_deref().filter(|s| s.has_rules()) else {
                return;
            };
            let old_items = old.and_then(Value::as_array);
            for (i, item) in items.iter().enumerate() {
                let old_item = old_items.and_then(|o| correlate(schema, item, o));
                walk(s, item, old_item, &format!("{path}[{i}]"), causes);
            }
        }
        _ => {}
    }
}

/// The old version of list item `item`: by map keys or by value.
fn correlate<'a>(schema: &Schema, item: &Value, old: &'a [Value]) -> Option<&'a Value> {
    match schema.list_type.as_deref() {
        Some("map") => old
            .iter()
            .find(|o| schema.list_map_keys.iter().all(|k| o.get(k) == item.get(k))),
        Some("set") => old.iter().find(|o| *o == item),
        _ => None,
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn evaluate(
    schema: &Schema,
    new: &Value,
    old: Option<&Value>,
    path: &str,
    causes: &mut Vec<Cause>,
) {
    let type_name = schema.type_.as_deref().unwrap_or("object");
    let this = to_cel(schema, new);
    let before = old.map(|o| to_cel(schema, o));
    for rule in &schema.validations {
        if rule.transition && before.is_none() && !rule.optional_old_self {
            continue;
        }
        let mut ctx = Context::with_env(env().clone());
        ctx.add_variable_from_value("self", this.clone());
        if rule.transition {
            let old_value = match (&before, rule.optional_old_self) {
                (Some(b), false) => b.clone(),
                (Some(b), true) => Cel::Opaque(Arc::new(OptionalValue::of(b.clone()))),
                (None, _) => Cel::Opaque(Arc::new(OptionalValue::none())),
            };
            ctx.add_variable_from_value("oldSelf", old_value);
        }
        let field = match &rule.field_path {
            Some(f) => join(path, f),
            None if path.is_empty() => "<nil>".to_string(),
            None => path.to_string(),
        };
        match rule.program.execute(&ctx) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => {
                let detail = message(rule, &ctx);
                causes.push(match rule.reason {
                    Some(CauseType::Forbidden) => Cause::forbidden(field, &detail),
                    Some(CauseType::Required) => Cause::required(field, &detail),
                    Some(CauseType::Duplicate) => Cause::duplicate(field, type_name),
                    _ => Cause::invalid(field, type_name, &detail),
                });
            }
            Ok(other) => causes.push(Cause::invalid(
                field,
                type_name,
                &format!(
                    "rule evaluated to {:?}, not a bool: {}",
                    other.type_of(),
                    failed(rule)
                ),
            )),
            Err(e) => causes.push(Cause::invalid(
                field,
                type_name,
                &format!("{e} evaluating rule: {}", failed(rule)),
            )),
        }
    }
}

/// What a failed rule says: its `messageExpression` when that yields a
/// non-empty string, else its `message`, else `failed rule: <rule>`.
fn message(rule: &Rule, ctx: &Context) -> String {
    if let Some(expr) = &rule.message_expression {
        if let Ok(Cel::String(s)) = expr.execute(ctx) {
            if !s.trim().is_empty() {
                return s.trim().to_string();
            }
        }
    }
    failed(rule)
}

fn failed(rule: &Rule) -> String {
    match &rule.message {
        Some(m) => m.trim().to_string(),
        None => format!("failed rule: {}", rule.rule.trim()),
    }
}

/// A JSON value as CEL sees it, typed by its schema.
fn to_cel(schema: &Schema, v: &Value) -> Cel {
    match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::String(s) => Cel::String(Arc::new(s.clone())),
        Value::Number(n) => match (schema.type_.as_deref(), n.as_i64()) {
            (Some("number"), _) | (_, None) => Cel::Float(n.as_f64().unwrap_or(f64::NAN)),
            (_, Some(i)) => Cel::Int(i),
        },
        Value::Array(items) => {
            let default = Schema::default();
            let s = schema.items.as_deref().unwrap_or(&default);
            Cel::List(Arc::new(items.iter().map(|i| to_cel(s, i)).collect()))
        }
        Value::Object(map) => {
            let default = Schema::default();
            let mut out: HashMap<String, Cel> = HashMap::with_capacity(map.len());
            for (k, child) in map {
                let s = schema.property(k).unwrap_or(&default);
                out.insert(k.clone(), to_cel(s, child));
            }
            Cel::from(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crd::schema;

    fn schema(v: Value) -> Schema {
        match schema::parse(&v, "openAPIV3Schema") {
            Ok(s) => s,
            Err(causes) => panic!("schema refused: {causes:?}"),
        }
    }

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(Cause::to_string).collect()
    }

    fn replicas_schema() -> Schema {
        schema(json!({
            "type": "object",
            "properties": {"spec": {
                "type": "object",
                "x-kubernetes-validations": [
                    {"rule": "self.minReplicas <= self.replicas", "message": "replicas must be at least minReplicas"},
                    {"rule": "self.replicas <= self.maxReplicas", "messageExpression": "'replicas ' + string(self.replicas) + ' above ' + string(self.maxReplicas)"},
                    {"rule": "!has(self.image) || self.image.startsWith('registry.local/')", "fieldPath": ".image", "reason": "FieldValueForbidden"},
                    {"rule": "self.mode == oldSelf.mode", "message": "mode is immutable"}
                ],
                "properties": {
                    "replicas": {"type": "integer"},
                    "minReplicas": {"type": "integer"},
                    "maxReplicas": {"type": "integer"},
                    "image": {"type": "string"},
                    "mode": {"type": "string"},
                    "ports": {
                        "type": "array",
                        "x-kubernetes-list-type": "map",
                        "x-kubernetes-list-map-keys": ["name"],
                        "items": {
                            "type": "object",
                            "x-kubernetes-validations": [{"rule": "self.port > 0 && self.port < 65536"}, {"rule": "self.port == oldSelf.port", "message": "port of a named entry is fixed"}],
                            "properties": {"name": {"type": "string"}, "port": {"type": "integer"}}
                        }
                    }
                }
            }},
            "x-kubernetes-validations": [{"rule": "self.metadata.name.size() <= 10", "message": "name too long"}]
        }))
    }

    fn obj(spec: Value) -> Value {
        json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "a"}, "spec": spec})
    }

    #[test]
    fn rules_pass_and_fail_with_kube_apiserver_messages() {
        let s = replicas_schema();
        let ok = obj(json!({"replicas": 2, "minReplicas": 1, "maxReplicas": 3, "mode": "a"}));
        assert_eq!(
            messages(&validate_root(&s, &ok, None)),
            Vec::<String>::new()
        );
        let bad =
            obj(json!({"replicas": 5, "minReplicas": 6, "maxReplicas": 3, "image": "docker.io/x"}));
        assert_eq!(
            messages(&validate_root(&s, &bad, None)),
            vec![
                "spec: Invalid value: \"object\": replicas must be at least minReplicas",
                "spec: Invalid value: \"object\": replicas 5 above 3",
                "spec.image: Forbidden: failed rule: !has(self.image) || self.image.startsWith('registry.local/')",
            ]
        );
        let mut long = ok.clone();
        long["metadata"]["name"] = json!("much-too-long-a-name");
        assert_eq!(
            messages(&validate_root(&s, &long, None)),
            vec!["<nil>: Invalid value: \"object\": name too long"]
        );
    }

    #[test]
    fn transition_rules_run_only_on_updates_and_match_list_items_by_key() {
        let s = replicas_schema();
        let old = obj(
            json!({"replicas": 1, "minReplicas": 1, "maxReplicas": 3, "mode": "a",
            "ports": [{"name": "http", "port": 80}]}),
        );
        // A create has no oldSelf: the transition rules do not run.
        assert!(validate_root(&s, &old, None).is_empty());
        let new = obj(
            json!({"replicas": 1, "minReplicas": 1, "maxReplicas": 3, "mode": "b",
            "ports": [{"name": "https", "port": 443}, {"name": "http", "port": 8080}]}),
        );
        assert_eq!(
            messages(&validate_root(&s, &new, Some(&old))),
            vec![
                "spec: Invalid value: \"object\": mode is immutable",
                "spec.ports[1]: Invalid value: \"object\": port of a named entry is fixed",
            ]
        );
    }

    #[test]
    fn evaluation_errors_name_the_rule() {
        let s = schema(json!({"type": "object", "properties": {"spec": {
            "type": "object",
            "x-kubernetes-validations": [{"rule": "self.missing > 1"}],
            "properties": {"a": {"type": "integer"}}}}}));
        let causes = validate_root(&s, &obj(json!({"a": 1})), None);
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .to_string()
                .starts_with("spec: Invalid value: \"object\": ")
                && causes[0]
                    .to_string()
                    .ends_with("evaluating rule: failed rule: self.missing > 1"),
            "{}",
            causes[0]
        );
    }

    #[test]
    fn rules_that_do_not_compile_or_are_malformed_refuse_the_schema() {
        let refused = schema::parse(
            &json!({"type": "object", "x-kubernetes-validations": [
                {"rule": "self.a >"}, {"rule": ""}, {"rule": "true", "reason": "Nope"}]}),
            "openAPIV3Schema",
        )
        .err()
        .unwrap_or_default();
        let got = messages(&refused);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(got[0].starts_with(
            "openAPIV3Schema.x-kubernetes-validations[0].rule: Invalid value: \"self.a >\": compilation failed"
        ));
        assert_eq!(
            got[1],
            "openAPIV3Schema.x-kubernetes-validations[1].rule: Required value"
        );
        assert!(got[2].starts_with(
            "openAPIV3Schema.x-kubernetes-validations[2].reason: Unsupported value: \"Nope\""
        ));
    }
}
