//! Structural schemas (a CRD version's `openAPIV3Schema`): validation of an
//! object with kube-apiserver's field errors, pruning of unknown fields and
//! defaulting, in the order kube-apiserver applies them to a custom
//! resource (prune, default, validate).
//!
//! Supported: `type`, `properties`, `additionalProperties`, `items`,
//! `required`, `enum`, `pattern`, `minimum`/`maximum` (and exclusive),
//! `multipleOf`, `minLength`/`maxLength`, `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, `nullable`, `default`,
//! `x-kubernetes-preserve-unknown-fields`, `x-kubernetes-int-or-string`,
//! `x-kubernetes-embedded-resource`, `x-kubernetes-list-type`
//! (`atomic`/`set`/`map` with `x-kubernetes-list-map-keys`), and the
//! value-validation forms `allOf`, `anyOf`, `oneOf`, `not`.
//! `x-kubernetes-validations` (CEL rules) are compiled here and evaluated
//! by `rules.rs`. Not supported: `format` checks.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::cause::{render_value, Cause, CauseType};

use super::rule::{self, Rule};

/// A parsed structural schema node.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    pub type_: Option<String>,
    pub properties: BTreeMap<String, Schema>,
    /// `additionalProperties` as a schema (`true` is an empty schema).
    pub additional: Option<Box<Schema>>,
    pub items: Option<Box<Schema>>,
    pub required: Vec<String>,
    pub enum_: Vec<Value>,
    pub pattern: Option<(String, regex::Regex)>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: bool,
    pub exclusive_maximum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub nullable: bool,
    pub default: Option<Value>,
    pub preserve_unknown: bool,
    pub int_or_string: bool,
    pub embedded_resource: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    /// `x-kubernetes-map-type: atomic`.
    pub map_atomic: bool,
    pub all_of: Vec<Schema>,
    pub any_of: Vec<Schema>,
    pub one_of: Vec<Schema>,
    pub not: Option<Box<Schema>>,
    /// `x-kubernetes-validations`, compiled.
    pub validations: Vec<Rule>,
    /// This node or one below it has validation rules.
    rules_below: bool,
}

/// Parses a schema; `Err` carries the causes, at `path` (as a CRD's
/// `spec.versions[i].schema.openAPIV3Schema`).
pub fn parse(v: &Value, path: &str) -> Result<Schema, Vec<Cause>> {
    let mut causes = Vec::new();
    let s = parse_node(v, path, &mut causes);
    if causes.is_empty() {
        Ok(s)
    } else {
        Err(causes)
    }
}

