//! apps/v1 defaults (`pkg/apis/apps/v1/defaults.go`).

use serde_json::{json, Value};

use super::{obj, pod, set};

pub fn deployment(d: &mut Value) {
    pod::template(d, "/spec/template");
    let Some(spec) = obj(d, "spec") else { return };
    set(spec, "replicas", json!(1));
    set(spec, "revisionHistoryLimit", json!(10));
    set(spec, "progressDeadlineSeconds", json!(600));
    let strategy = spec.entry("strategy").or_insert_with(|| json!({}));
    if let Some(s) = strategy.as_object_mut() {
        set(s, "type", json!("RollingUpdate"));
        if s.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                set(ru, "maxUnavailable", json!("25%"));
                set(ru, "maxSurge", json!("25%"));
            }
        }
    }
}

pub fn replica_set(rs: &mut Value) {
    pod::template(rs, "/spec/template");
    if let Some(spec) = obj(rs, "spec") {
        set(spec, "replicas", json!(1));
    }
}

pub fn stateful_set(s: &mut Value) {
    pod::template(s, "/spec/template");
    let Some(spec) = obj(s, "spec") else { return };
    set(spec, "replicas", json!(1));
    set(spec, "podManagementPolicy", json!("OrderedReady"));
    set(spec, "revisionHistoryLimit", json!(10));
    set(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(us) = us.as_object_mut() {
        set(us, "type", json!("RollingUpdate"));
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = us.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                set(ru, "partition", json!(0));
            }
        }
    }
}

pub fn daemon_set(d: &mut Value) {
    pod::template(d, "/spec/template");
    let Some(spec) = obj(d, "spec") else { return };
    set(spec, "revisionHistoryLimit", json!(10));
    let us = spec.entry("updateStrategy").or_insert_with(|| json!({}));
    if let Some(us) = us.as_object_mut() {
        set(us, "type", json!("RollingUpdate"));
        if us.get("type").and_then(Value::as_str) == Some("RollingUpdate") {
            let ru = us.entry("rollingUpdate").or_insert_with(|| json!({}));
            if let Some(ru) = ru.as_object_mut() {
                set(ru, "maxUnavailable", json!(1));
                set(ru, "maxSurge", json!(0));
            }
        }
    }
}
