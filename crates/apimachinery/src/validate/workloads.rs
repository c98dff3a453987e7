//! Workloads with pod templates (`pkg/apis/apps/validation`,
//! `pkg/apis/batch/validation`).

use serde_json::Value;

use super::{immutable, pod, selector_matches};
use crate::cause::Cause;

fn non_negative(v: Option<&Value>, field: &str, causes: &mut Vec<Cause>) {
    if let Some(n) = v.and_then(Value::as_i64).filter(|n| *n < 0) {
        causes.push(Cause::invalid(
            field,
            n,
            "must be greater than or equal to 0",
        ));
    }
}

/// The selector and the template's labels: required, non-empty, matching.
fn selector_and_template(spec: &Value, field: &str, causes: &mut Vec<Cause>) {
    let labels = spec.pointer("/template/metadata/labels");
    match spec.get("selector").filter(|s| !s.is_null()) {
        None => causes.push(Cause::required(format!("{field}.selector"), "")),
        Some(sel) => {
            let empty = sel
                .get("matchLabels")
                .and_then(Value::as_object)
                .is_none_or(|m| m.is_empty())
                && sel
                    .get("matchExpressions")
                    .and_then(Value::as_array)
                    .is_none_or(|a| a.is_empty());
            if empty {
                causes.push(Cause::invalid(
                    format!("{field}.selector"),
                    sel.clone(),
                    "empty selector is invalid for deployment",
                ));
            } else if !selector_matches(sel, labels) {
                causes.push(Cause::invalid(
                    format!("{field}.template.metadata.labels"),
                    labels.cloned().unwrap_or(Value::Null),
                    "`selector` does not match template `labels`",
                ));
            }
        }
    }
}

/// Deployments, replica sets, stateful sets, daemon sets.
pub fn apps(kind: &str, obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = obj.get("spec") else {
        causes.push(Cause::required("spec", ""));
        return causes;
    };
    non_negative(spec.get("replicas"), "spec.replicas", &mut causes);
    non_negative(
        spec.get("minReadySeconds"),
        "spec.minReadySeconds",
        &mut causes,
    );
    non_negative(
        spec.get("revisionHistoryLimit"),
        "spec.revisionHistoryLimit",
        &mut causes,
    );
    selector_and_template(spec, "spec", &mut causes);
    causes.extend(pod::spec(
        spec.pointer("/template/spec"),
        "spec.template.spec",
        &["Always"],
    ));
    if kind == "Deployment" {
        if let Some(t) = spec.pointer("/strategy/type").and_then(Value::as_str) {
            if !["Recreate", "RollingUpdate"].contains(&t) {
                causes.push(Cause::not_supported(
                    "spec.strategy.type",
                    t,
                    &["Recreate", "RollingUpdate"],
                ));
            }
        }
    }
    causes
}

/// The selector of an apps workload is immutable; a stateful set may only
/// change replicas, template, update strategy, retention policy,
/// minReadySeconds and ordinals.
pub fn apps_update(kind: &str, old: &Value, new: &Value) -> Vec<Cause> {
    let mut causes: Vec<Cause> = immutable(old, new, "/spec/selector", "spec.selector")
        .into_iter()
        .collect();
    if kind == "StatefulSet" {
        let strip = |v: &Value| {
            let mut s = v.get("spec").cloned().unwrap_or(Value::Null);
            if let Some(m) = s.as_object_mut() {
                for f in [
                    "replicas",
                    "template",
                    "updateStrategy",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                    "ordinals",
                    "selector",
                ] {
                    m.remove(f);
                }
            }
            s
        };
        if strip(old) != strip(new) {
            causes.push(Cause::forbidden(
                "spec",
                "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
            ));
        }
    }
    causes
}

/// A job's spec at `field` (also a cron job's job template).
pub fn job(spec: Option<&Value>, field: &str) -> Vec<Cause> {
    let mut causes = Vec::new();
    let Some(spec) = spec else {
        causes.push(Cause::required(field, ""));
        return causes;
    };
    for f in [
        "parallelism",
        "completions",
        "backoffLimit",
        "activeDeadlineSeconds",
        "ttlSecondsAfterFinished",
    ] {
        non_negative(spec.get(f), &format!("{field}.{f}"), &mut causes);
    }
    let template_spec = spec.pointer("/template/spec");
    causes.extend(pod::spec(
        template_spec,
        &format!("{field}.template.spec"),
        &["OnFailure", "Never"],
    ));
    if let Some(sel) = spec.get("selector").filter(|s| !s.is_null()) {
        if !selector_matches(sel, spec.pointer("/template/metadata/labels")) {
            causes.push(Cause::invalid(
                format!("{field}.template.metadata.labels"),
                spec.pointer("/template/metadata/labels")
                    .cloned()
                    .unwrap_or(Value::Null),
                "`selector` does not match template `labels`",
            ));
        }
    }
    causes
}

/// A job's selector and template are fixed once created (except while
/// suspended, which rkube does not special-case yet).
pub fn job_update(old: &Value, new: &Value) -> Vec<Cause> {
    [
        immutable(old, new, "/spec/selector", "spec.selector"),
        immutable(old, new, "/spec/template", "spec.template"),
        immutable(old, new, "/spec/completions", "spec.completions"),
    ]
    .into_iter()
    .flatten()
    .collect()
}

pub fn cron_job(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    match obj.pointer("/spec/schedule").and_then(Value::as_str) {
        None | Some("") => causes.push(Cause::required("spec.schedule", "")),
        Some(s) if s.split_whitespace().count() != 5 && !s.starts_with('@') => {
            causes.push(Cause::invalid("spec.schedule", s, "unparseable schedule"))
        }
        _ => {}
    }
    if let Some(p) = obj
        .pointer("/spec/concurrencyPolicy")
        .and_then(Value::as_str)
    {
        if !["Allow", "Forbid", "Replace"].contains(&p) {
            causes.push(Cause::not_supported(
                "spec.concurrencyPolicy",
                p,
                &["Allow", "Forbid", "Replace"],
            ));
        }
    }
    causes.extend(job(
        obj.pointer("/spec/jobTemplate/spec"),
        "spec.jobTemplate.spec",
    ));
    causes
}
