//! The `scale` subresource (`autoscaling/v1` `Scale`): a view of an object's
//! desired and current replicas and its selector, written back into the
//! object's desired replicas. Deployments, replica sets and stateful sets
//! use `spec.replicas`, `status.replicas` and `spec.selector`; a custom
//! resource uses the paths its CRD's `subresources.scale` names.

use rkube_apimachinery::{ApiError, Cause, ResourceInfo};
use serde_json::{json, Value};

/// `.spec.replicas` as a JSON pointer (`/spec/replicas`).
fn pointer(path: &str) -> String {
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(String::new(), |acc, p| format!("{acc}/{p}"))
}

/// Where the replicas live: (desired, current) as JSON pointers.
fn paths(info: &ResourceInfo) -> (String, String) {
    match info.custom.as_ref().and_then(|c| c.scale.as_ref()) {
        Some(sc) => (pointer(&sc.spec_replicas), pointer(&sc.status_replicas)),
        None => ("/spec/replicas".into(), "/status/replicas".into()),
    }
}

/// The Scale view of an object.
pub fn to_scale(info: &ResourceInfo, obj: &Value) -> Value {
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
    let (desired, current) = paths(info);
    let custom = info.custom.as_ref().and_then(|c| c.scale.as_ref());
    let selector = match custom {
        Some(sc) => sc
            .label_selector
            .as_deref()
            .and_then(|p| obj.pointer(&pointer(p)))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        None => selector_string(obj.pointer("/spec/selector")),
    };
    let default_desired = if custom.is_some() { 0 } else { 1 };
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": obj.pointer(&desired).and_then(Value::as_i64).unwrap_or(default_desired)},
        "status": {
            "replicas": obj.pointer(&current).and_then(Value::as_i64).unwrap_or(0),
            "selector": selector,
        },
    })
}

/// A merge patch setting the object's desired replicas to `n`.
pub fn replicas_patch(info: &ResourceInfo, n: i64) -> Value {
    let (desired, _) = paths(info);
    desired
        .rsplit('/')
        .filter(|p| !p.is_empty())
        .fold(json!(n), |inner, key| json!({ key: inner }))
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
        let info = rkube_apimachinery::Registry::builtin()
            .get("apps", "v1", "deployments")
            .cloned()
            .expect("deployments");
        let s = to_scale(&info, &d);
        assert_eq!(replicas_patch(&info, 5), json!({"spec": {"replicas": 5}}));
        assert_eq!(s["spec"]["replicas"], 3);
        assert_eq!(s["status"]["replicas"], 2);
        assert_eq!(s["status"]["selector"], "app=web,tier=a");
        assert_eq!(s["metadata"]["resourceVersion"], "7");
    }
}
