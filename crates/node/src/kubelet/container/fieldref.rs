//! The downward API's values, shared by `env` (`fieldRef`,
//! `resourceFieldRef`) and downwardAPI volumes: a pod field by its path,
//! and a container's request or limit in units of a divisor — a limit
//! that is not set reads as the node's allocatable amount, as the kubelet
//! answers.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Container, ObjectFieldSelector, Pod, ResourceFieldSelector};

use crate::kubelet::container::quantity::{ceil_div, container_milli, milli, Limit};

/// What the node can give pods: the value of a limit a container does not
/// set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NodeAllocatable {
    pub cpu_milli: i128,
    pub memory: i128,
    pub ephemeral_storage: i128,
    /// The machine's memory (bytes), for OOM scores.
    pub memory_capacity: i128,
}

/// The addresses a pod's fields refer to.
#[derive(Clone, Copy, Debug)]
pub struct Addresses {
    pub host_ip: IpAddr,
    pub pod_ip: Option<IpAddr>,
}

/// A map as the downward API prints it: `key="value"` lines, sorted, with
/// Go's quoting.
fn format_map(map: Option<&std::collections::BTreeMap<String, String>>) -> String {
    map.into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `metadata.labels['key']` → `("labels", "key")`.
fn subscript(path: &str) -> Option<(&str, &str)> {
    let (head, rest) = path.split_once("['")?;
    let key = rest.strip_suffix("']")?;
    Some((head.strip_prefix("metadata.")?, key))
}

/// The value of a pod field (`fieldRef`); None for a path the downward API
/// does not have.
pub fn field_value(pod: &Pod, sel: &ObjectFieldSelector, addrs: Addresses) -> Option<String> {
    let m = &pod.metadata;
    let spec = pod.spec.as_ref();
    let path = sel.field_path.as_str();
    if let Some((map, key)) = subscript(path) {
        let map = match map {
            "labels" => m.labels.as_ref(),
            "annotations" => m.annotations.as_ref(),
            _ => return None,
        };
        return Some(map.and_then(|m| m.get(key)).cloned().unwrap_or_default());
    }
    let pod_ip = addrs.pod_ip.map(|ip| ip.to_string()).unwrap_or_default();
    Some(match path {
        "metadata.name" => m.name.clone().unwrap_or_default(),
        "metadata.namespace" => m.namespace.clone().unwrap_or_default(),
        "metadata.uid" => m.uid.clone().unwrap_or_default(),
        "metadata.labels" => format_map(m.labels.as_ref()),
        "metadata.annotations" => format_map(m.annotations.as_ref()),
        "spec.nodeName" => spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
        "spec.serviceAccountName" => spec
            .and_then(|s| s.service_account_name.clone())
            .unwrap_or_default(),
        "status.hostIP" | "status.hostIPs" => addrs.host_ip.to_string(),
        "status.podIP" | "status.podIPs" => pod_ip,
        _ => return None,
    })
}

/// Why a `resourceFieldRef` cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResourceFieldError {
    #[error("container {0} not found")]
    NoContainer(String),
    #[error("unsupported container resource : {0}")]
    Unsupported(String),
    #[error("invalid divisor for {0}")]
    Divisor(String),
}

