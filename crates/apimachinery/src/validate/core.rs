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

/// A Node (`ValidateNode`): each of `spec.podCIDRs` a CIDR, at most two
/// (one per IP family).
pub fn node(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let cidrs = obj
        .pointer("/spec/podCIDRs")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, c) in cidrs.iter().enumerate() {
        let text = c.as_str().unwrap_or_default();
        if !is_cidr(text) {
            causes.push(Cause::invalid(
                format!("spec.podCIDRs[{i}]"),
                text,
                "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            ));
        }
    }
    if cidrs.len() > 2 {
        causes.push(Cause::invalid(
            "spec.podCIDRs",
            Value::Array(cidrs.to_vec()),
            "may specify no more than one CIDR for each IP family",
        ));
    }
    causes
}

fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    bits.parse::<u8>().is_ok_and(|b| b <= max) && !bits.starts_with('+')
}

/// A Node update (`ValidateNodeUpdate`): the pod ranges and the provider
/// ID may be set once, never changed.
pub fn node_update(old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let cidrs = |v: &Value| v.pointer("/spec/podCIDRs").cloned();
    let old_cidrs = cidrs(old);
    let set = old_cidrs
        .as_ref()
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty());
    if set && old_cidrs != cidrs(new) {
        causes.push(Cause::forbidden(
            "spec.podCIDRs",
            "node updates may not change podCIDR except from \"\" to valid",
        ));
    }
    let provider = |v: &Value| {
        v.pointer("/spec/providerID")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    if !provider(old).is_empty() && provider(old) != provider(new) {
        causes.push(Cause::forbidden(
            "spec.providerID",
            "node updates may not change providerID except from \"\" to valid",
        ));
    }
    causes
}
