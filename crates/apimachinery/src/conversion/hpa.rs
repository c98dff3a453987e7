//! HorizontalPodAutoscaler `autoscaling/v2` ⇄ `autoscaling/v1`, as
//! kube-apiserver converts them (`pkg/apis/autoscaling/v1/conversion.go`).
//!
//! v1 holds only a CPU utilization target
//! (`spec.targetCPUUtilizationPercentage`) and its current value
//! (`status.currentCPUUtilizationPercentage`). What v1 cannot express
//! travels in annotations, so a v2 object read and written back through v1
//! loses nothing:
//!
//! - `autoscaling.alpha.kubernetes.io/metrics`: the metric specs other than
//!   a CPU utilization target, as v1's (v2beta1-shaped) `MetricSpec` list;
//! - `autoscaling.alpha.kubernetes.io/current-metrics`: every current
//!   metric, as v1's `MetricStatus` list;
//! - `autoscaling.alpha.kubernetes.io/conditions`: the conditions;
//! - `autoscaling.alpha.kubernetes.io/behavior`: `spec.behavior`, with Go's
//!   field names (Kubernetes marshals its internal type, which has no JSON
//!   tags: `{"ScaleUp":{"StabilizationWindowSeconds":0,...}}`), read back
//!   case-insensitively as Go's `encoding/json` does.
//!
//! Going to v2 the annotations are read and removed; a v1 object whose
//! annotation does not parse keeps the annotation (kube-apiserver would
//! refuse to decode it; rkube keeps serving it).

use serde_json::{json, Map, Value};

/// Other metric specs (v1 `MetricSpec` list).
pub const METRIC_SPECS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";
/// Current metrics (v1 `MetricStatus` list).
pub const METRIC_STATUSES_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/current-metrics";
/// Conditions.
pub const CONDITIONS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/conditions";
/// `spec.behavior` with Go field names.
pub const BEHAVIOR_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/behavior";

const ROUND_TRIP: [&str; 4] = [
    METRIC_SPECS_ANNOTATION,
    METRIC_STATUSES_ANNOTATION,
    CONDITIONS_ANNOTATION,
    BEHAVIOR_ANNOTATION,
];

fn take(m: &mut Map<String, Value>, key: &str) -> Option<Value> {
    m.remove(key).filter(|v| !v.is_null())
}

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v.filter(|v| !v.is_null()) {
        m.insert(key.to_string(), v);
    }
}

fn is_cpu_resource(metric: &Value) -> bool {
    metric.get("type").and_then(Value::as_str) == Some("Resource")
        && metric.pointer("/resource/name").and_then(Value::as_str) == Some("cpu")
}

/// v2 → v1, in place.
pub fn v2_to_v1(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let mut annotations: Map<String, Value> = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for k in ROUND_TRIP {
        annotations.remove(k);
    }
    // spec
    if let Some(spec) = root.get_mut("spec").and_then(Value::as_object_mut) {
        let metrics = take(spec, "metrics")
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default();
        let behavior = take(spec, "behavior");
        let mut cpu = None;
        let mut other = Vec::new();
        for m in &metrics {
            let utilization = m.pointer("/resource/target/averageUtilization").cloned();
            if is_cpu_resource(m) && utilization.is_some() {
                if cpu.is_none() {
                    cpu = utilization;
                }
                continue;
            }
            other.push(metric_spec_to_v1(m));
        }
        put(spec, "targetCPUUtilizationPercentage", cpu);
        if !other.is_empty() {
            annotations.insert(
                METRIC_SPECS_ANNOTATION.into(),
                Value::String(Value::Array(other).to_string()),
            );
        }
        if let Some(b) = behavior {
            annotations.insert(
                BEHAVIOR_ANNOTATION.into(),
                Value::String(go_names(&b).to_string()),
            );
        }
    }
    // status
    if let Some(status) = root.get_mut("status").and_then(Value::as_object_mut) {
        let current = take(status, "currentMetrics")
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default();
        let conditions = take(status, "conditions")
            .and_then(|m| m.as_array().cloned())
            .unwrap_or_default();
        let cpu = current
            .iter()
            .filter(|m| is_cpu_resource(m))
            .find_map(|m| m.pointer("/resource/current/averageUtilization").cloned());
        put(status, "currentCPUUtilizationPercentage", cpu);
        if !current.is_empty() {
            let v1: Vec<Value> = current.iter().map(metric_status_to_v1).collect();
            annotations.insert(
                METRIC_STATUSES_ANNOTATION.into(),
                Value::String(Value::Array(v1).to_string()),
            );
        }
        if !conditions.is_empty() {
            annotations.insert(
                CONDITIONS_ANNOTATION.into(),
                Value::String(Value::Array(conditions).to_string()),
            );
        }
    }
    set_annotations(root, annotations);
}