fn parse_node(v: &Value, path: &str, causes: &mut Vec<Cause>) -> Schema {
    let Some(m) = v.as_object() else {
        causes.push(Cause::invalid(path, v.clone(), "must be an object"));
        return Schema::default();
    };
    let num = |k: &str| m.get(k).and_then(Value::as_f64);
    let uint = |k: &str| m.get(k).and_then(Value::as_u64);
    let flag = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let list = |k: &str, causes: &mut Vec<Cause>| -> Vec<Schema> {
        m.get(k)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| parse_node(s, &format!("{path}.{k}[{i}]"), causes))
            .collect()
    };
    let mut s = Schema {
        type_: m.get("type").and_then(Value::as_str).map(str::to_string),
        required: strings(m.get("required")),
        enum_: m
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default(),
        minimum: num("minimum"),
        maximum: num("maximum"),
        exclusive_minimum: flag("exclusiveMinimum"),
        exclusive_maximum: flag("exclusiveMaximum"),
        multiple_of: num("multipleOf"),
        min_length: uint("minLength"),
        max_length: uint("maxLength"),
        min_items: uint("minItems"),
        max_items: uint("maxItems"),
        min_properties: uint("minProperties"),
        max_properties: uint("maxProperties"),
        nullable: flag("nullable"),
        default: m.get("default").cloned(),
        preserve_unknown: flag("x-kubernetes-preserve-unknown-fields"),
        int_or_string: flag("x-kubernetes-int-or-string"),
        embedded_resource: flag("x-kubernetes-embedded-resource"),
        list_type: m
            .get("x-kubernetes-list-type")
            .and_then(Value::as_str)
            .map(str::to_string),
        list_map_keys: strings(m.get("x-kubernetes-list-map-keys")),
        map_atomic: m.get("x-kubernetes-map-type").and_then(Value::as_str) == Some("atomic"),
        ..Schema::default()
    };
    if let Some(t) = &s.type_ {
        if !matches!(
            t.as_str(),
            "object" | "array" | "string" | "integer" | "number" | "boolean"
        ) {
            causes.push(Cause::not_supported(
                format!("{path}.type"),
                Value::String(t.clone()),
                &["array", "boolean", "integer", "number", "object", "string"],
            ));
        }
    }
    if let Some(p) = m.get("pattern").and_then(Value::as_str) {
        match regex::Regex::new(p) {
            Ok(re) => s.pattern = Some((p.to_string(), re)),
            Err(e) => causes.push(Cause::invalid(
                format!("{path}.pattern"),
                p,
                &format!("must be a valid regular expression, but isn't: {e}"),
            )),
        }
    }
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            s.properties.insert(
                k.clone(),
                parse_node(v, &format!("{path}.properties[{k}]"), causes),
            );
        }
    }
    match m.get("additionalProperties") {
        Some(Value::Bool(true)) => s.additional = Some(Box::default()),
        Some(v @ Value::Object(_)) => {
            s.additional = Some(Box::new(parse_node(
                v,
                &format!("{path}.additionalProperties"),
                causes,
            )))
        }
        _ => {}
    }
    if let Some(items) = m.get("items") {
        s.items = Some(Box::new(parse_node(
            items,
            &format!("{path}.items"),
            causes,
        )));
    }
    if s.type_.as_deref() == Some("array") && s.items.is_none() {
        causes.push(Cause::required(
            format!("{path}.items"),
            "must be specified",
        ));
    }
    if let Some(lt) = &s.list_type {
        if !matches!(lt.as_str(), "atomic" | "set" | "map") {
            causes.push(Cause::not_supported(
                format!("{path}.x-kubernetes-list-type"),
                Value::String(lt.clone()),
                &["atomic", "map", "set"],
            ));
        }
        if lt == "map" && s.list_map_keys.is_empty() {
            causes.push(Cause::required(
                format!("{path}.x-kubernetes-list-map-keys"),
                "must not be empty if x-kubernetes-list-type is map",
            ));
        }
    }
    s.all_of = list("allOf", causes);
    s.any_of = list("anyOf", causes);
    s.one_of = list("oneOf", causes);
    if let Some(n) = m.get("not") {
        s.not = Some(Box::new(parse_node(n, &format!("{path}.not"), causes)));
    }
    s.validations = rule::parse_rules(m.get("x-kubernetes-validations"), path, causes);
    s.rules_below = !s.validations.is_empty()
        || s.properties.values().any(|p| p.rules_below)
        || s.additional.as_ref().is_some_and(|a| a.rules_below)
        || s.items.as_ref().is_some_and(|i| i.rules_below);
    s
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect()
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The fields of the root of a custom resource that the schema does not
/// govern (kube-apiserver handles them itself).
const ROOT_FIELDS: &[&str] = &["apiVersion", "kind", "metadata"];

impl Schema {
    /// The schema of property `key` of an object: a declared property, or
    /// `additionalProperties`.
    pub fn property(&self, key: &str) -> Option<&Schema> {
        self.properties.get(key).or(self.additional.as_deref())
    }

    /// This node or one below it has `x-kubernetes-validations`.
    pub fn has_rules(&self) -> bool {
        self.rules_below
    }

    fn keeps_unknown(&self) -> bool {
        self.preserve_unknown || self.additional.is_some()
    }

