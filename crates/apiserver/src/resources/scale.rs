//! The `scale` subresource (`autoscaling/v1` `Scale`) of deployments,
//! replicasets and statefulsets: a view of `spec.replicas`, `status.replicas`
//! and the selector, written back into the object's `spec.replicas`.

use rkube_apimachinery::{ApiError, Cause, ResourceInfo};
use serde_json::{json, Value};

/// The Scale view of an object.
pub fn to_scale(obj: &Value) -> Value {
    let meta = obj.get("metadata").cloned().unwrap_or(json!({}));
    let pick = |k: &str| meta.get(k).cloned().unwrap_or(Value::Null);
    let mut metadata = json!({});
    for k in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if !pick(k).is_null() {
            metadata[k] = pick(k);
        }
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(1)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(obj.pointer("/spec/selector")),
        },
    })
}

/// `metav1.LabelSelector` as the string form Scale carries (`a=b,c in (d)`).
fn selector_string(sel: Option<&Value>) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = sel
        .and_then(|s| s.get("matchLabels"))
        .and_then(Value::as_object)
    {
        for (k, v) in m {
            parts.push(format!("{k}={}", v.as_str().unwrap_or("")));
        }
    }
    for e in sel
        .and_then(|s| s.get("matchExpressions"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = e.get("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(
            match e.get("operator").and_then(Value::as_str).unwrap_or("") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_string(),
                _ => format!("!{key}"),
            },
        );
    }
    parts.sort();
    parts.join(",")
}

/// The new `spec.replicas` from a Scale a client sent.
pub fn replicas_from(info: &ResourceInfo, name: &str, scale: &Value) -> Result<i64, ApiError> {
    match scale.pointer("/spec/replicas") {
        Some(Value::Number(n)) if n.as_i64().is_some_and(|r| r >= 0) => Ok(n.as_i64().unwrap_or(0)),
        Some(other) => Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![Cause::invalid(
                "spec.replicas",
                other.clone(),
                "must be greater than or equal to 0",
            )],
        )),
        None => Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![Cause::required(
                "spec.replicas",
                &format!("{} scale needs spec.replicas", info.kind),
            )],
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_view_of_a_deployment() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
                       "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web", "tier": "a"}}},
                       "status": {"replicas": 2}});
        let s = to_scale(&d);
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web,tier=a");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }
}
