//! LimitRanger: the `Container` items of a namespace's LimitRanges give
//! containers without requests or limits their `defaultRequest` and
//! `default`, then bound them by `min` and `max` (403 otherwise, with
//! kube-apiserver's wording).

use serde_json::{json, Map, Value};

use super::Denied;
use crate::quantity::parse_milli;

/// The `Container` items of `ranges`.
fn container_items(ranges: &[Value]) -> impl Iterator<Item = &Value> {
    ranges
        .iter()
        .flat_map(|r| {
            r.pointer("/spec/limits")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .filter(|i| i.get("type").and_then(Value::as_str) == Some("Container"))
}

fn containers_mut(pod: &mut Value) -> Vec<&mut Value> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Vec::new();
    };
    spec.iter_mut()
        .filter(|(k, _)| *k == "containers" || *k == "initContainers")
        .flat_map(|(_, v)| v.as_array_mut().into_iter().flatten())
        .collect()
}

/// Fills in default limits and requests.
pub fn apply_defaults(pod: &mut Value, ranges: &[Value]) {
    let items: Vec<Value> = container_items(ranges).cloned().collect();
    if items.is_empty() {
        return;
    }
    for c in containers_mut(pod) {
        let Some(c) = c.as_object_mut() else { continue };
        let resources = c.entry("resources").or_insert_with(|| json!({}));
        let Some(resources) = resources.as_object_mut() else {
            continue;
        };
        for item in &items {
            for (from, to) in [("default", "limits"), ("defaultRequest", "requests")] {
                let Some(defaults) = item.get(from).and_then(Value::as_object) else {
                    continue;
                };
                let target = resources.entry(to).or_insert_with(|| json!({}));
                if let Some(t) = target.as_object_mut() {
                    for (res, q) in defaults {
                        t.entry(res.clone()).or_insert_with(|| q.clone());
                    }
                }
            }
        }
        // A request defaults to its limit when only the limit is set.
        let limits: Map<String, Value> = resources
            .get("limits")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(requests) = resources
            .entry("requests")
            .or_insert_with(|| json!({}))
            .as_object_mut()
        {
            for (res, q) in limits {
                requests.entry(res).or_insert(q);
            }
        }
        resources.retain(|_, v| v.as_object().is_none_or(|m| !m.is_empty()));
    }
}

/// Refuses containers outside the ranges' `min`/`max`.
pub fn check(pod: &Value, ranges: &[Value]) -> Result<(), Denied> {
    let containers = ["containers", "initContainers"].iter().flat_map(|k| {
        pod.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
    });
    let mut problems = Vec::new();
    for c in containers {
        for item in container_items(ranges) {
            for (bound, what) in [("max", "maximum"), ("min", "minimum")] {
                let Some(bounds) = item.get(bound).and_then(Value::as_object) else {
                    continue;
                };
                for (res, b) in bounds {
                    let b_str = b.as_str().unwrap_or("");
                    let Some(limit) = parse_milli(b_str) else {
                        continue;
                    };
                    for (field, kind) in [("limits", "limit"), ("requests", "request")] {
                        if bound == "max" && field == "requests" {
                            continue;
                        }
                        let value = c
                            .pointer(&format!("/resources/{field}/{res}"))
                            .and_then(Value::as_str);
                        let v = value.and_then(parse_milli);
                        let bad = match (bound, v) {
                            ("max", Some(v)) => v > limit,
                            ("max", None) => true,
                            (_, Some(v)) => v < limit,
                            (_, None) => false,
                        };
                        if bad {
                            problems.push(match value {
                                Some(value) => format!(
                                    "{what} {res} usage per Container is {b_str}, but {kind} is {value}"
                                ),
                                None => format!(
                                    "{what} {res} usage per Container is {b_str}.  No {kind} is specified"
                                ),
                            });
                        }
                    }
                }
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Denied(problems.join(", ")))
    }
}