/// A container's request or limit (`resourceFieldRef`) divided by its
/// divisor and rounded up, as the kubelet computes it.
pub fn resource_value(
    pod: &Pod,
    default_container: Option<&Container>,
    sel: &ResourceFieldSelector,
    node: &NodeAllocatable,
) -> Result<String, ResourceFieldError> {
    let container = match sel.container_name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => pod
            .spec
            .iter()
            .flat_map(|s| {
                s.containers
                    .iter()
                    .chain(s.init_containers.iter().flatten())
            })
            .find(|c| c.name == name)
            .ok_or_else(|| ResourceFieldError::NoContainer(name.to_string()))?,
        None => default_container.ok_or_else(|| ResourceFieldError::NoContainer(String::new()))?,
    };
    let (which, name) = sel
        .resource
        .split_once('.')
        .ok_or_else(|| ResourceFieldError::Unsupported(sel.resource.clone()))?;
    let which = match which {
        "limits" => Limit::Limit,
        "requests" => Limit::Request,
        _ => return Err(ResourceFieldError::Unsupported(sel.resource.clone())),
    };
    let set = container_milli(container, which, name);
    let value_milli = match (which, name) {
        (Limit::Limit, "cpu") => set.unwrap_or(node.cpu_milli),
        (Limit::Limit, "memory") => set.unwrap_or(node.memory * 1000),
        (Limit::Limit, "ephemeral-storage") => set.unwrap_or(node.ephemeral_storage * 1000),
        (_, "cpu" | "memory" | "ephemeral-storage") => set.unwrap_or(0),
        (_, n) if n.starts_with("hugepages-") => set.unwrap_or(0),
        _ => return Err(ResourceFieldError::Unsupported(sel.resource.clone())),
    };
    let divisor_milli = match sel.divisor.as_ref() {
        Some(d) => milli(d).ok_or_else(|| ResourceFieldError::Divisor(sel.resource.clone()))?,
        None => 1000,
    };
    if divisor_milli <= 0 {
        return Err(ResourceFieldError::Divisor(sel.resource.clone()));
    }
    Ok(ceil_div(value_milli, divisor_milli).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use serde_json::json;

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u",
                "labels": {"app": "web", "tier": "a\"b"}, "annotations": {"x": "1"}},
            "spec": {"nodeName": "node1", "serviceAccountName": "sa", "containers": [
                {"name": "c", "resources": {"requests": {"cpu": "250m", "memory": "64Mi"},
                                            "limits": {"memory": "128Mi"}}},
                {"name": "d"}]},
        }))
        .expect("test input")
    }

    fn field(path: &str) -> Option<String> {
        let addrs = Addresses {
            host_ip: "192.0.2.5".parse().expect("test input"),
            pod_ip: Some("10.244.0.7".parse().expect("test input")),
        };
        let sel = ObjectFieldSelector {
            field_path: path.into(),
            api_version: None,
        };
        field_value(&pod(), &sel, addrs)
    }

    #[test]
    fn pod_fields() {
        assert_eq!(field("metadata.name").expect("test input"), "p");
        assert_eq!(field("metadata.namespace").expect("test input"), "ns");
        assert_eq!(field("metadata.uid").expect("test input"), "u");
        assert_eq!(field("metadata.labels['app']").expect("test input"), "web");
        assert_eq!(field("metadata.labels['none']").expect("test input"), "");
        assert_eq!(field("metadata.annotations['x']").expect("test input"), "1");
        assert_eq!(
            field("metadata.labels").expect("test input"),
            "app=\"web\"\ntier=\"a\\\"b\""
        );
        assert_eq!(field("spec.nodeName").expect("test input"), "node1");
        assert_eq!(field("spec.serviceAccountName").expect("test input"), "sa");
        assert_eq!(field("status.hostIP").expect("test input"), "192.0.2.5");
        assert_eq!(field("status.podIPs").expect("test input"), "10.244.0.7");
        assert_eq!(field("spec.bogus"), None);
    }

    #[test]
    fn resources_with_divisors_and_node_defaults() {
        let p = pod();
        let node = NodeAllocatable {
            cpu_milli: 2000,
            memory: 8 << 30,
            ephemeral_storage: 1 << 40,
            memory_capacity: 9 << 30,
        };
        let c = &p.spec.as_ref().expect("test input").containers[0];
        let get = |res: &str, div: Option<&str>, name: Option<&str>| {
            let sel = ResourceFieldSelector {
                container_name: name.map(str::to_string),
                divisor: div.map(|d| Quantity(d.into())),
                resource: res.into(),
            };
            resource_value(&p, Some(c), &sel, &node)
        };
        assert_eq!(get("requests.cpu", None, None).expect("test input"), "1");
        assert_eq!(
            get("requests.cpu", Some("1m"), None).expect("test input"),
            "250"
        );
        assert_eq!(get("limits.cpu", None, None).expect("test input"), "2");
        assert_eq!(
            get("limits.memory", Some("1Mi"), None).expect("test input"),
            "128"
        );
        assert_eq!(
            get("requests.memory", None, None).expect("test input"),
            (64u64 << 20).to_string()
        );
        assert_eq!(
            get("limits.memory", Some("1Gi"), Some("d")).expect("test input"),
            "8"
        );
        assert_eq!(
            get("requests.cpu", None, Some("d")).expect("test input"),
            "0"
        );
        assert!(get("limits.gpu", None, None).is_err());
        assert!(get("limits.cpu", None, Some("zz")).is_err());
    }
}
