//! Selector objects inside specs, validated as kube-apiserver does:
//! a `LabelSelector` (`metav1validation.ValidateLabelSelector`), a
//! `NodeSelector` with its terms (`ValidateNodeSelector`, used by a
//! PersistentVolume's node affinity) and a `TopologySelectorTerm`
//! (`ValidateTopologySelectorTerm`, a StorageClass's allowed topologies).
//! Matching objects against selectors lives in `crate::matching`.

use serde_json::Value;

use crate::cause::Cause;
use crate::validation::{is_label_value, is_qualified_name, validate_labels};

fn values(v: &Value) -> Vec<&Value> {
    v.get("values")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

fn label_name(key: &str, field: &str, causes: &mut Vec<Cause>) {
    for msg in is_qualified_name(key) {
        causes.push(Cause::invalid(field, key, &msg));
    }
}

fn label_values(values: &[&Value], field: &str, causes: &mut Vec<Cause>) {
    for (i, v) in values.iter().enumerate() {
        let s = v.as_str().unwrap_or_default();
        for msg in is_label_value(s) {
            causes.push(Cause::invalid(format!("{field}[{i}]"), s, &msg));
        }
    }
}

/// A `LabelSelector` at `field`: matchLabels are labels; each
/// matchExpression has an operator that fits its values, a label key and
/// label values.
pub fn label_selector(selector: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(selector) = selector.filter(|s| !s.is_null()) else {
        return causes;
    };
    causes.extend(validate_labels(
        selector.get("matchLabels"),
        &format!("{field}.matchLabels"),
    ));
    let exprs = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, e) in exprs.iter().enumerate() {
        let at = format!("{field}.matchExpressions[{i}]");
        let vals = values(e);
        match e.get("operator").and_then(Value::as_str).unwrap_or("") {
            "In" | "NotIn" if vals.is_empty() => causes.push(Cause::required(
                format!("{at}.values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !vals.is_empty() => causes.push(Cause::forbidden(
                format!("{at}.values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            op => causes.push(Cause::invalid(
                format!("{at}.operator"),
                op,
                "not a valid selector operator",
            )),
        }
        label_name(
            e.get("key").and_then(Value::as_str).unwrap_or(""),
            &format!("{at}.key"),
            &mut causes,
        );
        label_values(&vals, &format!("{at}.values"), &mut causes);
    }
    causes
}

/// A `NodeSelector` at `field`: at least one term; each term's
/// matchExpressions (operators In, NotIn, Exists, DoesNotExist, Gt, Lt)
/// and matchFields (`metadata.name` only, In or NotIn with one value).
pub fn node_selector(selector: &Value, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let terms_field = format!("{field}.nodeSelectorTerms");
    let terms = selector
        .get("nodeSelectorTerms")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if terms.is_empty() {
        causes.push(Cause::required(
            terms_field,
            "must have at least one node selector term",
        ));
        return causes;
    }
    for (t, term) in terms.iter().enumerate() {
        let term_field = format!("{terms_field}[{t}]");
        let exprs = term
            .get("matchExpressions")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (j, req) in exprs.iter().enumerate() {
            node_requirement(
                req,
                &format!("{term_field}.matchExpressions[{j}]"),
                &mut causes,
            );
        }
        let fields = term
            .get("matchFields")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for (j, req) in fields.iter().enumerate() {
            field_requirement(req, &format!("{term_field}.matchFields[{j}]"), &mut causes);
        }
    }
    causes
}

fn node_requirement(req: &Value, at: &str, causes: &mut Vec<Cause>) {
    let vals = values(req);
    match req.get("operator").and_then(Value::as_str).unwrap_or("") {
        "In" | "NotIn" if vals.is_empty() => causes.push(Cause::required(
            format!("{at}.values"),
            "must be specified when `operator` is 'In' or 'NotIn'",
        )),
        "Exists" | "DoesNotExist" if !vals.is_empty() => causes.push(Cause::forbidden(
            format!("{at}.values"),
            "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
        )),
        "Gt" | "Lt" if vals.len() != 1 => causes.push(Cause::required(
            format!("{at}.values"),
            "must be specified single value when `operator` is 'Lt' or 'Gt'",
        )),
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => {}
        op => causes.push(Cause::invalid(
            format!("{at}.operator"),
            op,
            "not a valid selector operator",
        )),
    }
    label_name(
        req.get("key").and_then(Value::as_str).unwrap_or(""),
        &format!("{at}.key"),
        causes,
    );
    label_values(&vals, &format!("{at}.values"), causes);
}

fn field_requirement(req: &Value, at: &str, causes: &mut Vec<Cause>) {
    let vals = values(req);
    match req.get("operator").and_then(Value::as_str).unwrap_or("") {
        "In" | "NotIn" if vals.len() != 1 => causes.push(Cause::required(
            format!("{at}.values"),
            "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
        )),
        "In" | "NotIn" => {}
        op => causes.push(Cause::invalid(
            format!("{at}.operator"),
            op,
            "not a valid selector operator",
        )),
    }
    let key = req.get("key").and_then(Value::as_str).unwrap_or("");
    if key != "metadata.name" {
        causes.push(Cause::invalid(
            format!("{at}.key"),
            key,
            "not a valid field selector key",
        ));
    }
}

/// A `TopologySelectorTerm` at `field`: each label requirement has values
/// (no duplicates) and a label key, and no key appears twice. Returns the
/// term as key → sorted values (to find duplicate terms) and the causes.
pub fn topology_term(term: &Value, field: &str) -> (Vec<(String, Vec<String>)>, Vec<Cause>) {
    let mut causes = Vec::new();
    let mut keys: Vec<(String, Vec<String>)> = Vec::new();
    let exprs = term
        .get("matchLabelExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, req) in exprs.iter().enumerate() {
        let at = format!("{field}.matchLabelExpressions[{i}]");
        let vals = values(req);
        if vals.is_empty() {
            causes.push(Cause::required(format!("{at}.values"), ""));
        }
        let mut set: Vec<String> = Vec::new();
        for (j, v) in vals.iter().enumerate() {
            let s = v.as_str().unwrap_or_default().to_string();
            if set.contains(&s) {
                causes.push(Cause::duplicate(format!("{at}.values[{j}]"), s.as_str()));
            }
            set.push(s);
        }
        let key = req.get("key").and_then(Value::as_str).unwrap_or("");
        label_name(key, &format!("{at}.key"), &mut causes);
        if keys.iter().any(|(k, _)| k == key) {
            causes.push(Cause::duplicate(format!("{at}.key"), key));
        }
        set.sort();
        set.dedup();
        keys.push((key.to_string(), set));
    }
    keys.sort();
    (keys, causes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn texts(causes: Vec<Cause>) -> Vec<String> {
        causes.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn label_selector_operators_need_fitting_values() {
        let sel = json!({"matchLabels": {"a": "b"}, "matchExpressions": [
            {"key": "x", "operator": "In"},
            {"key": "y", "operator": "Exists", "values": ["1"]},
            {"key": "z", "operator": "Near", "values": ["1"]},
            {"key": "ok", "operator": "NotIn", "values": ["bad value"]},
        ]});
        let got = texts(label_selector(Some(&sel), "spec.selector"));
        assert_eq!(got[0], "spec.selector.matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'");
        assert_eq!(got[1], "spec.selector.matchExpressions[1].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'");
        assert_eq!(got[2], "spec.selector.matchExpressions[2].operator: Invalid value: \"Near\": not a valid selector operator");
        assert!(got[3].starts_with(
            "spec.selector.matchExpressions[3].values[0]: Invalid value: \"bad value\""
        ));
        assert_eq!(got.len(), 4);
        assert!(label_selector(None, "s").is_empty());
    }

    #[test]
    fn node_selectors_need_terms() {
        assert_eq!(
            texts(node_selector(&json!({}), "spec.nodeAffinity.required")),
            ["spec.nodeAffinity.required.nodeSelectorTerms: Required value: must have at least one node selector term"]
        );
        let sel = json!({"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1"]},
            {"key": "size", "operator": "Gt", "values": ["1", "2"]}],
            "matchFields": [{"key": "spec.x", "operator": "In", "values": ["a"]}]}]});
        assert_eq!(
            texts(node_selector(&sel, "r")),
            [
                "r.nodeSelectorTerms[0].matchExpressions[1].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
                "r.nodeSelectorTerms[0].matchFields[0].key: Invalid value: \"spec.x\": not a valid field selector key",
            ]
        );
    }

    #[test]
    fn topology_terms_have_unique_keys_and_values() {
        let term = json!({"matchLabelExpressions": [
            {"key": "zone", "values": ["a", "a"]},
            {"key": "zone", "values": []}]});
        let (_, causes) = topology_term(&term, "allowedTopologies[0]");
        assert_eq!(
            texts(causes),
            [
                "allowedTopologies[0].matchLabelExpressions[0].values[1]: Duplicate value: \"a\"",
                "allowedTopologies[0].matchLabelExpressions[1].values: Required value",
                "allowedTopologies[0].matchLabelExpressions[1].key: Duplicate value: \"zone\"",
            ]
        );
    }
}
