//! HorizontalPodAutoscaler validation (kube's
//! `pkg/apis/autoscaling/validation`), in the version the client wrote:
//! the target reference, the replica bounds, the metric specs (v2) or the
//! CPU target (v1), and the scaling rules of `behavior`.

use serde_json::Value;

use crate::cause::Cause;
use crate::quantity;
use crate::validation::is_path_segment_name;

/// The longest stabilization window (`MaxStabilizationWindowSeconds`).
const MAX_STABILIZATION_WINDOW: i64 = 3600;
/// The longest policy period (`MaxPeriodSeconds`).
const MAX_PERIOD: i64 = 1800;

/// Causes for an HPA (either version).
pub fn horizontal_pod_autoscaler(o: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = o.get("spec").unwrap_or(&Value::Null);
    reference(
        spec.get("scaleTargetRef"),
        "spec.scaleTargetRef",
        &mut causes,
    );
    let min = spec.get("minReplicas").and_then(Value::as_i64);
    if let Some(min) = min.filter(|m| *m < 1) {
        causes.push(Cause::invalid(
            "spec.minReplicas",
            min,
            "must be greater than or equal to 1",
        ));
    }
    let max = spec.get("maxReplicas").and_then(Value::as_i64).unwrap_or(0);
    if max < 1 {
        causes.push(Cause::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than 0",
        ));
    }
    if let Some(min) = min.filter(|m| *m > max) {
        let _ = min;
        causes.push(Cause::invalid(
            "spec.maxReplicas",
            max,
            "must be greater than or equal to `minReplicas`",
        ));
    }
    if o.get("apiVersion").and_then(Value::as_str) == Some("autoscaling/v1") {
        if let Some(t) = spec
            .get("targetCPUUtilizationPercentage")
            .and_then(Value::as_i64)
            .filter(|t| *t < 1)
        {
            causes.push(Cause::invalid(
                "spec.targetCPUUtilizationPercentage",
                t,
                "must be greater than 0",
            ));
        }
        return causes;
    }
    if let Some(metrics) = spec.get("metrics").and_then(Value::as_array) {
        for (i, m) in metrics.iter().enumerate() {
            metric(m, &format!("spec.metrics[{i}]"), &mut causes);
        }
    }
    if let Some(b) = spec.get("behavior").filter(|b| b.is_object()) {
        for dir in ["scaleUp", "scaleDown"] {
            if let Some(rules) = b.get(dir).filter(|r| r.is_object()) {
                scaling_rules(rules, &format!("spec.behavior.{dir}"), &mut causes);
            }
        }
    }
    causes
}

fn reference(r: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let kind = r.and_then(|r| r.get("kind")).and_then(Value::as_str);
    match kind {
        None | Some("") => causes.push(Cause::required(format!("{path}.kind"), "")),
        Some(k) => {
            for msg in is_path_segment_name(k) {
                causes.push(Cause::invalid(format!("{path}.kind"), k, &msg));
            }
        }
    }
    let name = r.and_then(|r| r.get("name")).and_then(Value::as_str);
    match name {
        None | Some("") => causes.push(Cause::required(format!("{path}.name"), "")),
        Some(n) => {
            for msg in is_path_segment_name(n) {
                causes.push(Cause::invalid(format!("{path}.name"), n, &msg));
            }
        }
    }
}

const METRIC_TYPES: [&str; 5] = [
    "ContainerResource",
    "External",
    "Object",
    "Pods",
    "Resource",
];

fn source_field(ty: &str) -> &'static str {
    match ty {
        "Object" => "object",
        "Pods" => "pods",
        "Resource" => "resource",
        "ContainerResource" => "containerResource",
        _ => "external",
    }
}

fn metric(m: &Value, path: &str, causes: &mut Vec<Cause>) {
    let ty = m.get("type").and_then(Value::as_str).unwrap_or("");
    if ty.is_empty() {
        causes.push(Cause::required(
            format!("{path}.type"),
            "must specify a metric source type",
        ));
        return;
    }
    if !METRIC_TYPES.contains(&ty) {
        causes.push(Cause::not_supported(
            format!("{path}.type"),
            ty,
            &METRIC_TYPES,
        ));
        return;
    }
    let own = source_field(ty);
    let set: Vec<&str> = [
        "object",
        "pods",
        "resource",
        "containerResource",
        "external",
    ]
    .into_iter()
    .filter(|f| m.get(*f).is_some_and(|v| !v.is_null()))
    .collect();
    if set.iter().any(|f| *f != own) {
        causes.push(Cause::forbidden(
            path.to_string(),
            "must populate the given metric source only",
        ));
    }
    let Some(src) = m.get(own).filter(|v| v.is_object()) else {
        causes.push(Cause::required(
            format!("{path}.{own}"),
            "must populate information for the given metric source",
        ));
        return;
    };
    let src_path = format!("{path}.{own}");
    match ty {
        "Resource" | "ContainerResource" => {
            if src
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                causes.push(Cause::required(
                    format!("{src_path}.name"),
                    "must specify a resource name",
                ));
            }
            if ty == "ContainerResource"
                && src
                    .get("container")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .is_empty()
            {
                causes.push(Cause::required(
                    format!("{src_path}.container"),
                    "must specify a container",
                ));
            }
            let t = src.get("target").unwrap_or(&Value::Null);
            target(t, &format!("{src_path}.target"), causes);
            let util = t.get("averageUtilization").is_some_and(|v| !v.is_null());
            let avg = t.get("averageValue").is_some_and(|v| !v.is_null());
            if !util && !avg {
                causes.push(Cause::required(
                    format!("{src_path}.target.averageUtilization"),
                    "must set either a target raw value or a target utilization",
                ));
            } else if util && avg {
                causes.push(Cause::forbidden(
                    format!("{src_path}.target.averageValue"),
                    "may not set both a target raw value and a target utilization",
                ));
            }
        }
        _ => {
            let name = src.pointer("/metric/name").and_then(Value::as_str);
            if name.unwrap_or("").is_empty() {
                causes.push(Cause::required(
                    format!("{src_path}.metric.name"),
                    "must specify a metric name",
                ));
            }
            if ty == "Object" {
                reference(
                    src.get("describedObject"),
                    &format!("{src_path}.describedObject"),
                    causes,
                );
            }
            let t = src.get("target").unwrap_or(&Value::Null);
            target(t, &format!("{src_path}.target"), causes);
        }
    }
}

