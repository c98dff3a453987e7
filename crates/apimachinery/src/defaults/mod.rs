//! Kubernetes' v1 defaulting of built-in kinds (`SetDefaults_*` in
//! `pkg/apis/*/v1/defaults.go`), on the JSON object, applied on create and
//! on every update, as kube-apiserver applies it when it decodes a body.
//! A field that is set is never changed; wrong types are left for
//! validation to report.
//!
//! - `pod.rs`: pod specs (pods and every pod template);
//! - `service.rs`: services;
//! - `core.rs`: pod templates and replication controllers;
//! - `apps.rs`: deployments, replica sets, stateful sets, daemon sets;
//! - `batch.rs`: jobs and cron jobs;
//! - `autoscaling.rs`: horizontal pod autoscalers (v1 and v2);
//! - `storage.rs`: storage classes, CSI drivers, persistent volumes and
//!   claims (and claim templates wherever they appear);
//! - `status.rs`: the status every kind that has one answers with when
//!   nobody wrote it (a Service's `loadBalancer: {}`, phases);
//! - this file: dispatch by kind, and the small ones (secrets'
//!   `stringData`, priority classes).

mod apps;
pub mod autoscaling;
mod batch;
mod core;
mod pod;
mod service;
mod status;
mod storage;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};

/// The object's `field` as an object, created if missing (`None` if it
/// holds something else).
pub(crate) fn obj<'a>(v: &'a mut Value, field: &str) -> Option<&'a mut Map<String, Value>> {
    let map = v.as_object_mut()?;
    map.entry(field)
        .or_insert_with(|| Value::Object(Map::new()))
        .as_object_mut()
}

/// Sets `field` to `value` unless it is present (and not null).
pub(crate) fn set(map: &mut Map<String, Value>, field: &str, value: Value) {
    match map.get(field) {
        Some(v) if !v.is_null() => {}
        _ => {
            map.insert(field.to_string(), value);
        }
    }
}

/// Gives `obj` the status kube-apiserver answers with when none was
/// written (a create through a kind's main resource drops what the client
/// sent, then answers with this).
pub fn empty_status(group: &str, kind: &str, obj: &mut Value) {
    status::apply(group, kind, obj);
}

/// Applies the defaults of `group`/`kind` to `obj`.
pub fn apply(group: &str, kind: &str, obj: &mut Value) {
    status::apply(group, kind, obj);
    match (group, kind) {
        ("", "Pod") => {
            if let Some(spec) = obj.get_mut("spec") {
                pod::spec(spec);
            }
            let qos = obj.get("spec").map(pod::qos_class);
            if let (Some(status), Some(qos)) = (self::obj(obj, "status"), qos) {
                set(status, "phase", Value::from("Pending"));
                set(status, "qosClass", Value::from(qos));
            }
        }
        ("", "Service") => service::apply(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crate::crd::default_crd(obj),
        ("", "Secret") => {
            if let Some(m) = obj.as_object_mut() {
                set(m, "type", Value::from("Opaque"));
                // stringData is write-only: merged into data (base64), not stored.
                if let Some(Value::Object(strings)) = m.remove("stringData") {
                    let data = m.entry("data").or_insert_with(|| Value::Object(Map::new()));
                    if let Some(d) = data.as_object_mut() {
                        for (k, v) in strings {
                            let text = v.as_str().unwrap_or_default();
                            d.insert(k, Value::from(STANDARD.encode(text)));
                        }
                    }
                }
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            if let Some(m) = obj.as_object_mut() {
                set(m, "preemptionPolicy", Value::from("PreemptLowerPriority"));
            }
        }
        ("", "PodTemplate") => core::pod_template(obj),
        ("", "ReplicationController") => core::replication_controller(obj),
        ("apps", "Deployment") => apps::deployment(obj),
        ("apps", "ReplicaSet") => apps::replica_set(obj),
        ("apps", "StatefulSet") => apps::stateful_set(obj),
        ("apps", "DaemonSet") => apps::daemon_set(obj),
        ("batch", "Job") => batch::job(obj),
        ("batch", "CronJob") => batch::cron_job(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaling::horizontal_pod_autoscaler(obj),
        ("", "PersistentVolume") => storage::persistent_volume(obj),
        ("", "PersistentVolumeClaim") => storage::persistent_volume_claim(obj),
        ("storage.k8s.io", "StorageClass") => storage::storage_class(obj),
        ("storage.k8s.io", "CSIDriver") => storage::csi_driver(obj),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
