//! batch/v1 defaults (`pkg/apis/batch/v1/defaults.go`) and the selector a
//! job gets from its uid (the job strategy's `PrepareForCreate`).

use serde_json::{json, Value};

use super::{obj, pod, set};

pub fn job(j: &mut Value) {
    pod::template(j, "/spec/template");
    let uid = j
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = j
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(spec) = obj(j, "spec") else { return };
    let has_completions = spec.get("completions").is_some_and(|v| !v.is_null());
    let has_parallelism = spec.get("parallelism").is_some_and(|v| !v.is_null());
    if !has_completions && !has_parallelism {
        set(spec, "completions", json!(1));
        set(spec, "parallelism", json!(1));
    }
    set(spec, "parallelism", json!(1));
    set(spec, "backoffLimit", json!(6));
    set(spec, "completionMode", json!("NonIndexed"));
    set(spec, "suspend", json!(false));
    let pod_failure_policy = spec.get("podFailurePolicy").is_some_and(|v| !v.is_null());
    set(
        spec,
        "podReplacementPolicy",
        json!(if pod_failure_policy {
            "Failed"
        } else {
            "TerminatingOrFailed"
        }),
    );
    // Without manualSelector, the selector is the job's uid, and the
    // template carries the matching labels.
    let manual = spec.get("manualSelector").and_then(Value::as_bool) == Some(true);
    if let (false, Some(uid)) = (manual, uid) {
        if spec.get("selector").is_none_or(Value::is_null) {
            spec.insert(
                "selector".into(),
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
            );
        }
        if let Some(labels) = spec
            .get_mut("template")
            .and_then(|t| obj(t, "metadata"))
            .and_then(|m| {
                m.entry("labels")
                    .or_insert_with(|| json!({}))
                    .as_object_mut()
            })
        {
            set(labels, "batch.kubernetes.io/controller-uid", json!(uid));
            set(labels, "controller-uid", json!(uid));
            if let Some(n) = name {
                set(labels, "batch.kubernetes.io/job-name", json!(n));
                set(labels, "job-name", json!(n));
            }
        }
    }
}

pub fn cron_job(c: &mut Value) {
    pod::template(c, "/spec/jobTemplate/spec/template");
    let Some(spec) = obj(c, "spec") else { return };
    set(spec, "concurrencyPolicy", json!("Allow"));
    set(spec, "suspend", json!(false));
    set(spec, "successfulJobsHistoryLimit", json!(3));
    set(spec, "failedJobsHistoryLimit", json!(1));
}
