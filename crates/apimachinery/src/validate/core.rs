//! core/v1 kinds with pod templates (`ValidatePodTemplate`,
//! `ValidateReplicationController` in `pkg/apis/core/validation`).

use serde_json::Value;

use super::pod;
use crate::cause::Cause;
use crate::validation::validate_labels;

fn non_negative(spec: &Value, field: &str, causes: &mut Vec<Cause>) {
    if let Some(n) = spec.get(field).and_then(Value::as_i64).filter(|n| *n < 0) {
        causes.push(Cause::invalid(
            format!("spec.{field}"),
            n,
            "must be greater than or equal to 0",
        ));
    }
}

/// A PodTemplate: its template's labels and pod spec (any restart policy).
pub fn pod_template(obj: &Value) -> Vec<Cause> {
    let mut causes = validate_labels(
        obj.pointer("/template/metadata/labels"),
        "template.metadata.labels",
    );
    causes.extend(pod::spec(
        obj.pointer("/template/spec"),
        "template.spec",
        pod::RESTART_ANY,
    ));
    causes
}

/// A ReplicationController: a non-empty selector (a plain map) that the
/// template's labels match, replicas and minReadySeconds not negative, a
/// template whose pods always restart and have no deadline.
pub fn replication_controller(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = obj.get("spec") else {
        causes.push(Cause::required("spec", ""));
        return causes;
    };
    non_negative(spec, "minReadySeconds", &mut causes);
    let selector = spec
        .get("selector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    if selector.is_none() {
        causes.push(Cause::required("spec.selector", ""));
    }
    non_negative(spec, "replicas", &mut causes);
    let Some(template) = spec.get("template").filter(|t| t.is_object()) else {
        causes.push(Cause::required("spec.template", ""));
        return causes;
    };
    let labels = template.pointer("/metadata/labels");
    if let Some(sel) = selector {
        let matches = sel
            .iter()
            .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v));
        if !matches {
            causes.push(Cause::invalid(
                "spec.template.metadata.labels",
                labels.cloned().unwrap_or(Value::Null),
                "`selector` does not match template `labels`",
            ));
        }
    }
    causes.extend(validate_labels(labels, "spec.template.metadata.labels"));
    causes.extend(pod::spec(
        template.get("spec"),
        "spec.template.spec",
        &["Always"],
    ));
    if template
        .pointer("/spec/activeDeadlineSeconds")
        .is_some_and(|v| !v.is_null())
    {
        causes.push(Cause::forbidden(
            "spec.template.spec.activeDeadlineSeconds",
            "activeDeadlineSeconds in ReplicationController is not Supported",
        ));
    }
    causes
}
