//! The Node object of a real node as JSON (pure): labels, addresses,
//! capacity and allocatable, nodeInfo, conditions with their times,
//! `status.images`.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Node;
use rkube_cri::ImageInfo;
use serde_json::{json, Value};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::quantity::milli;
use crate::kubelet::node::conditions::Condition;
use crate::kubelet::node::host::{Capacity, HostInfo};

/// The kubelet version this node reports.
pub const KUBELET_VERSION: &str = "v1.37.0-rkube";
/// `status.images` holds at most this many (the largest).
pub const MAX_IMAGES: usize = 50;

/// The Node's labels.
pub fn labels(name: &str, arch: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), name.to_string()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), arch.to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), arch.to_string()),
    ])
}

fn cpu(milli: i128) -> String {
    if milli % 1000 == 0 {
        (milli / 1000).to_string()
    } else {
        format!("{milli}m")
    }
}

fn bytes_ki(b: i128) -> String {
    format!("{}Ki", b.max(0) / 1024)
}

/// Capacity and allocatable as the Node writes them.
pub fn resources(cap: &Capacity) -> (Value, Value) {
    let alloc = cap.allocatable();
    let capacity = json!({
        "cpu": cpu(cap.cpu_milli),
        "memory": bytes_ki(cap.memory),
        "ephemeral-storage": bytes_ki(cap.ephemeral_storage),
        "pods": cap.pods.to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    });
    let allocatable = json!({
        "cpu": cpu(alloc.cpu_milli),
        "memory": bytes_ki(alloc.memory),
        "ephemeral-storage": alloc.ephemeral_storage.max(0).to_string(),
        "pods": cap.pods.to_string(),
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
    });
    (capacity, allocatable)
}

/// `status.images`: names (digests, then tags) and sizes, the largest
/// first, at most [`MAX_IMAGES`].
pub fn images(list: &[ImageInfo]) -> Value {
    let mut sorted: Vec<&ImageInfo> = list.iter().collect();
    sorted.sort_by_key(|i| std::cmp::Reverse(i.size));
    Value::Array(
        sorted
            .into_iter()
            .take(MAX_IMAGES)
            .map(|i| {
                let names: Vec<&String> = i.repo_digests.iter().chain(i.repo_tags.iter()).collect();
                json!({"names": names, "sizeBytes": i.size})
            })
            .collect(),
    )
}

/// Conditions with their times: `lastTransitionTime` kept from `previous`
/// while the status is the same, `lastHeartbeatTime` now.
pub fn conditions(conds: &[Condition], previous: Option<&Node>, now: &str) -> Value {
    let old = previous
        .and_then(|n| n.status.as_ref())
        .and_then(|s| s.conditions.as_ref());
    Value::Array(
        conds
            .iter()
            .map(|c| {
                let transition = old
                    .and_then(|o| o.iter().find(|o| o.type_ == c.type_ && o.status == c.status))
                    .and_then(|o| o.last_transition_time.as_ref())
                    .and_then(|t| serde_json::to_value(t).ok())
                    .unwrap_or_else(|| Value::String(now.to_string()));
                json!({"type": c.type_, "status": c.status, "reason": c.reason, "message": c.message,
                       "lastHeartbeatTime": now, "lastTransitionTime": transition})
            })
            .collect(),
    )
}

/// The whole status written at registration.
pub fn status(
    config: &KubeletConfig,
    cap: &Capacity,
    info: &HostInfo,
    runtime_version: &str,
    conds: Value,
    images: Value,
) -> Value {
    let (capacity, allocatable) = resources(cap);
    json!({"status": {
        "capacity": capacity,
        "allocatable": allocatable,
        "phase": "Running",
        "conditions": conds,
        "addresses": [
            {"type": "InternalIP", "address": config.node_ip.to_string()},
            {"type": "Hostname", "address": config.node_name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": config.port}},
        "nodeInfo": {
            "machineID": info.machine_id,
            "systemUUID": info.system_uuid,
            "bootID": info.boot_id,
            "kernelVersion": info.kernel_version,
            "osImage": info.os_image,
            "containerRuntimeVersion": runtime_version,
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": info.architecture,
        },
        "images": images,
    }})
}

/// Whether a quantity string is `n` thousandths (for tests and checks).
pub fn quantity_is(q: &str, expected_milli: i128) -> bool {
    milli(&k8s_openapi::apimachinery::pkg::api::resource::Quantity(
        q.to_string(),
    )) == Some(expected_milli)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_and_images() {
        let cap = Capacity {
            cpu_milli: 2000,
            memory: 4 << 30,
            ephemeral_storage: 100 << 30,
            pods: 110,
        };
        let (c, a) = resources(&cap);
        assert_eq!(c["cpu"], "2");
        assert!(quantity_is(
            c["memory"].as_str().expect("s"),
            (4i128 << 30) * 1000
        ));
        assert!(quantity_is(
            a["memory"].as_str().expect("s"),
            ((4i128 << 30) - (100 << 20)) * 1000
        ));
        assert!(quantity_is(
            a["ephemeral-storage"].as_str().expect("s"),
            (90i128 << 30) * 1000
        ));
        assert_eq!(c["pods"], "110");
        assert_eq!(c["hugepages-2Mi"], "0");
        let imgs: Vec<ImageInfo> = (0..60u64)
            .map(|i| ImageInfo {
                repo_tags: vec![format!("docker.io/library/i{i}:latest")],
                repo_digests: vec![format!("docker.io/library/i{i}@sha256:{i}")],
                size: i * 10,
                ..Default::default()
            })
            .collect();
        let v = images(&imgs);
        let arr = v.as_array().expect("array");
        assert_eq!(arr.len(), 50);
        assert_eq!(arr[0]["sizeBytes"], 590);
        assert_eq!(arr[0]["names"][0], "docker.io/library/i59@sha256:59");
        assert_eq!(arr[0]["names"][1], "docker.io/library/i59:latest");
    }
}
