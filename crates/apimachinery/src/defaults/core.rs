//! core/v1 defaults of kinds with pod templates
//! (`SetDefaults_ReplicationController` in `pkg/apis/core/v1/defaults.go`).

use serde_json::{json, Value};

use super::{obj, pod, set};

/// A PodTemplate's pod spec.
pub fn pod_template(t: &mut Value) {
    pod::template(t, "/template");
}

/// A ReplicationController: the selector and the object's labels default
/// to the template's labels (each only when empty), replicas to 1.
pub fn replication_controller(rc: &mut Value) {
    pod::template(rc, "/spec/template");
    let template_labels = rc
        .pointer("/spec/template/metadata/labels")
        .filter(|l| l.is_object())
        .cloned();
    let empty = |v: Option<&Value>| v.and_then(Value::as_object).is_none_or(|m| m.is_empty());
    if let Some(labels) = template_labels {
        if empty(rc.pointer("/spec/selector")) {
            if let Some(spec) = obj(rc, "spec") {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if empty(rc.pointer("/metadata/labels")) {
            if let Some(meta) = obj(rc, "metadata") {
                meta.insert("labels".into(), labels);
            }
        }
    }
    if let Some(spec) = obj(rc, "spec") {
        set(spec, "replicas", json!(1));
    }
}
