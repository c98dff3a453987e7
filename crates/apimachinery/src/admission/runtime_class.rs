//! RuntimeClass (kube-apiserver's `RuntimeClass` admission plugin): a pod
//! naming a RuntimeClass gets the class's `overhead.podFixed` as its
//! `spec.overhead` and the class's `scheduling.nodeSelector` and
//! `tolerations` merged into its own; a conflicting node selector value
//! or overhead is refused, and so is a class that does not exist.

use serde_json::Value;

use super::Denied;
use crate::quantity::parse_milli;

fn class_name(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/runtimeClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
}

/// Whether two resource lists hold the same quantities.
fn same_resources(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let q = |v: &Value| v.as_str().and_then(parse_milli);
    a.len() == b.len()
        && a.iter()
            .all(|(k, v)| b.get(k).is_some_and(|w| q(v).is_some() && q(v) == q(w)))
}

/// The mutating half, for a new pod; `class` is the RuntimeClass the pod
/// names, as found (`None` when it names none or it does not exist).
pub fn admit(pod: &mut Value, class: Option<&Value>) -> Result<(), Denied> {
    let Some(name) = class_name(pod) else {
        return Ok(());
    };
    let Some(class) = class else {
        return Err(Denied(format!(
            "pod rejected: RuntimeClass \"{name}\" not found"
        )));
    };
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    if let Some(fixed) = class
        .pointer("/overhead/podFixed")
        .filter(|v| v.is_object())
    {
        match spec.get("overhead").filter(|v| !v.is_null()) {
            Some(given) if !same_resources(given, fixed) => {
                return Err(Denied(
                    "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"
                        .into(),
                ))
            }
            _ => {
                spec.insert("overhead".into(), fixed.clone());
            }
        }
    }
    let Some(scheduling) = class.get("scheduling").filter(|v| v.is_object()) else {
        return Ok(());
    };
    if let Some(wanted) = scheduling.get("nodeSelector").and_then(Value::as_object) {
        let mut selector = spec
            .get("nodeSelector")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (key, value) in wanted {
            match selector.get(key) {
                Some(have) if have != value => {
                    return Err(Denied(format!(
                        "conflict: runtimeClass.scheduling.nodeSelector[{key}] = {}; pod.spec.nodeSelector[{key}] = {}",
                        value.as_str().unwrap_or_default(),
                        have.as_str().unwrap_or_default()
                    )))
                }
                _ => {
                    selector.insert(key.clone(), value.clone());
                }
            }
        }
        if !selector.is_empty() {
            spec.insert("nodeSelector".into(), Value::Object(selector));
        }
    }
    if let Some(extra) = scheduling.get("tolerations").and_then(Value::as_array) {
        let own = spec
            .get("tolerations")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let merged = merge_tolerations(&own, extra);
        if !merged.is_empty() {
            spec.insert("tolerations".into(), Value::Array(merged));
        }
    }
    Ok(())
}

/// The validating half: a pod's overhead must be its class's, and a pod
/// whose class defines none may not set one.
pub fn validate(pod: &Value, class: Option<&Value>) -> Result<(), Denied> {
    let given = pod.pointer("/spec/overhead").filter(|v| !v.is_null());
    let fixed = class_name(pod)
        .and(class)
        .and_then(|c| c.pointer("/overhead/podFixed"))
        .filter(|v| v.is_object());
    match (fixed, given) {
        (Some(fixed), Some(given)) if same_resources(fixed, given) => Ok(()),
        (Some(_), _) => Err(Denied(
            "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead".into(),
        )),
        (None, Some(_)) => Err(Denied(
            "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"
                .into(),
        )),
        (None, None) => Ok(()),
    }
}

fn field<'a>(t: &'a Value, name: &str) -> &'a str {
    t.get(name).and_then(Value::as_str).unwrap_or("")
}

/// Whether toleration `ss` tolerates everything `t` does.
fn is_superset(ss: &Value, t: &Value) -> bool {
    if ss == t {
        return true;
    }
    if field(t, "key") != field(ss, "key") && !field(ss, "key").is_empty() {
        return false;
    }
    let effect = field(ss, "effect");
    if !effect.is_empty() && effect != field(t, "effect") {
        return false;
    }
    if effect == "NoExecute" {
        if let Some(limit) = ss.get("tolerationSeconds").and_then(Value::as_i64) {
            match t.get("tolerationSeconds").and_then(Value::as_i64) {
                Some(s) if s <= limit => {}
                _ => return false,
            }
        }
    }
    match field(ss, "operator") {
        "Exists" => true,
        _ => {
            matches!(field(t, "operator"), "" | "Equal")
                && field(t, "value") == field(ss, "value")
                && field(t, "key") == field(ss, "key")
        }
    }
}

/// `first` then `second`, leaving out every toleration another one
/// already covers (equal ones: the first is kept).
pub fn merge_tolerations(first: &[Value], second: &[Value]) -> Vec<Value> {
    let all: Vec<&Value> = first.iter().chain(second).collect();
    let mut merged: Vec<Value> = Vec::new();
    'next: for (i, t) in all.iter().enumerate() {
        if merged.iter().any(|m| is_superset(m, t)) {
            continue;
        }
        for later in &all[i + 1..] {
            if later != t && is_superset(later, t) {
                continue 'next;
            }
        }
        merged.push((*t).clone());
    }
    merged
}

/// A map of a pod's node selector, for tests.
#[cfg(test)]
fn selector(pod: &Value) -> serde_json::Map<String, Value> {
    pod.pointer("/spec/nodeSelector")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn class() -> Value {
        json!({"handler": "runc", "overhead": {"podFixed": {"cpu": "250m", "memory": "120Mi"}},
            "scheduling": {"nodeSelector": {"sandbox": "gvisor"},
                "tolerations": [{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}]}})
    }

    #[test]
    fn merges_scheduling_and_sets_overhead() {
        let mut pod = json!({"spec": {"runtimeClassName": "gvisor", "nodeSelector": {"zone": "a"},
            "tolerations": [{"key": "sandbox", "operator": "Equal", "value": "x", "effect": "NoSchedule"}],
            "containers": [{"name": "c", "image": "i"}]}});
        assert_eq!(admit(&mut pod, Some(&class())), Ok(()));
        assert_eq!(
            pod["spec"]["overhead"],
            json!({"cpu": "250m", "memory": "120Mi"})
        );
        assert_eq!(selector(&pod).len(), 2);
        // The class's Exists toleration covers the pod's Equal one.
        assert_eq!(
            pod["spec"]["tolerations"],
            json!([{"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}])
        );
        assert_eq!(validate(&pod, Some(&class())), Ok(()));
    }

    #[test]
    fn conflicts_and_missing_classes_are_refused() {
        let mut pod =
            json!({"spec": {"runtimeClassName": "gvisor", "nodeSelector": {"sandbox": "kata"}}});
        assert_eq!(
            admit(&mut pod, Some(&class())),
            Err(Denied("conflict: runtimeClass.scheduling.nodeSelector[sandbox] = gvisor; pod.spec.nodeSelector[sandbox] = kata".into()))
        );
        let mut pod = json!({"spec": {"runtimeClassName": "gvisor", "overhead": {"cpu": "1"}}});
        assert!(admit(&mut pod, Some(&class())).is_err());
        let mut pod = json!({"spec": {"runtimeClassName": "nope"}});
        assert_eq!(
            admit(&mut pod, None),
            Err(Denied(
                "pod rejected: RuntimeClass \"nope\" not found".into()
            ))
        );
        let pod = json!({"spec": {"overhead": {"cpu": "1"}}});
        assert!(validate(&pod, None).is_err());
    }
}
