//! [`NetworkPlugin`]: a pod's interface and address inside its network
//! namespace (after the CNI bridge, host-local and portmap plugins).

use std::net::IpAddr;
use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::CriError;

/// TCP, UDP or SCTP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

/// A `hostPort` of one of the pod's containers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub protocol: Protocol,
    pub container_port: u16,
    pub host_port: u16,
    /// Empty: every host address.
    pub host_ip: String,
}

/// Which pod and which network namespace to attach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// The sandbox's id: the key the address is recorded under.
    pub sandbox_id: String,
    pub pod_namespace: String,
    pub pod_name: String,
    pub pod_uid: String,
    /// The network namespace the runtime made (`/var/run/netns/…`).
    pub netns_path: PathBuf,
    pub port_mappings: Vec<PortMapping>,
}

/// The address a pod got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodAddress {
    pub ip: IpAddr,
    pub gateway: IpAddr,
    /// Prefix length of the node's pod range.
    pub prefix_len: u8,
}

/// Attaches pods to the node's pod network. Setting up the node side (the
/// bridge, the routes of the pod and service ranges, masquerade) is the
/// implementation's own start-up, before the first `add`.
#[async_trait]
pub trait NetworkPlugin: Send + Sync {
    /// Give the namespace an interface (`eth0`) and an address from the
    /// node's pod range; the same sandbox again returns the same address.
    async fn add(&self, attachment: &NetworkAttachment) -> Result<PodAddress, CriError>;
    /// Remove the interface and release the address; nothing if absent.
    async fn del(&self, sandbox_id: &str) -> Result<(), CriError>;
    /// Release every address whose sandbox is not in `live` (after a
    /// restart: no leak, no duplicate).
    async fn gc(&self, live: &[String]) -> Result<(), CriError>;
}