fn target(t: &Value, path: &str, causes: &mut Vec<Cause>) {
    let ty = t.get("type").and_then(Value::as_str).unwrap_or("");
    if ty.is_empty() {
        causes.push(Cause::required(
            format!("{path}.type"),
            "must specify a metric target type",
        ));
    } else if !["Utilization", "Value", "AverageValue"].contains(&ty) {
        causes.push(Cause::invalid(
            format!("{path}.type"),
            ty,
            "must be either Utilization, Value, or AverageValue",
        ));
    }
    for f in ["value", "averageValue"] {
        if let Some(q) = t.get(f).and_then(Value::as_str) {
            if quantity::parse_milli(q).is_some_and(|v| v <= 0) {
                causes.push(Cause::invalid(format!("{path}.{f}"), q, "must be positive"));
            }
        }
    }
    if let Some(u) = t
        .get("averageUtilization")
        .and_then(Value::as_i64)
        .filter(|u| *u < 1)
    {
        causes.push(Cause::invalid(
            format!("{path}.averageUtilization"),
            u,
            "must be greater than 0",
        ));
    }
}

fn scaling_rules(r: &Value, path: &str, causes: &mut Vec<Cause>) {
    if let Some(w) = r.get("stabilizationWindowSeconds").and_then(Value::as_i64) {
        if w < 0 {
            causes.push(Cause::invalid(
                format!("{path}.stabilizationWindowSeconds"),
                w,
                "must be greater than or equal to zero",
            ));
        } else if w > MAX_STABILIZATION_WINDOW {
            causes.push(Cause::invalid(
                format!("{path}.stabilizationWindowSeconds"),
                w,
                &format!("must be less than or equal to {MAX_STABILIZATION_WINDOW}"),
            ));
        }
    }
    if let Some(p) = r.get("selectPolicy").and_then(Value::as_str) {
        if !["Max", "Min", "Disabled"].contains(&p) {
            causes.push(Cause::not_supported(
                format!("{path}.selectPolicy"),
                p,
                &["Disabled", "Max", "Min"],
            ));
        }
    }
    let policies = r
        .get("policies")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if policies.is_empty() {
        causes.push(Cause::required(
            format!("{path}.policies"),
            "must specify at least one Policy",
        ));
    }
    for (i, p) in policies.iter().enumerate() {
        let pp = format!("{path}.policies[{i}]");
        let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
        if !["Pods", "Percent"].contains(&ty) {
            causes.push(Cause::not_supported(
                format!("{pp}.type"),
                ty,
                &["Percent", "Pods"],
            ));
        }
        let value = p.get("value").and_then(Value::as_i64).unwrap_or(0);
        if value <= 0 {
            causes.push(Cause::invalid(
                format!("{pp}.value"),
                value,
                "must be greater than zero",
            ));
        }
        let period = p.get("periodSeconds").and_then(Value::as_i64).unwrap_or(0);
        if period <= 0 {
            causes.push(Cause::invalid(
                format!("{pp}.periodSeconds"),
                period,
                "must be greater than zero",
            ));
        } else if period > MAX_PERIOD {
            causes.push(Cause::invalid(
                format!("{pp}.periodSeconds"),
                period,
                &format!("must be less than or equal to {MAX_PERIOD}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(o: Value) -> Vec<String> {
        horizontal_pod_autoscaler(&o)
            .into_iter()
            .map(|c| c.to_string())
            .collect()
    }

    #[test]
    fn a_valid_hpa_has_no_causes() {
        let o = json!({"apiVersion": "autoscaling/v2", "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 5,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]}}}});
        assert!(fields(o).is_empty());
    }

    #[test]
    fn bounds_reference_and_policies_are_checked() {
        let o = json!({"apiVersion": "autoscaling/v2", "spec": {
            "scaleTargetRef": {"name": "web"},
            "minReplicas": 4, "maxReplicas": 2,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization"}}}],
            "behavior": {"scaleDown": {"policies": [
                {"type": "Percent", "value": 10, "periodSeconds": 1801}]}}}});
        let got = fields(o);
        assert_eq!(
            got,
            vec![
                "spec.scaleTargetRef.kind: Required value",
                "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
                "spec.metrics[0].resource.target.averageUtilization: Required value: must set either a target raw value or a target utilization",
                "spec.behavior.scaleDown.policies[0].periodSeconds: Invalid value: 1801: must be less than or equal to 1800",
            ]
        );
    }

    #[test]
    fn v1_checks_the_cpu_target() {
        let o = json!({"apiVersion": "autoscaling/v1", "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 0, "maxReplicas": 2, "targetCPUUtilizationPercentage": 0}});
        assert_eq!(
            fields(o),
            vec![
                "spec.minReplicas: Invalid value: 0: must be greater than or equal to 1",
                "spec.targetCPUUtilizationPercentage: Invalid value: 0: must be greater than 0",
            ]
        );
    }
}
