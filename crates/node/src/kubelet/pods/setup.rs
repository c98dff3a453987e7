//! [`PodSetup`]: what the workers need from `kubelet::container` (the
//! sandbox's and each container's configuration, the ConfigMaps, Secrets
//! and Services the environment refers to) and from `kubelet::volumes`,
//! behind one trait so that the workers can be tested without them.
//! [`KubeletSetup`] is the real one.

use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use rkube_cri::{ContainerConfig, PodSandboxConfig};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::{self, ConfigError, ContainerInputs, EnvSources};
use crate::kubelet::volumes::{PodVolumes, VolumeError, VolumeManager};

/// Configurations and volumes for the pod workers.
#[async_trait]
pub trait PodSetup: Send + Sync {
    /// The pod's `attempt`-th sandbox.
    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> PodSandboxConfig;
    /// What the pod's `env` and `envFrom` refer to.
    async fn env_sources(&self, pod: &Pod) -> Result<EnvSources, ConfigError>;
    /// One container's configuration.
    fn container_config(
        &self,
        inputs: &ContainerInputs<'_>,
    ) -> Result<ContainerConfig, ConfigError>;
    /// Write the files the container's configuration mounts (`/etc/hosts`,
    /// the termination-message file, the log directory), before it is
    /// created.
    fn prepare_container_files(&self, inputs: &ContainerInputs<'_>) -> Result<(), ConfigError>;
    /// Make the pod's volumes (the same paths again for the same pod).
    async fn setup_volumes(&self, pod: &Pod) -> Result<PodVolumes, VolumeError>;
    /// Rewrite the volumes whose sources changed.
    async fn refresh_volumes(&self, pod: &Pod) -> Result<(), VolumeError>;
    /// Remove the pod's volumes.
    async fn teardown_volumes(&self, pod_uid: &str) -> Result<(), VolumeError>;
}

/// The kubelet's own: `kubelet::container` and `kubelet::volumes`.
pub struct KubeletSetup {
    client: Client,
    config: Arc<KubeletConfig>,
    volumes: VolumeManager,
}

impl KubeletSetup {
    pub fn new(client: Client, config: Arc<KubeletConfig>) -> Self {
        KubeletSetup {
            volumes: VolumeManager::new(client.clone(), config.clone()),
            client,
            config,
        }
    }
}

#[async_trait]
impl PodSetup for KubeletSetup {
    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> PodSandboxConfig {
        container::sandbox_config(pod, &self.config, attempt)
    }

    async fn env_sources(&self, pod: &Pod) -> Result<EnvSources, ConfigError> {
        container::fetch_env_sources(&self.client, pod).await
    }

    fn container_config(
        &self,
        inputs: &ContainerInputs<'_>,
    ) -> Result<ContainerConfig, ConfigError> {
        container::container_config(inputs)
    }

    fn prepare_container_files(&self, inputs: &ContainerInputs<'_>) -> Result<(), ConfigError> {
        container::prepare_container_files(inputs)
    }

    async fn setup_volumes(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        self.volumes.setup(pod).await
    }

    async fn refresh_volumes(&self, pod: &Pod) -> Result<(), VolumeError> {
        self.volumes.refresh(pod).await
    }

    async fn teardown_volumes(&self, pod_uid: &str) -> Result<(), VolumeError> {
        self.volumes.teardown(pod_uid).await
    }
}
