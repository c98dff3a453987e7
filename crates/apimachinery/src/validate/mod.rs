//! Validation of built-in kinds beyond metadata, worded like
//! kube-apiserver (`pkg/apis/*/validation`): required fields, supported
//! values, ranges, selectors that must match templates, and the fields an
//! update may not change. Every function returns [`Cause`]s; a non-empty
//! list is a 422 `Invalid`. Wrong JSON types never panic here (the body was
//! already read through its type, see [`crate::typed`]).
//!
//! - `pod.rs`: pod specs (pods and templates), pod updates;
//! - `workloads.rs`: deployments, replica sets, stateful sets, daemon
//!   sets, jobs, cron jobs;
//! - `service.rs`: services;
//! - `networkpolicy.rs`: network policies;
//! - `data.rs`: config maps and secrets (`immutable`);
//! - `core.rs`: pod templates, replication controllers, nodes;
//! - `node.rs`: runtime classes;
//! - `storage.rs`: the storage.k8s.io kinds (StorageClass, CSIDriver,
//!   CSINode, CSIStorageCapacity, VolumeAttachment,
//!   VolumeAttributesClass);
//! - `volume.rs`: persistent volumes and claims;
//! - `selectors.rs`: label, node and topology selectors inside specs;
//! - `apiregistration.rs`: API services;
//! - `autoscaling.rs`: horizontal pod autoscalers.

mod apiregistration;
mod autoscaling;
mod core;
mod data;
mod networkpolicy;
mod node;
mod pod;
mod selectors;
mod service;
mod storage;
mod volume;
mod workloads;

use serde_json::Value;

use crate::cause::Cause;

/// Causes for a new object of `group`/`kind`.
pub fn create(group: &str, kind: &str, obj: &Value) -> Vec<Cause> {
    match (group, kind) {
        ("", "Pod") => pod::spec(obj.get("spec"), "spec", pod::RESTART_ANY),
        ("", "Service") => service::spec(obj),
        ("", "ConfigMap") | ("", "Secret") => data::keys(kind, obj),
        ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            workloads::apps(kind, obj)
        }
        ("", "PodTemplate") => core::pod_template(obj),
        ("", "ReplicationController") => core::replication_controller(obj),
        ("", "Node") => core::node(obj),
        ("networking.k8s.io", "NetworkPolicy") => networkpolicy::network_policy(obj),
        ("node.k8s.io", "RuntimeClass") => node::runtime_class(obj),
        ("", "PersistentVolume") => volume::persistent_volume(obj),
        ("", "PersistentVolumeClaim") => volume::persistent_volume_claim(obj),
        ("storage.k8s.io", "StorageClass") => storage::storage_class(obj),
        ("storage.k8s.io", "CSIDriver") => storage::csi_driver(obj),
        ("storage.k8s.io", "CSINode") => storage::csi_node(obj),
        ("storage.k8s.io", "CSIStorageCapacity") => storage::csi_storage_capacity(obj),
        ("storage.k8s.io", "VolumeAttachment") => storage::volume_attachment(obj),
        ("storage.k8s.io", "VolumeAttributesClass") => storage::volume_attributes_class(obj),
        ("apiregistration.k8s.io", "APIService") => apiregistration::api_service(obj),
        ("batch", "Job") => workloads::job(obj.get("spec"), "spec"),
        ("batch", "CronJob") => workloads::cron_job(obj),
        ("autoscaling", "HorizontalPodAutoscaler") => autoscaling::horizontal_pod_autoscaler(obj),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => crate::crd::validate_crd(obj),
        _ => Vec::new(),
    }
}

