//! [`Context`]: what every pod worker shares — the API client, the
//! configuration, the runtime and image services, the pod setup, the event
//! recorder, and the way to ask for an early relist.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use kube::Client;
use rkube_cri::{ImageService, RuntimeService};
use rkube_events::Recorder;
use tokio::sync::Notify;

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::pods::setup::PodSetup;

/// Shared by the workers.
pub struct Context {
    pub client: Client,
    pub config: Arc<KubeletConfig>,
    pub runtime: Arc<dyn RuntimeService>,
    pub images: Arc<dyn ImageService>,
    pub setup: Arc<dyn PodSetup>,
    pub recorder: Recorder,
    /// Wakes the relist before its period ends.
    pub relist_now: Arc<Notify>,
}

impl Context {
    pub fn normal(&self, pod: &Pod, reason: &str, message: &str) {
        self.recorder.normal(pod, reason, message);
    }

    pub fn warning(&self, pod: &Pod, reason: &str, message: &str) {
        self.recorder.warning(pod, reason, message);
    }
}
