//! apps/v1 defaults (`pkg/apis/apps/v1/defaults.go`).

use serde_json::{json, Map, Value};

use super::{obj, pod, set};

/// Defaults the strategy object at `field` of `spec`: type `RollingUpdate`
/// unless set, and, when it is a rolling update, `rolling`'s fields in
/// `rollingUpdate`.
fn rolling_update(spec: &mut Map<String, Value>, field: &str, rolling: &[(&str, Value)]) {
    let strategy = spec.entry(field).or_insert_with(|| json!({}));
    let Some(s) = strategy.as_object_mut() else {
        return;
    };
    set(s, "type", json!("RollingUpdate"));
    if s.get("type").and_then(Value::as_str) != Some("RollingUpdate") {
        return;
    }
    let ru = s.entry("rollingUpdate").or_insert_with(|| json!({}));
    if let Some(ru) = ru.as_object_mut() {
        for (k, v) in rolling {
            set(ru, k, v.clone());
        }
    }
}

pub fn deployment(d: &mut Value) {
    pod::template(d, "/spec/template");
    let Some(spec) = obj(d, "spec") else { return };
    set(spec, "replicas", json!(1));
    set(spec, "revisionHistoryLimit", json!(10));
    set(spec, "progressDeadlineSeconds", json!(600));
    rolling_update(
        spec,
        "strategy",
        &[("maxUnavailable", json!("25%")), ("maxSurge", json!("25%"))],
    );
}

pub fn replica_set(rs: &mut Value) {
    pod::template(rs, "/spec/template");
    if let Some(spec) = obj(rs, "spec") {
        set(spec, "replicas", json!(1));
    }
}

pub fn stateful_set(s: &mut Value) {
    pod::template(s, "/spec/template");
    super::storage::stateful_set_claims(s);
    let Some(spec) = obj(s, "spec") else { return };
    set(spec, "replicas", json!(1));
    set(spec, "podManagementPolicy", json!("OrderedReady"));
    set(spec, "revisionHistoryLimit", json!(10));
    set(
        spec,
        "persistentVolumeClaimRetentionPolicy",
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
    );
    rolling_update(spec, "updateStrategy", &[("partition", json!(0))]);
}

pub fn daemon_set(d: &mut Value) {
    pod::template(d, "/spec/template");
    let Some(spec) = obj(d, "spec") else { return };
    set(spec, "revisionHistoryLimit", json!(10));
    rolling_update(
        spec,
        "updateStrategy",
        &[("maxUnavailable", json!(1)), ("maxSurge", json!(0))],
    );
}