/// Causes for replacing `old` with `new` (through the main resource when
/// `status` is false).
///
/// `old` is compared as kube-apiserver reads it from storage: with the
/// kind's defaults applied (and `new` with them too, as the pipeline
/// decoded it), so an object stored before a default existed (a claim
/// without `volumeMode`, a StatefulSet's claim templates) is not taken
/// for changed.
pub fn update(group: &str, kind: &str, old: &Value, new: &Value, status: bool) -> Vec<Cause> {
    if status {
        return Vec::new();
    }
    let (mut old, mut new) = (old.clone(), new.clone());
    crate::defaults::apply(group, kind, &mut old);
    crate::defaults::apply(group, kind, &mut new);
    let (old, new) = (&old, &new);
    let mut causes = match (group, kind) {
        ("", "Service") => service::spec_update(old, new),
        _ => create(group, kind, new),
    };
    causes.extend(match (group, kind) {
        ("", "Pod") => pod::update(old, new),
        ("", "Service") => service::update(old, new),
        ("", "Node") => core::node_update(old, new),
        ("", "ConfigMap") | ("", "Secret") => data::update(kind, old, new),
        ("apps", k) => workloads::apps_update(k, old, new),
        ("batch", "Job") => workloads::job_update(old, new),
        ("node.k8s.io", "RuntimeClass") => node::runtime_class_update(old, new),
        ("", "PersistentVolume") => volume::persistent_volume_update(old, new),
        ("", "PersistentVolumeClaim") => volume::persistent_volume_claim_update(old, new),
        ("storage.k8s.io", "StorageClass") => storage::storage_class_update(old, new),
        ("storage.k8s.io", "CSIDriver") => storage::csi_driver_update(old, new),
        ("storage.k8s.io", "CSINode") => storage::csi_node_update(old, new),
        ("storage.k8s.io", "CSIStorageCapacity") => storage::csi_storage_capacity_update(old, new),
        ("storage.k8s.io", "VolumeAttachment") => storage::volume_attachment_update(old, new),
        ("storage.k8s.io", "VolumeAttributesClass") => {
            storage::volume_attributes_class_update(old, new)
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => [
            immutable(old, new, "/spec/group", "spec.group"),
            immutable(old, new, "/spec/scope", "spec.scope"),
        ]
        .into_iter()
        .flatten()
        .collect(),
        _ => Vec::new(),
    });
    causes
}

/// `field is immutable` for `field` when it differs between old and new.
pub(crate) fn immutable(old: &Value, new: &Value, pointer: &str, field: &str) -> Option<Cause> {
    let (o, n) = (old.pointer(pointer), new.pointer(pointer));
    (o != n).then(|| {
        Cause::invalid(
            field,
            n.cloned().unwrap_or(Value::Null),
            "field is immutable",
        )
    })
}

/// Whether `labels` match a `LabelSelector` object (matchLabels and
/// matchExpressions).
pub fn selector_matches(selector: &Value, labels: Option<&Value>) -> bool {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
    let labels_ok = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .is_none_or(|m| m.iter().all(|(k, v)| get(k) == v.as_str()));
    let exprs_ok = selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .is_none_or(|es| {
            es.iter().all(|e| {
                let key = e.get("key").and_then(Value::as_str).unwrap_or("");
                let values: Vec<&str> = e
                    .get("values")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match e.get("operator").and_then(Value::as_str) {
                    Some("In") => get(key).is_some_and(|v| values.contains(&v)),
                    Some("NotIn") => get(key).is_none_or(|v| !values.contains(&v)),
                    Some("Exists") => get(key).is_some(),
                    Some("DoesNotExist") => get(key).is_none(),
                    _ => false,
                }
            })
        });
    labels_ok && exprs_ok
}

/// What kube-apiserver says of a malformed CIDR.
pub(crate) const CIDR_HINT: &str =
    "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// Whether `s` is an IPv4 or IPv6 CIDR (`10.0.0.0/8`; host bits may be
/// set, as Go's `ParseCIDR` allows).
pub(crate) fn is_cidr(s: &str) -> bool {
    let Some((ip, bits)) = s.split_once('/') else {
        return false;
    };
    let Ok(ip) = ip.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty()
        && bits.bytes().all(|b| b.is_ascii_digit())
        && bits.parse::<u8>().is_ok_and(|b| b <= max)
}

/// `must be between 1 and 65535, inclusive` for a port number.
pub(crate) fn port(v: Option<&Value>, field: &str, required: bool) -> Option<Cause> {
    match v.and_then(Value::as_i64) {
        None if required => Some(Cause::required(field, "")),
        None => None,
        Some(p) if (1..=65535).contains(&p) => None,
        Some(p) => Some(Cause::invalid(
            field,
            p,
            "must be between 1 and 65535, inclusive",
        )),
    }
}

#[cfg(test)]
mod tests;
