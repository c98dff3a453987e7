//! From the pod spec and the image to what the runtime is asked for: the
//! sandbox's configuration (hostname, DNS from `dnsPolicy`/`dnsConfig`,
//! cgroup parent by QoS class, host ports) and each container's
//! (`command`/`args` merged with the image's entrypoint and cmd with
//! `$(VAR)` expansion, `env` and `envFrom`, the service-link and
//! `KUBERNETES_SERVICE_*` variables, `workingDir`, `securityContext`,
//! requests and limits, volume mounts, `/etc/hosts`,
//! `/dev/termination-log`).

use std::collections::BTreeMap;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use kube::Client;
use rkube_cri::{ContainerConfig, ImageInfo, PodSandboxConfig};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::volumes::PodVolumes;

/// Why a container cannot be configured: the pod shows `reason` (for
/// example `CreateContainerConfigError`) and `message` in the container's
/// waiting state.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub reason: &'static str,
    pub message: String,
}

/// The ConfigMaps, Secrets and Services a pod's environment refers to,
/// read from the API once per container start.
#[derive(Clone, Debug, Default)]
pub struct EnvSources {
    pub config_maps: BTreeMap<String, ConfigMap>,
    pub secrets: BTreeMap<String, Secret>,
    /// The namespace's Services (service links) and `default/kubernetes`.
    pub services: Vec<Service>,
}

/// Read what the pod's `env` and `envFrom` refer to. A missing ConfigMap,
/// Secret or key that is not `optional` is a [`ConfigError`].
pub async fn fetch_env_sources(client: &Client, pod: &Pod) -> Result<EnvSources, ConfigError> {
    let _ = (client, pod);
    unimplemented!("kubelet::container::fetch_env_sources")
}

/// The sandbox for the pod's `attempt`-th sandbox.
pub fn sandbox_config(pod: &Pod, config: &KubeletConfig, attempt: u32) -> PodSandboxConfig {
    let _ = (pod, config, attempt);
    unimplemented!("kubelet::container::sandbox_config")
}

/// Everything one container's configuration is made from.
pub struct ContainerInputs<'a> {
    pub pod: &'a Pod,
    pub container: &'a Container,
    pub image: &'a ImageInfo,
    /// The container's restart count: 0 for its first run.
    pub attempt: u32,
    pub env: &'a EnvSources,
    pub volumes: &'a PodVolumes,
    /// The sandbox's address (none with `hostNetwork`).
    pub pod_ip: Option<IpAddr>,
    pub config: &'a KubeletConfig,
}

/// What the runtime needs to create the container.
pub fn container_config(inputs: &ContainerInputs<'_>) -> Result<ContainerConfig, ConfigError> {
    let _ = inputs;
    unimplemented!("kubelet::container::container_config")
}
