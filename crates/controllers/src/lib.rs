//! The controllers of kube-controller-manager, as ordinary API clients:
//! they read the cluster through shared informers (kube-runtime watches
//! and stores) and change it only through the API, never through the API
//! server's code or the store.
//!
//! `framework/`: what every controller shares, as client-go's informers,
//! work queues and expectations and kube-controller-manager's leader
//! election, owner references and controller revisions. `pods.rs`: pod
//! states. Kubernetes' matching rules (selectors, affinity, taints) are
//! `rkube_apimachinery::matching`.
//!
//! Controllers, one file or folder each (`NAME` and `start`):
//! `replicaset/` (also run for ReplicationControllers:
//! `replicationcontroller.rs`), `deployment/`, `statefulset/`, `daemonset/`,
//! `job/`, `cronjob/`, `garbage_collector/`, `namespace.rs`,
//! `serviceaccount.rs`, `endpoints.rs`, `endpointslice.rs`,
//! `node_lifecycle.rs`, `nodeipam.rs` (nodes' `spec.podCIDR`),
//! `disruption.rs` (PodDisruptionBudget status),
//! `resourcequota.rs`, `hpa/` (HorizontalPodAutoscalers), `servicelb.rs`
//! (LoadBalancer Services' addresses, as k3s's ServiceLB),
//! `persistentvolume/` (binding, phases, reclaim, expansion),
//! `local_path/` (rkube's local-path provisioner), `pvc_protection.rs`,
//! `pv_protection.rs`, `ephemeral.rs` (generic ephemeral volumes' claims).

mod cronjob;
mod daemonset;
mod deployment;
mod disruption;
mod endpoints;
mod endpointslice;
mod ephemeral;
mod framework;
mod garbage_collector;
mod hpa;
mod job;
mod local_path;
mod namespace;
mod node_lifecycle;
mod nodeipam;
mod persistentvolume;
mod pods;
mod pv_protection;
mod pvc_protection;
mod replicaset;
mod replicationcontroller;
mod resourcequota;
mod serviceaccount;
mod servicelb;
mod statefulset;

use futures::future::select_all;
use kube::Client;
use tracing::info;

pub use framework::context::{Context, Options};
pub use framework::error::ControllerError;
pub use framework::leader;
pub use hpa::DEFAULT_SYNC_PERIOD as DEFAULT_HPA_SYNC_PERIOD;
pub use nodeipam::{CidrAllocator, DEFAULT_CLUSTER_CIDR};

/// Runs every controller until one of them stops (which only a dropped
/// client makes happen).
pub async fn run(client: Client, options: Options) -> Result<(), ControllerError> {
    let ctx = Context::new(client, options);
    let mut tasks = Tasks(Vec::new());
    let controllers: [(&str, Start); 23] = [
        (replicaset::NAME, replicaset::start),
        (replicationcontroller::NAME, replicationcontroller::start),
        (deployment::NAME, deployment::start),
        (statefulset::NAME, statefulset::start),
        (daemonset::NAME, daemonset::start),
        (job::NAME, job::start),
        (cronjob::NAME, cronjob::start),
        (garbage_collector::NAME, garbage_collector::start),
        (namespace::NAME, namespace::start),
        (serviceaccount::NAME, serviceaccount::start),
        (endpoints::NAME, endpoints::start),
        (endpointslice::NAME, endpointslice::start),
        (node_lifecycle::NAME, node_lifecycle::start),
        (nodeipam::NAME, nodeipam::start),
        (disruption::NAME, disruption::start),
        (resourcequota::NAME, resourcequota::start),
        (hpa::NAME, hpa::start),
        (servicelb::NAME, servicelb::start),
        (persistentvolume::NAME, persistentvolume::start),
        (local_path::NAME, local_path::start),
        (pvc_protection::NAME, pvc_protection::start),
        (pv_protection::NAME, pv_protection::start),
        (ephemeral::NAME, ephemeral::start),
    ];
    let mut started = Vec::new();
    for (name, start) in controllers {
        let t = start(&ctx);
        if !t.is_empty() {
            started.push(name);
        }
        tasks.0.extend(t);
    }
    tasks.0.extend(ctx.informers.start());
    info!(controllers = ?started, "controllers started");
    // The handles stay in `tasks` while waiting, so that dropping this
    // future (leadership lost, the process stopping) aborts every task.
    let (ended, _, _) = select_all(tasks.0.iter_mut()).await;
    tracing::warn!(?ended, "a controller task ended");
    Ok(())
}

/// A controller's `start`: registers its handlers, spawns its workers.
type Start = fn(&std::sync::Arc<Context>) -> Vec<tokio::task::JoinHandle<()>>;

/// The controllers' tasks, aborted when dropped (leadership lost, or the
/// process stopping), so no controller outlives `run`.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
