//! Tolerations against taints.

use k8s_openapi::api::core::v1::{Taint, Toleration};

/// Whether `t` tolerates `taint`, by Kubernetes' rules (an empty effect
/// matches every effect; `Exists` with no key matches every taint).
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => key.is_empty() || key == taint.key,
        _ => {
            key == taint.key
                && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
    }
}

/// The first of `taints` whose effect `effects` holds and that no
/// toleration tolerates.
pub fn first_untolerated<'a>(
    taints: &'a [Taint],
    tolerations: &[Toleration],
    effects: impl Fn(&str) -> bool,
) -> Option<&'a Taint> {
    taints
        .iter()
        .filter(|t| effects(&t.effect))
        .find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn taint(v: serde_json::Value) -> Taint {
        serde_json::from_value(v).expect("taint")
    }

    fn toleration(v: serde_json::Value) -> Toleration {
        serde_json::from_value(v).expect("toleration")
    }

    #[test]
    fn operators_keys_values_and_effects() {
        let db = taint(json!({"key": "dedicated", "value": "db", "effect": "NoSchedule"}));
        assert!(tolerates(
            &toleration(json!({"key": "dedicated", "operator": "Equal", "value": "db"})),
            &db
        ));
        assert!(tolerates(
            &toleration(json!({"key": "dedicated", "value": "db"})),
            &db
        ));
        assert!(!tolerates(
            &toleration(json!({"key": "dedicated", "value": "web"})),
            &db
        ));
        assert!(tolerates(&toleration(json!({"operator": "Exists"})), &db));
        assert!(tolerates(
            &toleration(json!({"key": "dedicated", "operator": "Exists"})),
            &db
        ));
        assert!(!tolerates(
            &toleration(json!({"key": "dedicated", "operator": "Exists", "effect": "NoExecute"})),
            &db
        ));
    }

    #[test]
    fn the_first_untolerated_taint_of_the_effects_asked() {
        let taints = [
            taint(json!({"key": "soft", "effect": "PreferNoSchedule"})),
            taint(json!({"key": "a", "effect": "NoSchedule"})),
            taint(json!({"key": "b", "effect": "NoExecute"})),
        ];
        let hard = |e: &str| matches!(e, "NoSchedule" | "NoExecute");
        let tol = [toleration(json!({"key": "a", "operator": "Exists"}))];
        assert_eq!(
            first_untolerated(&taints, &tol, hard).map(|t| t.key.as_str()),
            Some("b")
        );
        assert_eq!(
            first_untolerated(&taints, &[], hard).map(|t| t.key.as_str()),
            Some("a")
        );
        let all = [toleration(json!({"operator": "Exists"}))];
        assert!(first_untolerated(&taints, &all, hard).is_none());
    }
}
