//! `metav1.LabelSelector` against an object's labels.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `labels` match `selector` (matchLabels and every
/// matchExpression). An empty selector matches everything; a missing one
/// nothing, as in Kubernetes.
pub fn label_selector_matches(
    selector: Option<&LabelSelector>,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(sel) = selector else {
        return false;
    };
    let get = |k: &str| labels.and_then(|l| l.get(k));
    let ml = sel
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| get(k) == Some(v));
    ml && sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        let have = get(&e.key);
        match e.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => have.is_none_or(|v| !values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn match_labels_and_expressions() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]
        }))
        .expect("selector");
        let labels = |v: serde_json::Value| -> BTreeMap<String, String> {
            serde_json::from_value(v).expect("labels")
        };
        let matches = label_selector_matches;
        assert!(matches(
            Some(&sel),
            Some(&labels(json!({"app": "web", "tier": "a"})))
        ));
        assert!(!matches(
            Some(&sel),
            Some(&labels(json!({"app": "web", "tier": "c"})))
        ));
        assert!(!matches(
            Some(&sel),
            Some(&labels(json!({"app": "web", "tier": "a", "canary": "1"})))
        ));
        assert!(matches(Some(&LabelSelector::default()), None));
        assert!(!matches(None, Some(&labels(json!({"app": "web"})))));
    }

    #[test]
    fn not_in_and_exists() {
        let sel: LabelSelector = serde_json::from_value(json!({
            "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]},
                                 {"key": "app", "operator": "Exists"}]
        }))
        .expect("selector");
        let labels = |v: serde_json::Value| -> BTreeMap<String, String> {
            serde_json::from_value(v).expect("labels")
        };
        assert!(label_selector_matches(
            Some(&sel),
            Some(&labels(json!({"app": "x"})))
        ));
        assert!(!label_selector_matches(
            Some(&sel),
            Some(&labels(json!({"app": "x", "tier": "db"})))
        ));
        assert!(!label_selector_matches(Some(&sel), None));
    }
}