/// v1 → v2, in place.
pub fn v1_to_v2(obj: &mut Value) {
    let Some(root) = obj.as_object_mut() else {
        return;
    };
    let mut annotations: Map<String, Value> = root
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut parsed = |key: &str| -> Option<Vec<Value>> {
        let text = annotations.get(key)?.as_str()?;
        let list: Vec<Value> = serde_json::from_str(text).ok()?;
        annotations.remove(key);
        Some(list)
    };
    let other_metrics = parsed(METRIC_SPECS_ANNOTATION);
    let current_metrics = parsed(METRIC_STATUSES_ANNOTATION);
    let conditions = parsed(CONDITIONS_ANNOTATION);
    let behavior = annotations
        .get(BEHAVIOR_ANNOTATION)
        .and_then(Value::as_str)
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .map(|b| behavior_from_go(&b));
    if behavior.is_some() {
        annotations.remove(BEHAVIOR_ANNOTATION);
    }
    if let Some(spec) = root.get_mut("spec").and_then(Value::as_object_mut) {
        let mut metrics = Vec::new();
        if let Some(cpu) = take(spec, "targetCPUUtilizationPercentage") {
            metrics.push(json!({"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": cpu}}}));
        }
        metrics.extend(
            other_metrics
                .unwrap_or_default()
                .iter()
                .map(|m| strip_nulls(metric_spec_from_v1(m))),
        );
        if !metrics.is_empty() {
            spec.insert("metrics".into(), Value::Array(metrics));
        }
        put(spec, "behavior", behavior);
    }
    if let Some(status) = root.get_mut("status").and_then(Value::as_object_mut) {
        let cpu = take(status, "currentCPUUtilizationPercentage");
        let current = match current_metrics {
            Some(list) => list
                .iter()
                .map(|m| strip_nulls(metric_status_from_v1(m)))
                .collect(),
            None => cpu
                .map(|c| {
                    vec![json!({"type": "Resource", "resource": {"name": "cpu",
                        "current": {"averageUtilization": c}}})]
                })
                .unwrap_or_default(),
        };
        if !current.is_empty() {
            status.insert("currentMetrics".into(), Value::Array(current));
        }
        if let Some(c) = conditions.filter(|c| !c.is_empty()) {
            status.insert("conditions".into(), Value::Array(c));
        }
    }
    set_annotations(root, annotations);
}

fn set_annotations(root: &mut Map<String, Value>, annotations: Map<String, Value>) {
    let Some(meta) = root.get_mut("metadata").and_then(Value::as_object_mut) else {
        return;
    };
    if annotations.is_empty() {
        meta.remove("annotations");
    } else {
        meta.insert("annotations".into(), Value::Object(annotations));
    }
}

fn field(v: &Value, ptr: &str) -> Option<Value> {
    v.pointer(ptr).filter(|v| !v.is_null()).cloned()
}

