//! [`Objects`]: the API objects the rules are compiled from (a snapshot of
//! the reflectors' stores), and [`PodInfo`], the little of a Pod that
//! policies look at.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;

/// The label every namespace carries with its own name (set by the API
/// server; assumed when a namespace is not in the store yet).
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// What the rules are compiled from.
#[derive(Clone, Debug, Default)]
pub struct Objects {
    pub policies: Vec<Arc<NetworkPolicy>>,
    pub pods: Vec<Arc<Pod>>,
    pub namespaces: Vec<Arc<Namespace>>,
}

/// A container port: name, protocol (upper case, `TCP` if unset), number.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub protocol: String,
    pub port: u16,
}

/// One pod as policies see it.
#[derive(Clone, Debug)]
pub struct PodInfo {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Its IPv4 address, once the kubelet reported one.
    pub ip: Option<Ipv4Addr>,
    pub node: Option<String>,
    /// Pods on the host's network are no policy's peers or targets (their
    /// address is the node's).
    pub host_network: bool,
    /// `Succeeded` or `Failed`: its address is free again.
    pub finished: bool,
    pub ports: Vec<NamedPort>,
}

impl PodInfo {
    pub fn from_pod(pod: &Pod) -> PodInfo {
        let spec = pod.spec.as_ref();
        let status = pod.status.as_ref();
        let ip = status.and_then(|s| {
            let listed = s.pod_ips.iter().flatten().map(|p| p.ip.as_str());
            s.pod_ip
                .as_deref()
                .into_iter()
                .chain(listed)
                .find_map(|ip| ip.parse::<Ipv4Addr>().ok())
        });
        let ports = spec
            .into_iter()
            .flat_map(|s| s.init_containers.iter().flatten().chain(&s.containers))
            .flat_map(|c| c.ports.iter().flatten())
            .filter_map(|p| {
                Some(NamedPort {
                    name: p.name.clone()?,
                    protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    port: u16::try_from(p.container_port).ok()?,
                })
            })
            .collect();
        PodInfo {
            namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            labels: pod.metadata.labels.clone().unwrap_or_default(),
            ip,
            node: spec.and_then(|s| s.node_name.clone()),
            host_network: spec.and_then(|s| s.host_network).unwrap_or(false),
            finished: matches!(
                status.and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            ),
            ports,
        }
    }

    /// The node's own DNS server (`rkube-dns`, on the bridge's address) as
    /// the peer policies expect cluster DNS to be: a pod of `kube-system`
    /// labelled `k8s-app: kube-dns` with the ports `dns` (53/UDP) and
    /// `dns-tcp` (53/TCP), as CoreDNS's pods are. So the usual egress rule
    /// "allow DNS to kube-system's kube-dns pods" admits it. A peer only:
    /// its address is the gateway's, which is never enforced as a pod.
    pub fn node_dns(node: &str, address: Ipv4Addr) -> PodInfo {
        let port = |name: &str, protocol: &str| NamedPort {
            name: name.to_string(),
            protocol: protocol.to_string(),
            port: 53,
        };
        PodInfo {
            namespace: "kube-system".to_string(),
            name: format!("rkube-dns-{node}"),
            labels: BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]),
            ip: Some(address),
            node: Some(node.to_string()),
            host_network: false,
            finished: false,
            ports: vec![port("dns", "UDP"), port("dns-tcp", "TCP")],
        }
    }

    /// The port numbers this pod gives `name` for `protocol`.
    pub fn named_ports<'a>(
        &'a self,
        name: &'a str,
        protocol: &'a str,
    ) -> impl Iterator<Item = u16> + 'a {
        self.ports
            .iter()
            .filter(move |p| p.name == name && p.protocol.eq_ignore_ascii_case(protocol))
            .map(|p| p.port)
    }
}
