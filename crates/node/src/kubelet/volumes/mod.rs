//! A pod's volumes on the node, under `root_dir/pods/<uid>/volumes/`:
//! emptyDir (disk, or tmpfs for `medium: Memory` with `sizeLimit`),
//! configMap and secret (items, defaultMode, optional; kept current in
//! running pods), downwardAPI, projected, hostPath with its `type` checks.
//! Files are written as the kubelet's atomic writer does (a `..data`
//! symlink swapped at once).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;

use crate::kubelet::config::KubeletConfig;

/// Why a pod's volumes cannot be set up: the pod stays in
/// ContainerCreating with a `FailedMount` event carrying this message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct VolumeError {
    pub message: String,
}

/// Where each of a pod's volumes is on the host, by volume name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodVolumes {
    pub paths: BTreeMap<String, PathBuf>,
}

/// Sets up, refreshes and tears down pods' volumes.
pub struct VolumeManager {
    client: Client,
    config: Arc<KubeletConfig>,
}

impl VolumeManager {
    pub fn new(client: Client, config: Arc<KubeletConfig>) -> Self {
        VolumeManager { client, config }
    }

    /// Make every volume of the pod; again for the same pod returns the
    /// same paths (after a restart too).
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let _ = (&self.client, &self.config, pod);
        unimplemented!("kubelet::volumes::VolumeManager::setup")
    }

    /// Rewrite configMap, secret, downwardAPI and projected volumes whose
    /// sources changed (called for running pods about once a minute).
    pub async fn refresh(&self, pod: &Pod) -> Result<(), VolumeError> {
        let _ = pod;
        unimplemented!("kubelet::volumes::VolumeManager::refresh")
    }

    /// Remove the pod's volumes (unmounting tmpfs ones); hostPath data is
    /// never touched.
    pub async fn teardown(&self, pod_uid: &str) -> Result<(), VolumeError> {
        let _ = pod_uid;
        unimplemented!("kubelet::volumes::VolumeManager::teardown")
    }
}