    /// Removes the fields the schema does not know; returns their paths
    /// (`spec.foo`) for the `unknown field` warnings.
    pub fn prune_root(&self, obj: &mut Value) -> Vec<String> {
        let mut dropped = Vec::new();
        self.prune(obj, "", true, &mut dropped);
        dropped
    }

    fn prune(&self, v: &mut Value, path: &str, root: bool, dropped: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                let keep_all = self.keeps_unknown();
                let mut gone = Vec::new();
                for (k, child) in map.iter_mut() {
                    let meta =
                        (root || self.embedded_resource) && ROOT_FIELDS.contains(&k.as_str());
                    if meta {
                        continue;
                    }
                    match self.property(k) {
                        Some(s) => s.prune(child, &join(path, k), false, dropped),
                        None if keep_all => {}
                        None => gone.push(k.clone()),
                    }
                }
                for k in gone {
                    map.remove(&k);
                    dropped.push(join(path, &k));
                }
            }
            Value::Array(items) => {
                if let Some(s) = &self.items {
                    for (i, item) in items.iter_mut().enumerate() {
                        s.prune(item, &format!("{path}[{i}]"), false, dropped);
                    }
                }
            }
            _ => {}
        }
    }

    /// Fills in defaults of missing (or null, where not nullable) fields.
    pub fn default_root(&self, obj: &mut Value) {
        self.apply_defaults(obj);
    }

    fn apply_defaults(&self, v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, s) in &self.properties {
                    let missing = match map.get(k) {
                        None => true,
                        Some(Value::Null) => !s.nullable,
                        Some(_) => false,
                    };
                    if missing {
                        match &s.default {
                            Some(d) => {
                                map.insert(k.clone(), d.clone());
                            }
                            None if map.get(k) == Some(&Value::Null) => {
                                // null where null is not allowed and no
                                // default: dropped, as kube-apiserver does.
                                map.remove(k);
                            }
                            None => {}
                        }
                    }
                    if let Some(child) = map.get_mut(k) {
                        s.apply_defaults(child);
                    }
                }
                if let Some(s) = &self.additional {
                    for (k, child) in map.iter_mut() {
                        if !self.properties.contains_key(k) {
                            s.apply_defaults(child);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(s) = &self.items {
                    for item in items {
                        s.apply_defaults(item);
                    }
                }
            }
            _ => {}
        }
    }

    /// Validates a whole custom resource (its root fields `apiVersion`,
    /// `kind` and `metadata` excepted).
    pub fn validate_root(&self, obj: &Value) -> Vec<Cause> {
        let mut causes = Vec::new();
        if let Some(map) = obj.as_object() {
            let mut rest = Map::new();
            for (k, v) in map {
                if !ROOT_FIELDS.contains(&k.as_str()) {
                    rest.insert(k.clone(), v.clone());
                }
            }
            let mut schema = self.clone();
            schema
                .required
                .retain(|r| !ROOT_FIELDS.contains(&r.as_str()));
            for f in ROOT_FIELDS {
                schema.properties.remove(*f);
            }
            schema.validate(&Value::Object(rest), "", &mut causes);
        }
        causes
    }

    fn type_ok(&self, v: &Value) -> bool {
        if v.is_null() {
            return self.nullable;
        }
        if self.int_or_string {
            return v.is_i64() || v.is_u64() || v.is_string();
        }
        match self.type_.as_deref() {
            None => true,
            Some("object") => v.is_object(),
            Some("array") => v.is_array(),
            Some("string") => v.is_string(),
            Some("boolean") => v.is_boolean(),
            Some("integer") => v.is_i64() || v.is_u64(),
            Some("number") => v.is_number(),
            Some(_) => false,
        }
    }

    fn validate(&self, v: &Value, path: &str, causes: &mut Vec<Cause>) {
        let name = if path.is_empty() { "<root>" } else { path };
        if !self.type_ok(v) {
            let want = if self.int_or_string {
                "integer,string".to_string()
            } else {
                self.type_.clone().unwrap_or_default()
            };
            let detail = format!("{name} in body must be of type {want}: {}", go_type(v));
            causes.push(Cause::new(CauseType::TypeInvalid, name, Some(v), &detail));
            return;
        }
        if v.is_null() {
            return;
        }
        if !self.enum_.is_empty() && !self.enum_.contains(v) {
            let supported: Vec<String> = self.enum_.iter().map(render_value).collect();
            let detail = format!("supported values: {}", supported.join(", "));
            causes.push(Cause::new(CauseType::NotSupported, name, Some(v), &detail));
        }
        match v {
            Value::String(s) => self.validate_string(s, v, name, causes),
            Value::Number(n) => self.validate_number(n.as_f64().unwrap_or(0.0), v, name, causes),
            Value::Array(items) => self.validate_array(items, v, path, name, causes),
            Value::Object(map) => self.validate_object(map, path, name, causes),
            _ => {}
        }
        for s in &self.all_of {
            s.validate(v, path, causes);
        }
        if !self.any_of.is_empty() && !self.any_of.iter().any(|s| s.passes(v, path)) {
            causes.push(Cause::invalid(
                name,
                v.clone(),
                &format!("{name} in body must match at least one schema (anyOf)"),
            ));
        }
        if !self.one_of.is_empty() && self.one_of.iter().filter(|s| s.passes(v, path)).count() != 1
        {
            causes.push(Cause::invalid(
                name,
                v.clone(),
                &format!("{name} in body must match exactly one schema (oneOf)"),
            ));
        }
        if let Some(not) = &self.not {
            if not.passes(v, path) {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should not match the schema (not)"),
                ));
            }
        }
    }

    fn passes(&self, v: &Value, path: &str) -> bool {
        let mut c = Vec::new();
        self.validate(v, path, &mut c);
        c.is_empty()
    }

    fn validate_string(&self, s: &str, v: &Value, name: &str, causes: &mut Vec<Cause>) {
        let len = s.chars().count() as u64;
        if let Some(max) = self.max_length {
            if len > max {
                causes.push(Cause::too_long(name, max as usize));
            }
        }
        if let Some(min) = self.min_length {
            if len < min {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should be at least {min} chars long"),
                ));
            }
        }
        if let Some((src, re)) = &self.pattern {
            if !re.is_match(s) {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should match '{src}'"),
                ));
            }
        }
    }

    fn validate_number(&self, n: f64, v: &Value, name: &str, causes: &mut Vec<Cause>) {
        if let Some(max) = self.maximum {
            let (bad, rel) = if self.exclusive_maximum {
                (n >= max, "less than")
            } else {
                (n > max, "less than or equal to")
            };
            if bad {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should be {rel} {}", number(max)),
                ));
            }
        }
        if let Some(min) = self.minimum {
            let (bad, rel) = if self.exclusive_minimum {
                (n <= min, "greater than")
            } else {
                (n < min, "greater than or equal to")
            };
            if bad {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should be {rel} {}", number(min)),
                ));
            }
        }
        if let Some(m) = self.multiple_of.filter(|m| *m > 0.0) {
            let q = n / m;
            if (q - q.round()).abs() > 1e-9 {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should be a multiple of {}", number(m)),
                ));
            }
        }
    }

    fn validate_array(
        &self,
        items: &[Value],
        v: &Value,
        path: &str,
        name: &str,
        causes: &mut Vec<Cause>,
    ) {
        if let Some(max) = self.max_items {
            if items.len() as u64 > max {
                causes.push(Cause::too_many(name, items.len(), max as usize));
            }
        }
        if let Some(min) = self.min_items {
            if (items.len() as u64) < min {
                causes.push(Cause::invalid(
                    name,
                    v.clone(),
                    &format!("{name} in body should have at least {min} items"),
                ));
            }
        }
        if let Some(s) = &self.items {
            for (i, item) in items.iter().enumerate() {
                s.validate(item, &format!("{path}[{i}]"), causes);
            }
        }
        match self.list_type.as_deref() {
            Some("set") => {
                for (i, item) in items.iter().enumerate() {
                    if items[..i].contains(item) {
                        causes.push(Cause::duplicate(format!("{path}[{i}]"), item.clone()));
                    }
                }
            }
            Some("map") => {
                let key_of = |item: &Value| -> Value {
                    let mut k = Map::new();
                    for f in &self.list_map_keys {
                        if let Some(x) = item.get(f) {
                            k.insert(f.clone(), x.clone());
                        }
                    }
                    Value::Object(k)
                };
                let keys: Vec<Value> = items.iter().map(key_of).collect();
                for (i, k) in keys.iter().enumerate() {
                    if keys[..i].contains(k) {
                        causes.push(Cause::duplicate(format!("{path}[{i}]"), k.clone()));
                    }
                }
            }
            _ => {}
        }
    }

    fn validate_object(
        &self,
        map: &Map<String, Value>,
        path: &str,
        name: &str,
        causes: &mut Vec<Cause>,
    ) {
        for r in &self.required {
            if !map.contains_key(r) {
                causes.push(Cause::required(join(path, r), ""));
            }
        }
        let n = map.len() as u64;
        if let Some(max) = self.max_properties.filter(|m| n > *m) {
            causes.push(Cause::too_many(name, n as usize, max as usize));
        }
        if let Some(min) = self.min_properties.filter(|m| n < *m) {
            causes.push(Cause::invalid(
                name,
                Value::Object(map.clone()),
                &format!("{name} in body should have at least {min} properties"),
            ));
        }
        for (k, child) in map {
            if let Some(s) = self.property(k) {
                s.validate(child, &join(path, k), causes);
            }
        }
    }
}

