//! ResourceQuota admission, the pure part: what a new object adds to a
//! namespace's usage (`count/<resource>`, `pods`, `requests.cpu`, ...),
//! whether a quota allows it (kube-apiserver's `exceeded quota: …`), and
//! the quota's new `status.used`. The API server writes that status with
//! the quota's resourceVersion as a precondition before it stores the
//! object, so two writers cannot both take the last unit.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::Denied;
use crate::quantity::{format_milli, parse_milli};

/// Usage by resource name, in thousandths.
pub type Usage = BTreeMap<String, i128>;

fn add(u: &mut Usage, k: &str, v: i128) {
    *u.entry(k.to_string()).or_insert(0) += v;
}

/// A pod's request or limit (`field`) of `res`: the sum over its
/// containers, or its largest init container's if that is more.
fn pod_resources(pod: &Value, field: &str, res: &str) -> i128 {
    let amounts = |key: &str| {
        pod.pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(move |c| {
                c.pointer(&format!("/resources/{field}/{res}"))
                    .and_then(Value::as_str)
            })
            .filter_map(parse_milli)
    };
    let sum: i128 = amounts("containers").sum();
    sum.max(amounts("initContainers").max().unwrap_or(0))
}

/// Whether `obj` still counts (pods that finished do not).
pub fn counts(group: &str, plural: &str, obj: &Value) -> bool {
    !(matches!((group, plural), ("", "pods"))
        && matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        ))
}

/// What creating `obj` (of `group`/`plural`) uses.
pub fn usage_of(group: &str, plural: &str, obj: &Value) -> Usage {
    let mut u = Usage::new();
    let count = if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    };
    add(&mut u, &count, 1000);
    if group.is_empty() {
        if matches!(
            plural,
            "pods"
                | "services"
                | "configmaps"
                | "secrets"
                | "persistentvolumeclaims"
                | "resourcequotas"
        ) {
            add(&mut u, plural, 1000);
        }
        match plural {
            "pods" => {
                for res in ["cpu", "memory", "ephemeral-storage"] {
                    let req = pod_resources(obj, "requests", res);
                    let lim = pod_resources(obj, "limits", res);
                    add(&mut u, &format!("requests.{res}"), req);
                    add(&mut u, res, req);
                    add(&mut u, &format!("limits.{res}"), lim);
                }
            }
            "services" => match obj.pointer("/spec/type").and_then(Value::as_str) {
                Some("LoadBalancer") => add(&mut u, "services.loadbalancers", 1000),
                Some("NodePort") => add(&mut u, "services.nodeports", 1000),
                _ => {}
            },
            _ => {}
        }
    }
    u
}

/// Containers lacking a request or limit a quota tracks
/// (`must specify limits.cpu for: c`).
fn missing(pod: &Value, hard: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for key in [
        "limits.cpu",
        "limits.memory",
        "requests.cpu",
        "requests.memory",
        "cpu",
        "memory",
    ] {
        if !hard.contains_key(key) {
            continue;
        }
        let (field, res) = match key.split_once('.') {
            Some((f, r)) => (f, r),
            None => ("requests", key),
        };
        let lacking: Vec<&str> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|c| c.pointer(&format!("/resources/{field}/{res}")).is_none())
            .filter_map(|c| c.get("name").and_then(Value::as_str))
            .collect();
        if !lacking.is_empty() {
            out.push(format!("{key} for: {}", lacking.join(",")));
        }
    }
    out
}

/// Checks `usage` against `quota`; returns its new `status` (hard and
/// used), or the refusal. `existing` is the current usage of the keys the
/// server counted itself (the other keys come from `status.used`).
pub fn admit(
    quota: &Value,
    existing: &Usage,
    usage: &Usage,
    obj: &Value,
    is_pod: bool,
) -> Result<Option<Value>, Denied> {
    let name = quota
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let Some(hard) = quota.pointer("/spec/hard").and_then(Value::as_object) else {
        return Ok(None);
    };
    let tracked: Vec<(&String, i128)> = usage
        .iter()
        .filter(|(k, v)| hard.contains_key(*k) && **v != 0)
        .map(|(k, v)| (k, *v))
        .collect();
    if is_pod {
        let lacking = missing(obj, hard);
        if !lacking.is_empty() {
            return Err(Denied(format!(
                "failed quota: {name}: must specify {}",
                lacking.join("; ")
            )));
        }
    }
    if tracked.is_empty() {
        return Ok(None);
    }
    let used_now = |k: &str| -> i128 {
        existing.get(k).copied().unwrap_or_else(|| {
            quota
                .pointer("/status/used")
                .and_then(|u| u.get(k))
                .and_then(Value::as_str)
                .and_then(parse_milli)
                .unwrap_or(0)
        })
    };
    // (resource, requested, used, limit) of each resource past its limit.
    struct Over<'a> {
        name: &'a str,
        requested: i128,
        used: i128,
        limit: i128,
    }
    let over: Vec<Over<'_>> = tracked
        .iter()
        .filter_map(|(k, v)| {
            let limit = hard.get(*k).and_then(Value::as_str).and_then(parse_milli)?;
            let used = used_now(k);
            (used + v > limit).then_some(Over {
                name: k.as_str(),
                requested: *v,
                used,
                limit,
            })
        })
        .collect();
    if !over.is_empty() {
        let list = |f: fn(&Over<'_>) -> i128| -> String {
            over.iter()
                .map(|o| format!("{}={}", o.name, format_milli(f(o))))
                .collect::<Vec<_>>()
                .join(",")
        };
        return Err(Denied(format!(
            "exceeded quota: {name}, requested: {}, used: {}, limited: {}",
            list(|o| o.requested),
            list(|o| o.used),
            list(|o| o.limit)
        )));
    }
    let mut used = quota
        .pointer("/status/used")
        .cloned()
        .unwrap_or_else(|| json!({}));
    for (k, v) in tracked {
        used[k.as_str()] = json!(format_milli(used_now(k) + v));
    }
    Ok(Some(json!({"hard": hard, "used": used})))
}
