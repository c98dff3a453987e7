//! The Node object of a real node: registered at start with what the host
//! has (capacity, allocatable, nodeInfo, addresses), kept current (Lease
//! heartbeats, conditions from measurements, `status.images`), and
//! node-pressure eviction at the kubelet's hard thresholds.
//!
//! - `host.rs`: what the host has (CPUs, memory, file systems, pids,
//!   nodeInfo); `object.rs`: the Node as JSON (pure);
//! - `register.rs`: [`register`], [`wait_for_pod_cidr`];
//! - `conditions.rs`: thresholds and conditions from [`Measurements`]
//!   (pure); `eviction.rs`: whom to evict and why (pure);
//! - `status.rs`: the loop of [`run_status`] (measure, write, evict);
//!   `lease.rs`: the Lease; `clock.rs`: API times;
//! - `routes.rs`: routes to the other real nodes' pod ranges.

mod clock;
pub mod conditions;
pub mod eviction;
pub mod host;
mod lease;
pub mod object;
mod register;
pub mod routes;
pub mod status;
pub mod thresholds;

pub use conditions::Measurements;

use std::sync::Arc;

use kube::Client;
use rkube_cri::{ImageService, RuntimeService};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::error::KubeletError;

/// Create the Node (or update the one left by an earlier run) with its
/// labels, addresses, capacity, allocatable, nodeInfo (naming the runtime:
/// `runtime_version`) and conditions.
pub async fn register(
    client: &Client,
    config: &KubeletConfig,
    runtime_version: &str,
) -> Result<(), KubeletError> {
    register::register(client, config, runtime_version).await
}

/// Wait until the node-IPAM controller has given the Node its
/// `spec.podCIDR`, and return it (`10.244.0.0/24`).
pub async fn wait_for_pod_cidr(client: &Client, node_name: &str) -> Result<String, KubeletError> {
    register::wait_for_pod_cidr(client, node_name).await
}

/// Renew the Lease, write the Node's status when it changes (and every
/// `node_status_report`), and evict pods under node pressure, until the
/// future is dropped.
pub async fn run_status(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
) -> Result<(), KubeletError> {
    status::run(client, config, runtime, images).await
}
