//! apiregistration.k8s.io/v1 APIService (kube-aggregator's
//! `ValidateAPIService`): named `<version>.<group>`, priorities in range,
//! a service or none (`Local`).

use serde_json::Value;

use crate::cause::Cause;

/// An APIService.
pub fn api_service(obj: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = obj
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let s = |p: &str| obj.pointer(p).and_then(Value::as_str).unwrap_or("");
    let (group, version) = (s("/spec/group"), s("/spec/version"));
    let expected = if group.is_empty() {
        version.to_string()
    } else {
        format!("{version}.{group}")
    };
    if name != expected {
        causes.push(Cause::invalid(
            "metadata.name",
            name,
            "must be `spec.version+\".\"+spec.group`",
        ));
    }
    if version.is_empty() {
        causes.push(Cause::required("spec.version", ""));
    }
    let n = |p: &str| obj.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let group_min = n("/spec/groupPriorityMinimum");
    if !(1..=20000).contains(&group_min) {
        causes.push(Cause::invalid(
            "spec.groupPriorityMinimum",
            group_min,
            "must be positive and less than 20000",
        ));
    }
    let version_priority = n("/spec/versionPriority");
    if !(1..=1000).contains(&version_priority) {
        causes.push(Cause::invalid(
            "spec.versionPriority",
            version_priority,
            "must be positive and less than 1000",
        ));
    }
    if obj.pointer("/spec/service").is_none_or(Value::is_null) {
        if obj.pointer("/spec/caBundle").is_some_and(|v| !v.is_null()) {
            causes.push(Cause::invalid(
                "spec.caBundle",
                "(bytes)",
                "local APIServices may not have a caBundle",
            ));
        }
    } else {
        if s("/spec/service/namespace").is_empty() {
            causes.push(Cause::required("spec.service.namespace", ""));
        }
        if s("/spec/service/name").is_empty() {
            causes.push(Cause::required("spec.service.name", ""));
        }
    }
    causes
}
