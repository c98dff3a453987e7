//! Label selectors (`matchLabels` and `matchExpressions`) as Kubernetes
//! evaluates them: every term must hold; an empty selector matches
//! everything; an operator it does not know matches nothing.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// Whether `selector` selects an object with `labels`.
pub fn matches(selector: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    let by_label = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(k, v)| labels.get(k) == Some(v));
    by_label
        && selector.match_expressions.iter().flatten().all(|e| {
            let values = e.values.as_deref().unwrap_or_default();
            let value = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => value.is_some_and(|v| values.contains(v)),
                "NotIn" => value.is_none_or(|v| !values.contains(v)),
                "Exists" => value.is_some(),
                "DoesNotExist" => value.is_none(),
                _ => false,
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    #[test]
    fn empty_selects_all_and_terms_are_anded() {
        assert!(matches(&LabelSelector::default(), &labels(&[])));
        let s = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![expr("tier", "In", &["a", "b"])]),
        };
        assert!(matches(&s, &labels(&[("app", "web"), ("tier", "b")])));
        assert!(!matches(&s, &labels(&[("app", "web"), ("tier", "c")])));
        assert!(!matches(&s, &labels(&[("tier", "a")])));
    }

    #[test]
    fn operators() {
        let l = labels(&[("env", "prod")]);
        assert!(matches(&sel(expr("env", "NotIn", &["dev"])), &l));
        assert!(matches(&sel(expr("x", "NotIn", &["dev"])), &l));
        assert!(!matches(&sel(expr("env", "NotIn", &["prod"])), &l));
        assert!(matches(&sel(expr("env", "Exists", &[])), &l));
        assert!(!matches(&sel(expr("env", "DoesNotExist", &[])), &l));
        assert!(!matches(&sel(expr("env", "Bogus", &[])), &l));
    }

    fn sel(e: LabelSelectorRequirement) -> LabelSelector {
        LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![e]),
        }
    }
}
