//! The Priority admission plugin: a new pod's `spec.priority` (and
//! `preemptionPolicy`) come from its `priorityClassName`, or from the
//! global-default PriorityClass (whose name it then gets), or 0. An unknown
//! class, or an integer priority the class does not give, is refused.
//!
//! The two classes kube-apiserver creates, `system-cluster-critical` and
//! `system-node-critical`, are known here even when not stored.

use serde_json::{json, Value};

use super::Denied;

/// The built-in classes: name and value.
pub const SYSTEM_CLASSES: &[(&str, i64)] = &[
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

fn class_value(c: &Value) -> i64 {
    c.get("value").and_then(Value::as_i64).unwrap_or(0)
}

/// What the pod's class gives: name, value, preemption policy.
fn resolve(pod: &Value, classes: &[Value]) -> Result<Option<(String, i64, String)>, Denied> {
    let policy = |c: &Value| {
        c.get("preemptionPolicy")
            .and_then(Value::as_str)
            .unwrap_or("PreemptLowerPriority")
            .to_string()
    };
    let name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty());
    match name {
        Some(name) => {
            if let Some(c) = classes
                .iter()
                .find(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
            {
                return Ok(Some((name.to_string(), class_value(c), policy(c))));
            }
            if let Some((_, v)) = SYSTEM_CLASSES.iter().find(|(n, _)| *n == name) {
                return Ok(Some((name.to_string(), *v, "PreemptLowerPriority".into())));
            }
            Err(Denied(format!(
                "no PriorityClass with name {name} was found"
            )))
        }
        None => Ok(classes
            .iter()
            .filter(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true))
            .min_by_key(|c| class_value(c))
            .map(|c| {
                let n = c
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                (n.to_string(), class_value(c), policy(c))
            })),
    }
}

/// Sets the priority of a new pod, or refuses it.
pub fn admit(pod: &mut Value, classes: &[Value]) -> Result<(), Denied> {
    let resolved = resolve(pod, classes)?;
    let (name, value, policy) = match resolved {
        Some(r) => (Some(r.0), r.1, Some(r.2)),
        None => (None, 0, None),
    };
    if let Some(given) = pod.pointer("/spec/priority").and_then(Value::as_i64) {
        if given != value {
            return Err(Denied(format!(
                "the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {value} from the given PriorityClass name"
            )));
        }
    }
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    spec.insert("priority".into(), json!(value));
    if let Some(name) = name {
        spec.insert("priorityClassName".into(), json!(name));
    }
    if let Some(policy) = policy {
        spec.entry("preemptionPolicy").or_insert(json!(policy));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_give_priorities_and_unknown_ones_are_refused() {
        let classes = vec![
            json!({"metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "Never"}),
            json!({"metadata": {"name": "low"}, "value": 10, "globalDefault": true}),
        ];
        let mut p = json!({"spec": {"priorityClassName": "high"}});
        assert_eq!(admit(&mut p, &classes), Ok(()));
        assert_eq!(p["spec"]["priority"], 1000);
        assert_eq!(p["spec"]["preemptionPolicy"], "Never");
        let mut d = json!({"spec": {}});
        assert_eq!(admit(&mut d, &classes), Ok(()));
        assert_eq!(
            (
                d["spec"]["priority"].clone(),
                d["spec"]["priorityClassName"].clone()
            ),
            (json!(10), json!("low"))
        );
        let mut none = json!({"spec": {}});
        assert_eq!(admit(&mut none, &[]), Ok(()));
        assert_eq!(none["spec"]["priority"], 0);
        let mut sys = json!({"spec": {"priorityClassName": "system-node-critical"}});
        assert_eq!(admit(&mut sys, &[]), Ok(()));
        assert_eq!(sys["spec"]["priority"], 2_000_001_000);
        let mut bad = json!({"spec": {"priorityClassName": "nope"}});
        assert_eq!(
            admit(&mut bad, &classes),
            Err(Denied("no PriorityClass with name nope was found".into()))
        );
        let mut forged = json!({"spec": {"priority": 5}});
        assert!(admit(&mut forged, &[]).is_err());
    }
}
