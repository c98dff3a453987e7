//! Objects for tests, written as the API would return them (JSON), so
//! unit and integration tests read like the manifests they stand for.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::de::DeserializeOwned;

use crate::config::PolicyConfig;

fn from<T: DeserializeOwned>(v: serde_json::Value) -> Arc<T> {
    match serde_json::from_value(v) {
        Ok(t) => Arc::new(t),
        Err(e) => panic!("a test object does not parse: {e}"),
    }
}

/// A running pod on `node` at `ip` (`None`: no address yet), with
/// `labels` and named container ports `(name, protocol, number)`.
pub fn pod(
    ns: &str,
    name: &str,
    node: &str,
    ip: Option<&str>,
    labels: serde_json::Value,
    ports: &[(&str, &str, u16)],
) -> Arc<Pod> {
    let ports: Vec<serde_json::Value> = ports
        .iter()
        .map(|(n, p, c)| serde_json::json!({"name": n, "protocol": p, "containerPort": c}))
        .collect();
    let mut status = serde_json::json!({"phase": "Running"});
    if let Some(ip) = ip {
        status["podIP"] = ip.into();
        status["podIPs"] = serde_json::json!([{"ip": ip}]);
    }
    from(serde_json::json!({
        "metadata": {"namespace": ns, "name": name, "labels": labels},
        "spec": {"nodeName": node, "containers": [{"name": "c", "ports": ports}]},
        "status": status,
    }))
}

/// A namespace with its name label and `labels`.
pub fn namespace(name: &str, labels: serde_json::Value) -> Arc<Namespace> {
    let mut l = labels;
    l["kubernetes.io/metadata.name"] = name.into();
    from(serde_json::json!({"metadata": {"name": name, "labels": l}}))
}

/// A NetworkPolicy with `spec` as written in a manifest.
pub fn policy(ns: &str, name: &str, spec: serde_json::Value) -> Arc<NetworkPolicy> {
    from(serde_json::json!({"metadata": {"namespace": ns, "name": name}, "spec": spec}))
}

/// A node `n1` with pod range `pod_cidr` on bridge `bridge`.
pub fn config(table: &str, bridge: &str, pod_cidr: &str) -> PolicyConfig {
    PolicyConfig {
        node_name: "n1".into(),
        bridge: bridge.into(),
        pod_cidr: pod_cidr.parse().expect("a CIDR"),
        cluster_cidr: "10.0.0.0/8".parse().expect("a CIDR"),
        table: table.into(),
    }
}