fn object(pairs: Vec<(&str, Option<Value>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in pairs {
        put(&mut m, k, v);
    }
    Value::Object(m)
}

/// A v2 `MetricSpec` as v1's annotation holds it.
fn metric_spec_to_v1(m: &Value) -> Value {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let body = match ty {
        "Resource" => Some((
            "resource",
            object(vec![
                ("name", field(m, "/resource/name")),
                (
                    "targetAverageUtilization",
                    field(m, "/resource/target/averageUtilization"),
                ),
                (
                    "targetAverageValue",
                    field(m, "/resource/target/averageValue"),
                ),
            ]),
        )),
        "ContainerResource" => Some((
            "containerResource",
            object(vec![
                ("name", field(m, "/containerResource/name")),
                ("container", field(m, "/containerResource/container")),
                (
                    "targetAverageUtilization",
                    field(m, "/containerResource/target/averageUtilization"),
                ),
                (
                    "targetAverageValue",
                    field(m, "/containerResource/target/averageValue"),
                ),
            ]),
        )),
        "Pods" => Some((
            "pods",
            object(vec![
                ("metricName", field(m, "/pods/metric/name")),
                ("selector", field(m, "/pods/metric/selector")),
                ("targetAverageValue", field(m, "/pods/target/averageValue")),
            ]),
        )),
        "Object" => Some((
            "object",
            object(vec![
                ("target", field(m, "/object/describedObject")),
                ("metricName", field(m, "/object/metric/name")),
                ("selector", field(m, "/object/metric/selector")),
                ("targetValue", field(m, "/object/target/value")),
                ("averageValue", field(m, "/object/target/averageValue")),
            ]),
        )),
        "External" => Some((
            "external",
            object(vec![
                ("metricName", field(m, "/external/metric/name")),
                ("metricSelector", field(m, "/external/metric/selector")),
                ("targetValue", field(m, "/external/target/value")),
                (
                    "targetAverageValue",
                    field(m, "/external/target/averageValue"),
                ),
            ]),
        )),
        _ => None,
    };
    let mut out = json!({ "type": ty });
    if let Some((k, v)) = body {
        out[k] = v;
    }
    out
}

/// A v2 target from v1's flat fields: `value` wins, then utilization, then
/// average value (kube's converters pick the type the same way).
fn target(value: Option<Value>, utilization: Option<Value>, average: Option<Value>) -> Value {
    let ty = if value.is_some() {
        "Value"
    } else if utilization.is_some() {
        "Utilization"
    } else {
        "AverageValue"
    };
    object(vec![
        ("type", Some(Value::from(ty))),
        ("value", value),
        ("averageUtilization", utilization),
        ("averageValue", average),
    ])
}

fn metric_id(name: Option<Value>, selector: Option<Value>) -> Value {
    object(vec![("name", name), ("selector", selector)])
}

/// A v1 annotation's `MetricSpec` as v2's.
fn metric_spec_from_v1(m: &Value) -> Value {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let body = match ty {
        "Resource" => Some((
            "resource",
            json!({
                "name": field(m, "/resource/name"),
                "target": target(None, field(m, "/resource/targetAverageUtilization"),
                    field(m, "/resource/targetAverageValue")),
            }),
        )),
        "ContainerResource" => Some((
            "containerResource",
            json!({
                "name": field(m, "/containerResource/name"),
                "container": field(m, "/containerResource/container"),
                "target": target(None, field(m, "/containerResource/targetAverageUtilization"),
                    field(m, "/containerResource/targetAverageValue")),
            }),
        )),
        "Pods" => Some((
            "pods",
            json!({
                "metric": metric_id(field(m, "/pods/metricName"), field(m, "/pods/selector")),
                "target": target(None, None, field(m, "/pods/targetAverageValue")),
            }),
        )),
        "Object" => Some((
            "object",
            json!({
                "describedObject": field(m, "/object/target"),
                "metric": metric_id(field(m, "/object/metricName"), field(m, "/object/selector")),
                "target": target(field(m, "/object/targetValue"), None,
                    field(m, "/object/averageValue")),
            }),
        )),
        "External" => Some((
            "external",
            json!({
                "metric": metric_id(field(m, "/external/metricName"),
                    field(m, "/external/metricSelector")),
                "target": target(field(m, "/external/targetValue"), None,
                    field(m, "/external/targetAverageValue")),
            }),
        )),
        _ => None,
    };
    let mut out = json!({ "type": ty });
    if let Some((k, v)) = body {
        out[k] = v;
    }
    out
}

/// A v2 `MetricStatus` as v1's annotation holds it.
fn metric_status_to_v1(m: &Value) -> Value {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let body = match ty {
        "Resource" => Some((
            "resource",
            object(vec![
                ("name", field(m, "/resource/name")),
                (
                    "currentAverageUtilization",
                    field(m, "/resource/current/averageUtilization"),
                ),
                (
                    "currentAverageValue",
                    field(m, "/resource/current/averageValue"),
                ),
            ]),
        )),
        "ContainerResource" => Some((
            "containerResource",
            object(vec![
                ("name", field(m, "/containerResource/name")),
                ("container", field(m, "/containerResource/container")),
                (
                    "currentAverageUtilization",
                    field(m, "/containerResource/current/averageUtilization"),
                ),
                (
                    "currentAverageValue",
                    field(m, "/containerResource/current/averageValue"),
                ),
            ]),
        )),
        "Pods" => Some((
            "pods",
            object(vec![
                ("metricName", field(m, "/pods/metric/name")),
                ("selector", field(m, "/pods/metric/selector")),
                (
                    "currentAverageValue",
                    field(m, "/pods/current/averageValue"),
                ),
            ]),
        )),
        "Object" => Some((
            "object",
            object(vec![
                ("target", field(m, "/object/describedObject")),
                ("metricName", field(m, "/object/metric/name")),
                ("selector", field(m, "/object/metric/selector")),
                ("currentValue", field(m, "/object/current/value")),
                ("averageValue", field(m, "/object/current/averageValue")),
            ]),
        )),
        "External" => Some((
            "external",
            object(vec![
                ("metricName", field(m, "/external/metric/name")),
                ("metricSelector", field(m, "/external/metric/selector")),
                ("currentValue", field(m, "/external/current/value")),
                (
                    "currentAverageValue",
                    field(m, "/external/current/averageValue"),
                ),
            ]),
        )),
        _ => None,
    };
    let mut out = json!({ "type": ty });
    if let Some((k, v)) = body {
        out[k] = v;
    }
    out
}

fn current(value: Option<Value>, utilization: Option<Value>, average: Option<Value>) -> Value {
    object(vec![
        ("value", value),
        ("averageUtilization", utilization),
        ("averageValue", average),
    ])
}

/// A v1 annotation's `MetricStatus` as v2's.
fn metric_status_from_v1(m: &Value) -> Value {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    let body = match ty {
        "Resource" => Some((
            "resource",
            json!({
                "name": field(m, "/resource/name"),
                "current": current(None, field(m, "/resource/currentAverageUtilization"),
                    field(m, "/resource/currentAverageValue")),
            }),
        )),
        "ContainerResource" => Some((
            "containerResource",
            json!({
                "name": field(m, "/containerResource/name"),
                "container": field(m, "/containerResource/container"),
                "current": current(None, field(m, "/containerResource/currentAverageUtilization"),
                    field(m, "/containerResource/currentAverageValue")),
            }),
        )),
        "Pods" => Some((
            "pods",
            json!({
                "metric": metric_id(field(m, "/pods/metricName"), field(m, "/pods/selector")),
                "current": current(None, None, field(m, "/pods/currentAverageValue")),
            }),
        )),
        "Object" => Some((
            "object",
            json!({
                "describedObject": field(m, "/object/target"),
                "metric": metric_id(field(m, "/object/metricName"), field(m, "/object/selector")),
                "current": current(field(m, "/object/currentValue"), None,
                    field(m, "/object/averageValue")),
            }),
        )),
        "External" => Some((
            "external",
            json!({
                "metric": metric_id(field(m, "/external/metricName"),
                    field(m, "/external/metricSelector")),
                "current": current(field(m, "/external/currentValue"), None,
                    field(m, "/external/currentAverageValue")),
            }),
        )),
        _ => None,
    };
    let mut out = json!({ "type": ty });
    if let Some((k, v)) = body {
        out[k] = v;
    }
    out
}

/// `v` without null members, recursively.
fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        other => other,
    }
}

/// `camelCase` keys → Go's exported field names (`ScaleUp`), recursively.
fn go_names(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let mut c = k.chars();
                    let name = match c.next() {
                        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                        None => String::new(),
                    };
                    (name, go_names(v))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(go_names).collect()),
        other => other.clone(),
    }
}

/// The behavior annotation's Go names back to v2's JSON names (matched
/// case-insensitively, as Go reads them); nulls dropped.
fn behavior_from_go(v: &Value) -> Value {
    const NAMES: [&str; 9] = [
        "scaleUp",
        "scaleDown",
        "stabilizationWindowSeconds",
        "selectPolicy",
        "policies",
        "type",
        "value",
        "periodSeconds",
        "tolerance",
    ];
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .filter_map(|(k, v)| {
                    let name = NAMES.iter().find(|n| n.eq_ignore_ascii_case(k))?;
                    Some((name.to_string(), behavior_from_go(v)))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(behavior_from_go).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[path = "hpa_tests.rs"]
mod tests;
