//! The real node's kubelet: registers the Node, keeps its Lease and status,
//! and runs the pods bound to it through the CRI-like services of
//! `rkube-cri` (runtime, images), as the kubelet does through CRI.
//!
//! - `config.rs`: [`KubeletConfig`]; `error.rs`: [`KubeletError`];
//! - `node/`: registration, capacity and nodeInfo from the host, Lease
//!   heartbeats, conditions from measurements, node-pressure eviction;
//! - `pods/`: pod workers — the plan of what to start, stop and restart
//!   (pure, unit-tested), image pulls, probes, hooks, termination, the
//!   status written through `pods/status`, events;
//! - `container/`: one container's configuration from the pod spec and the
//!   image (command and args, env and envFrom, securityContext, resources,
//!   mounts), the sandbox configuration (DNS, hostname, cgroup);
//! - `volumes/`: emptyDir, configMap, secret, downwardAPI, projected and
//!   hostPath volumes under the pod's directory; claims (their
//!   PersistentVolume's directory) and local-path volumes (made on first
//!   mount, removed with their PersistentVolume, the free space published).
//!
//! What it must not do: touch the store, run processes itself (the runtime
//! does), or decide where pods go.

pub mod config;
pub mod container;
pub mod error;
pub mod node;
pub mod pods;
pub mod volumes;

use std::sync::Arc;

use kube::Client;
use rkube_cri::{ImageService, RuntimeService};

pub use config::KubeletConfig;
pub use error::KubeletError;

/// Run the node: its status and Lease, and its pods, until the future is
/// dropped or a fatal error. The Node must have been registered
/// ([`node::register`]) and the runtime built for its pod range.
pub async fn run(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
) -> Result<(), KubeletError> {
    let status = node::run_status(
        client.clone(),
        config.clone(),
        runtime.clone(),
        images.clone(),
    );
    let local_path = volumes::local_path_sync::run(client.clone(), config.clone());
    let pods = pods::run(client, config, runtime, images);
    tokio::select! {
        r = status => r,
        r = pods => r,
        () = local_path => Ok(()),
    }
}
