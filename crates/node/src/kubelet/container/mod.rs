//! From the pod spec and the image to what the runtime is asked for: the
//! sandbox's configuration (hostname, DNS from `dnsPolicy`/`dnsConfig`,
//! cgroup parent by QoS class, host ports) and each container's
//! (`command`/`args` merged with the image's entrypoint and cmd with
//! `$(VAR)` expansion, `env` and `envFrom`, the service-link and
//! `KUBERNETES_SERVICE_*` variables, `workingDir`, `securityContext`,
//! requests and limits, volume mounts, `/etc/hosts`,
//! `/dev/termination-log`).
//!
//! Pure functions apart from [`fetch_env_sources`] (the API reads),
//! [`prepare_container_files`] (the files the kubelet writes before a
//! container is created) and the host's resolv.conf and allocatable
//! amounts read by the two wrappers here:
//! - `sandbox.rs` (hostname, ports, cgroup, labels), `dns.rs`, `qos.rs`;
//! - `build.rs` (argv and the whole [`ContainerConfig`]), `env.rs`
//!   (service links, envFrom, env), `expand.rs` (`$(VAR)`), `fieldref.rs`
//!   (downward API values, shared with downwardAPI volumes),
//!   `security.rs`, `resources.rs`, `quantity.rs`, `mounts.rs`;
//! - `files.rs` (etc-hosts, termination-log files), `fetch.rs`.

mod build;
pub mod dns;
mod env;
pub mod expand;
mod fetch;
pub mod fieldref;
mod files;
pub mod mounts;
pub mod qos;
pub mod quantity;
mod resources;
pub mod sandbox;
mod security;

pub use build::{argv, container_config_with};
pub use dns::{missing_cluster_dns, missing_cluster_dns_message};
pub use env::EnvList;
pub use fieldref::NodeAllocatable;
pub use files::prepare_container_files;
pub use qos::{qos_class, QosClass};
pub use sandbox::sandbox_config_with;

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

/// Read what the pod's `env` and `envFrom` refer to (one GET each), the
/// namespace's Services (service links) and `default/kubernetes`. A
/// ConfigMap or Secret that does not exist is left out: the container
/// that needs it gets its [`ConfigError`] from [`container_config`]; other
/// API failures are a [`ConfigError`] here.
pub async fn fetch_env_sources(client: &Client, pod: &Pod) -> Result<EnvSources, ConfigError> {
    fetch::fetch_env_sources(client, pod).await
}

/// The sandbox for the pod's `attempt`-th sandbox (reads the host's
/// resolv.conf, `config.resolv_conf`, for `Default` pods and `ClusterFirst`
/// ones without cluster DNS).
pub fn sandbox_config(pod: &Pod, config: &KubeletConfig, attempt: u32) -> PodSandboxConfig {
    let mut host = std::fs::read_to_string(&config.resolv_conf)
        .map(|t| dns::parse_resolv_conf(&t))
        .unwrap_or_else(|e| {
            tracing::warn!(path = %config.resolv_conf.display(), error = %e, "cannot read the host's resolv.conf");
            dns::ResolvConf::default()
        });
    // systemd-resolved's stub (127.0.0.53) cannot be reached from a pod's
    // network namespace: use the servers it forwards to, as k3s does.
    if dns::only_loopback(&host) {
        if let Ok(t) = std::fs::read_to_string(dns::SYSTEMD_RESOLVED_UPSTREAM) {
            host = dns::parse_resolv_conf(&t);
        }
    }
    sandbox_config_with(pod, config, attempt, &host)
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
/// Pure but for the node's allocatable amounts, measured once per process
/// ([`crate::kubelet::node::host::allocatable`]). The files it mounts are
/// made by [`prepare_container_files`].
pub fn container_config(inputs: &ContainerInputs<'_>) -> Result<ContainerConfig, ConfigError> {
    let node = crate::kubelet::node::host::allocatable(&inputs.config.root_dir);
    container_config_with(inputs, &node)
}
