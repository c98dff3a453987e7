//! node.k8s.io/v1 RuntimeClass (`pkg/apis/node/validation`): a handler
//! that is a DNS label and never changes, overhead quantities, and a
//! scheduling node selector and tolerations that are well formed.

use serde_json::Value;

use super::immutable;
use crate::cause::Cause;
use crate::validation::{is_dns1123_label, validate_labels};

/// A RuntimeClass.
pub fn runtime_class(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    match obj.get("handler").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required("handler", "")),
        Some(h) => {
            for msg in is_dns1123_label(h) {
                causes.push(Cause::invalid("handler", h, &msg));
            }
        }
    }
    if let Some(fixed) = obj.pointer("/overhead/podFixed").and_then(Value::as_object) {
        for (name, q) in fixed {
            let field = format!("overhead.podFixed[{name}]");
            match q.as_str().and_then(crate::quantity::parse_milli) {
                None => causes.push(Cause::invalid(
                    field,
                    q.clone(),
                    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'",
                )),
                Some(v) if v < 0 => causes.push(Cause::invalid(
                    field,
                    q.clone(),
                    "must be greater than or equal to 0",
                )),
                Some(_) => {}
            }
        }
    }
    causes.extend(validate_labels(
        obj.pointer("/scheduling/nodeSelector"),
        "scheduling.nodeSelector",
    ));
    for (i, t) in obj
        .pointer("/scheduling/tolerations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let field = format!("scheduling.tolerations[{i}]");
        let op = t.get("operator").and_then(Value::as_str).unwrap_or("Equal");
        let key = t.get("key").and_then(Value::as_str).unwrap_or("");
        if !["Equal", "Exists", ""].contains(&op) {
            causes.push(Cause::not_supported(
                format!("{field}.operator"),
                op,
                &["Equal", "Exists"],
            ));
        }
        if key.is_empty() && op != "Exists" {
            causes.push(Cause::invalid(
                format!("{field}.operator"),
                op,
                "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
            ));
        }
        if op == "Exists"
            && t.get("value")
                .and_then(Value::as_str)
                .is_some_and(|v| !v.is_empty())
        {
            causes.push(Cause::invalid(
                format!("{field}.operator"),
                t["value"].clone(),
                "value must be empty when `operator` is 'Exists'",
            ));
        }
    }
    causes
}

/// The handler may not change.
pub fn runtime_class_update(old: &Value, new: &Value) -> Vec<Cause> {
    immutable(old, new, "/handler", "handler")
        .into_iter()
        .collect()
}
