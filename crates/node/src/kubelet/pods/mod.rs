//! Pod workers: one per pod bound to this node. Each compares the pod's
//! spec with what the runtime has (relisted every `relist_period`) and
//! does what the plan says — sandbox, image pulls, init containers in
//! order, sidecars, main containers, probes, hooks, restarts with back-off,
//! graceful termination — then writes the status through `pods/status`.

pub mod backoff;
pub mod plan;
pub mod qos;
pub mod spec;
pub mod status;
pub mod view;

#[cfg(test)]
mod testutil;

use std::sync::Arc;

use kube::Client;
use rkube_cri::{ImageService, RuntimeService};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::error::KubeletError;

/// Run the pods bound to `config.node_name` until the future is dropped.
pub async fn run(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
) -> Result<(), KubeletError> {
    let _ = (client, config, runtime, images);
    unimplemented!("kubelet::pods::run")
}
