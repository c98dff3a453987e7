//! The pod's sandbox configuration: hostname, DNS, host network, host
//! ports, cgroup parent by QoS class, log directory and labels.

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::Pod;
use rkube_cri::{PodSandboxConfig, PortMapping, Protocol};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::dns::{dns_config, ResolvConf};
use crate::kubelet::container::qos::cgroup_parent;

/// Labels the kubelet puts on sandboxes and containers.
pub const LABEL_POD_NAME: &str = "io.kubernetes.pod.name";
pub const LABEL_POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
pub const LABEL_POD_UID: &str = "io.kubernetes.pod.uid";
pub const LABEL_CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// Whether the pod runs in the host's network namespace.
pub fn host_network(pod: &Pod) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.host_network)
        .unwrap_or(false)
}

/// The pod's hostname (`spec.hostname`, else its name) and, with a
/// `subdomain`, its fully qualified name
/// (`<hostname>.<subdomain>.<namespace>.svc.<domain>`).
pub fn hostname(pod: &Pod, cluster_domain: &str) -> (String, Option<String>) {
    let spec = pod.spec.as_ref();
    let name = spec
        .and_then(|s| s.hostname.clone())
        .filter(|h| !h.is_empty())
        .or_else(|| pod.metadata.name.clone())
        .unwrap_or_default();
    // A pod name may be longer than a hostname may be (63).
    let mut host: String = name.chars().take(63).collect();
    while host.ends_with(['-', '.']) {
        host.pop();
    }
    let fqdn = spec
        .and_then(|s| s.subdomain.as_deref())
        .filter(|s| !s.is_empty())
        .map(|sub| {
            let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
            format!(
                "{host}.{sub}.{ns}.svc.{}",
                cluster_domain.trim_end_matches('.')
            )
        });
    (host, fqdn)
}

/// The `hostPort`s of the pod's containers (none with `hostNetwork`).
pub fn port_mappings(pod: &Pod) -> Vec<PortMapping> {
    let Some(spec) = pod.spec.as_ref() else {
        return Vec::new();
    };
    if spec.host_network.unwrap_or(false) {
        return Vec::new();
    }
    spec.init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            let host_port = u16::try_from(p.host_port.unwrap_or(0))
                .ok()
                .filter(|p| *p != 0)?;
            Some(PortMapping {
                protocol: match p.protocol.as_deref() {
                    Some("UDP") => Protocol::Udp,
                    Some("SCTP") => Protocol::Sctp,
                    _ => Protocol::Tcp,
                },
                container_port: u16::try_from(p.container_port).ok()?,
                host_port,
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect()
}

/// `log_dir/<namespace>_<name>_<uid>`: where the pod's container logs go.
pub fn pod_log_dir(pod: &Pod, config: &KubeletConfig) -> PathBuf {
    let m = &pod.metadata;
    config.log_dir.join(format!(
        "{}_{}_{}",
        m.namespace.as_deref().unwrap_or_default(),
        m.name.as_deref().unwrap_or_default(),
        m.uid.as_deref().unwrap_or_default()
    ))
}

/// The labels naming the pod (on its sandbox and every container).
pub fn pod_labels(pod: &Pod) -> BTreeMap<String, String> {
    let m = &pod.metadata;
    BTreeMap::from([
        (
            LABEL_POD_NAME.to_string(),
            m.name.clone().unwrap_or_default(),
        ),
        (
            LABEL_POD_NAMESPACE.to_string(),
            m.namespace.clone().unwrap_or_default(),
        ),
        (LABEL_POD_UID.to_string(), m.uid.clone().unwrap_or_default()),
    ])
}

/// The sandbox configuration, given the host's resolv.conf.
pub fn sandbox_config_with(
    pod: &Pod,
    config: &KubeletConfig,
    attempt: u32,
    host_resolv: &ResolvConf,
) -> PodSandboxConfig {
    let m = &pod.metadata;
    let mut labels = m.labels.clone().unwrap_or_default();
    labels.extend(pod_labels(pod));
    PodSandboxConfig {
        pod_uid: m.uid.clone().unwrap_or_default(),
        pod_name: m.name.clone().unwrap_or_default(),
        pod_namespace: m.namespace.clone().unwrap_or_default(),
        attempt,
        hostname: hostname(pod, &config.cluster_domain).0,
        host_network: host_network(pod),
        dns: dns_config(pod, config, host_resolv),
        port_mappings: port_mappings(pod),
        cgroup_parent: cgroup_parent(pod),
        log_directory: pod_log_dir(pod, config),
        labels,
        annotations: m.annotations.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config() -> KubeletConfig {
        KubeletConfig::new(
            "n".into(),
            "127.0.0.1".parse().expect("test input"),
            std::path::Path::new("/d"),
        )
    }

    fn pod(spec: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "web-0", "namespace": "shop", "uid": "u-1",
                         "labels": {"app": "web"}, "annotations": {"a": "b"}},
            "spec": spec,
        }))
        .expect("test input")
    }

    #[test]
    fn sandbox_of_a_plain_pod() {
        let p = pod(json!({"containers": [{"name": "c", "ports": [
            {"containerPort": 80, "hostPort": 8080},
            {"containerPort": 53, "hostPort": 5353, "protocol": "UDP", "hostIP": "127.0.0.1"},
            {"containerPort": 443}]}]}));
        let s = sandbox_config_with(&p, &config(), 2, &ResolvConf::default());
        assert_eq!(s.pod_uid, "u-1");
        assert_eq!(s.attempt, 2);
        assert_eq!(s.hostname, "web-0");
        assert!(!s.host_network);
        assert_eq!(s.cgroup_parent, "kubepods/besteffort/podu-1");
        assert_eq!(
            s.log_directory,
            PathBuf::from("/d/kubelet/pod-logs/shop_web-0_u-1")
        );
        assert_eq!(s.labels["app"], "web");
        assert_eq!(s.labels[LABEL_POD_UID], "u-1");
        assert_eq!(s.labels[LABEL_POD_NAMESPACE], "shop");
        assert_eq!(s.annotations["a"], "b");
        assert_eq!(
            s.port_mappings,
            vec![
                PortMapping {
                    protocol: Protocol::Tcp,
                    container_port: 80,
                    host_port: 8080,
                    host_ip: String::new()
                },
                PortMapping {
                    protocol: Protocol::Udp,
                    container_port: 53,
                    host_port: 5353,
                    host_ip: "127.0.0.1".into()
                },
            ]
        );
    }

    #[test]
    fn hostname_and_subdomain() {
        let p = pod(
            json!({"hostname": "db", "subdomain": "dbs", "hostNetwork": true,
            "containers": [{"name": "c", "ports": [{"containerPort": 80, "hostPort": 80}]}]}),
        );
        let (h, fqdn) = hostname(&p, "cluster.local");
        assert_eq!(h, "db");
        assert_eq!(fqdn.as_deref(), Some("db.dbs.shop.svc.cluster.local"));
        let s = sandbox_config_with(&p, &config(), 0, &ResolvConf::default());
        assert!(s.host_network);
        assert!(s.port_mappings.is_empty());
    }
}
