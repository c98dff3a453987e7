//! The status kube-apiserver answers with even when nobody wrote one.
//!
//! Go's JSON encoder writes a struct field that is not a pointer even when
//! it is empty, and an integer or string without `omitempty` even when it
//! is zero; every built-in kind's `status` is such a struct. So a created
//! Service reads back with `status: {loadBalancer: {}}`, a ReplicaSet with
//! `status: {replicas: 0}`, a Deployment with `status: {}`. v1 defaulting
//! adds phases: `SetDefaults_NamespaceStatus` (`Active`),
//! `SetDefaults_PersistentVolume` and `SetDefaults_PersistentVolumeClaim`
//! (`Pending`). A pod's status (phase and QoS class) is set with its
//! spec's defaults (`pod.rs`).
//!
//! What is written is merged under what is there: a field that is set is
//! kept.

use serde_json::{json, Map, Value};

/// The status of `group`/`kind` when nothing was written, if the kind has one.
fn empty(group: &str, kind: &str) -> Option<Value> {
    Some(match (group, kind) {
        // ServiceStatus.LoadBalancer and IngressStatus.LoadBalancer are
        // structs.
        ("", "Service") | ("networking.k8s.io", "Ingress") => json!({"loadBalancer": {}}),
        ("", "Namespace") => json!({"phase": "Active"}),
        ("", "PersistentVolume") | ("", "PersistentVolumeClaim") => json!({"phase": "Pending"}),
        // NodeStatus.DaemonEndpoints.KubeletEndpoint.Port (`json:"Port"`)
        // and NodeStatus.NodeInfo's strings have no omitempty.
        ("", "Node") => json!({
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 0}},
            "nodeInfo": {
                "machineID": "", "systemUUID": "", "bootID": "", "kernelVersion": "",
                "osImage": "", "containerRuntimeVersion": "", "kubeletVersion": "",
                "kubeProxyVersion": "", "operatingSystem": "", "architecture": "",
            },
        }),
        ("", "ReplicationController") | ("apps", "ReplicaSet") => json!({"replicas": 0}),
        ("apps", "StatefulSet") => json!({"replicas": 0, "availableReplicas": 0}),
        // v2's desiredReplicas has no omitempty (v1 shows currentReplicas
        // too: conversion adds nothing, the v1 type prints its zero).
        ("autoscaling", "HorizontalPodAutoscaler") => json!({"desiredReplicas": 0}),
        ("apps", "DaemonSet") => json!({
            "currentNumberScheduled": 0, "numberMisscheduled": 0,
            "desiredNumberScheduled": 0, "numberReady": 0,
        }),
        ("policy", "PodDisruptionBudget") => json!({
            "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0,
        }),
        ("apps", "Deployment")
        | ("batch", "Job")
        | ("batch", "CronJob")
        | ("", "ResourceQuota") => {
            json!({})
        }
        _ => return None,
    })
}

/// Merges the kind's empty status under `obj`'s `status`.
pub(super) fn apply(group: &str, kind: &str, obj: &mut Value) {
    let Some(Value::Object(empty)) = empty(group, kind) else {
        return;
    };
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    let status = map
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if status.is_null() {
        *status = Value::Object(Map::new());
    }
    if let Value::Object(status) = status {
        merge_under(status, empty);
    }
}

/// Adds what `under` has and `map` lacks (or holds as null), at every depth.
fn merge_under(map: &mut Map<String, Value>, under: Map<String, Value>) {
    for (k, v) in under {
        match (map.get_mut(&k), v) {
            (Some(Value::Object(have)), Value::Object(v)) => merge_under(have, v),
            (Some(have), v) if have.is_null() => *have = v,
            (Some(_), _) => {}
            (None, v) => {
                map.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_of(group: &str, kind: &str, obj: Value) -> Value {
        let mut obj = obj;
        apply(group, kind, &mut obj);
        obj.get("status").cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn statuses_nobody_wrote() {
        let bare = || json!({"metadata": {"name": "x"}, "spec": {}});
        assert_eq!(
            status_of("", "Service", bare()),
            json!({"loadBalancer": {}})
        );
        assert_eq!(
            status_of("networking.k8s.io", "Ingress", bare()),
            json!({"loadBalancer": {}})
        );
        assert_eq!(
            status_of("", "Namespace", bare()),
            json!({"phase": "Active"})
        );
        assert_eq!(
            status_of("", "PersistentVolumeClaim", bare()),
            json!({"phase": "Pending"})
        );
        assert_eq!(status_of("apps", "Deployment", bare()), json!({}));
        assert_eq!(
            status_of("apps", "ReplicaSet", bare()),
            json!({"replicas": 0})
        );
        assert_eq!(
            status_of("", "Node", bare())["daemonEndpoints"],
            json!({"kubeletEndpoint": {"Port": 0}})
        );
        // Kinds without a status get none.
        assert_eq!(status_of("", "ConfigMap", bare()), Value::Null);
        assert_eq!(
            status_of("rbac.authorization.k8s.io", "Role", bare()),
            Value::Null
        );
    }

    #[test]
    fn what_is_written_is_kept() {
        let svc = json!({"status": {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]},
                                    "conditions": []}});
        assert_eq!(
            status_of("", "Service", svc.clone()),
            svc["status"],
            "a written status stays as it is"
        );
        let ns = json!({"status": {"phase": "Terminating"}});
        assert_eq!(status_of("", "Namespace", ns)["phase"], "Terminating");
        let node = json!({"status": {"nodeInfo": {"kubeletVersion": "v1.37.0"}}});
        let status = status_of("", "Node", node);
        assert_eq!(status["nodeInfo"]["kubeletVersion"], "v1.37.0");
        assert_eq!(status["nodeInfo"]["machineID"], "");
        assert_eq!(
            status_of("", "Service", json!({"status": null})),
            json!({"loadBalancer": {}})
        );
    }
}