/// Go's name for a JSON value's type, as kube-openapi's messages print it.
fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "\"null\"",
        Value::Bool(_) => "\"boolean\"",
        Value::Number(n) if n.is_f64() => "\"number\"",
        Value::Number(_) => "\"integer\"",
        Value::String(_) => "\"string\"",
        Value::Array(_) => "\"array\"",
        Value::Object(_) => "\"object\"",
    }
}

/// A number as Go's `%v` prints a float64 (no `.0` on whole numbers).
fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(v: Value) -> Schema {
        parse(&v, "openAPIV3Schema").expect("schema")
    }

    fn messages(causes: &[Cause]) -> Vec<String> {
        causes.iter().map(|c| c.to_string()).collect()
    }

    fn crontab() -> Schema {
        schema(json!({
            "type": "object",
            "properties": {
                "spec": {
                    "type": "object",
                    "required": ["cronSpec"],
                    "properties": {
                        "cronSpec": {"type": "string", "pattern": "^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$"},
                        "image": {"type": "string", "maxLength": 10},
                        "replicas": {"type": "integer", "minimum": 1, "maximum": 10, "default": 1},
                        "color": {"type": "string", "enum": ["red", "blue"]},
                        "port": {"x-kubernetes-int-or-string": true},
                        "tags": {"type": "array", "x-kubernetes-list-type": "set", "maxItems": 3,
                                 "items": {"type": "string"}},
                        "ports": {"type": "array", "x-kubernetes-list-type": "map",
                                  "x-kubernetes-list-map-keys": ["name"],
                                  "items": {"type": "object", "properties": {
                                      "name": {"type": "string"},
                                      "port": {"type": "integer", "default": 80}}}},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                        "labels": {"type": "object", "additionalProperties": {"type": "string"}}
                    }
                },
                "status": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
            }
        }))
    }

    #[test]
    fn valid_objects_pass_and_errors_read_like_kube_apiserver() {
        let s = crontab();
        let good = json!({"apiVersion": "x/v1", "kind": "CronTab", "metadata": {"name": "a"},
                          "spec": {"cronSpec": "* * * * */5", "replicas": 3, "port": "http"}});
        assert!(s.validate_root(&good).is_empty());
        let bad = json!({"spec": {"cronSpec": "nope", "image": "a-very-long-image", "replicas": 20,
                                  "color": "green", "port": 1.5, "tags": ["a", "b", "a", "c"],
                                  "ports": [{"name": "x"}, {"name": "x"}], "labels": {"a": 1}}});
        assert_eq!(
            messages(&s.validate_root(&bad)),
            vec![
                "spec.color: Unsupported value: \"green\": supported values: \"red\", \"blue\"",
                "spec.cronSpec: Invalid value: \"nope\": spec.cronSpec in body should match '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'",
                "spec.image: Too long: may not be more than 10 bytes",
                "spec.labels.a: Invalid value: 1: spec.labels.a in body must be of type string: \"integer\"",
                "spec.port: Invalid value: 1.5: spec.port in body must be of type integer,string: \"number\"",
                "spec.ports[1]: Duplicate value: map[string]string{\"name\":\"x\"}",
                "spec.replicas: Invalid value: 20: spec.replicas in body should be less than or equal to 10",
                "spec.tags: Too many: 4: must have at most 3 items",
                "spec.tags[2]: Duplicate value: \"a\"",
            ]
        );
        let missing = json!({"spec": {"image": "x"}});
        assert_eq!(
            messages(&s.validate_root(&missing)),
            vec!["spec.cronSpec: Required value"]
        );
        assert_eq!(
            messages(&s.validate_root(&json!({"spec": "text"}))),
            vec!["spec: Invalid value: \"text\": spec in body must be of type object: \"string\""]
        );
    }

    #[test]
    fn pruning_drops_unknown_fields_except_where_preserved() {
        let s = crontab();
        let mut obj = json!({"apiVersion": "x/v1", "kind": "CronTab",
            "metadata": {"name": "a", "labels": {"k": "v"}},
            "spec": {"cronSpec": "x", "unknown": 1, "extra": {"anything": {"goes": true}},
                     "labels": {"free": "form"}, "ports": [{"name": "a", "junk": 2}]},
            "top": "level"});
        let dropped = s.prune_root(&mut obj);
        assert_eq!(dropped, vec!["spec.ports[0].junk", "spec.unknown", "top"]);
        assert_eq!(obj["spec"]["extra"], json!({"anything": {"goes": true}}));
        assert_eq!(obj["spec"]["labels"], json!({"free": "form"}));
        assert_eq!(obj["metadata"]["labels"], json!({"k": "v"}));
    }

    #[test]
    fn defaults_fill_missing_fields_in_objects_and_list_items() {
        let s = crontab();
        let mut obj = json!({"spec": {"cronSpec": "x", "ports": [{"name": "a"}, {"name": "b", "port": 8080}]}});
        s.default_root(&mut obj);
        assert_eq!(obj["spec"]["replicas"], json!(1));
        assert_eq!(
            obj["spec"]["ports"],
            json!([{"name": "a", "port": 80}, {"name": "b", "port": 8080}])
        );
        // Absent parents are not created for their children's defaults.
        let mut empty = json!({});
        s.default_root(&mut empty);
        assert_eq!(empty, json!({}));
    }

    #[test]
    fn bad_schemas_are_refused_with_their_paths() {
        let e = parse(
            &json!({"type": "object", "properties": {
                "a": {"type": "strin"}, "b": {"type": "array"}, "c": {"type": "string", "pattern": "("}}}),
            "s",
        )
        .expect_err("invalid");
        let fields: Vec<&str> = e.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(
            fields,
            vec![
                "s.properties[a].type",
                "s.properties[b].items",
                "s.properties[c].pattern"
            ]
        );
    }
}
