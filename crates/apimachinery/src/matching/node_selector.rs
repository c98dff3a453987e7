//! Node selector terms, a pod's `nodeSelector` and its required node
//! affinity, against a node.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelectorRequirement, NodeSelectorTerm, PodSpec};

fn labels(node: &Node) -> &BTreeMap<String, String> {
    static EMPTY: BTreeMap<String, String> = BTreeMap::new();
    node.metadata.labels.as_ref().unwrap_or(&EMPTY)
}

/// `requirement` against a value (`None`: the label is absent).
pub fn node_selector_requirement_matches(r: &NodeSelectorRequirement, value: Option<&str>) -> bool {
    let values = r.values.as_deref().unwrap_or(&[]);
    let number = |s: &str| s.parse::<i64>().ok();
    match r.operator.as_str() {
        "In" => value.is_some_and(|v| values.iter().any(|x| x == v)),
        "NotIn" => value.is_none_or(|v| !values.iter().any(|x| x == v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), Some(bound)) = (
                value.and_then(number),
                values.first().and_then(|b| number(b)),
            ) else {
                return false;
            };
            if r.operator == "Gt" {
                v > bound
            } else {
                v < bound
            }
        }
        _ => false,
    }
}

/// A node selector term: every expression on labels and on fields holds
/// (an empty term matches nothing, as in Kubernetes; the only field is
/// `metadata.name`).
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let l = labels(node);
    exprs
        .iter()
        .all(|r| node_selector_requirement_matches(r, l.get(&r.key).map(String::as_str)))
        && fields.iter().all(|r| {
            let v = if r.key == "metadata.name" {
                node.metadata.name.as_deref()
            } else {
                None
            };
            node_selector_requirement_matches(r, v)
        })
}

/// The pod's `nodeSelector` and required node affinity (any of its terms)
/// hold on `node`.
pub fn node_affinity_matches(spec: Option<&PodSpec>, node: &Node) -> bool {
    let Some(spec) = spec else {
        return true;
    };
    if let Some(selector) = &spec.node_selector {
        let l = labels(node);
        if !selector.iter().all(|(k, v)| l.get(k) == Some(v)) {
            return false;
        }
    }
    let required = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        });
    required.is_none_or(|r| r.node_selector_terms.iter().any(|t| term_matches(t, node)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Node {
        serde_json::from_value(json!({
            "metadata": {"name": "n1", "labels": {"disk": "ssd", "gen": "5"}}
        }))
        .expect("node")
    }

    fn spec(v: serde_json::Value) -> PodSpec {
        serde_json::from_value(v).expect("pod spec")
    }

    fn aff(terms: serde_json::Value) -> PodSpec {
        spec(json!({"containers": [],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}}}}))
    }

    #[test]
    fn node_selector_and_required_terms() {
        let n = node();
        let sel = |s: serde_json::Value| spec(json!({"containers": [], "nodeSelector": s}));
        assert!(node_affinity_matches(
            Some(&sel(json!({"disk": "ssd"}))),
            &n
        ));
        assert!(!node_affinity_matches(
            Some(&sel(json!({"disk": "hdd"}))),
            &n
        ));
        assert!(node_affinity_matches(None, &n));
        let gt =
            aff(json!([{"matchExpressions": [{"key": "gen", "operator": "Gt", "values": ["4"]}]}]));
        assert!(node_affinity_matches(Some(&gt), &n));
        let lt =
            aff(json!([{"matchExpressions": [{"key": "gen", "operator": "Lt", "values": ["4"]}]}]));
        assert!(!node_affinity_matches(Some(&lt), &n));
        // Terms are ORed; matchFields reads metadata.name.
        let ored = aff(json!([
            {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]));
        assert!(node_affinity_matches(Some(&ored), &n));
        let zone = aff(json!([{"matchExpressions": [{"key": "zone", "operator": "Exists"}]}]));
        assert!(!node_affinity_matches(Some(&zone), &n));
    }

    #[test]
    fn an_empty_term_matches_nothing() {
        assert!(!term_matches(&NodeSelectorTerm::default(), &node()));
    }
}
