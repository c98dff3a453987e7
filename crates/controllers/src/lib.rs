//! The controllers of kube-controller-manager, as ordinary API clients:
//! they read the cluster through shared informers (kube-runtime watches
//! and stores) and change it only through the API, never through the API
//! server's code or the store.
//!
//! Framework, as client-go's:
//! - `informer.rs`: one watch per kind shared by every controller, with
//!   change handlers that see the old and new version;
//! - `queue.rs`: work queues of object keys with per-key backoff;
//! - `expectations.rs`: creations and deletions asked for and not yet seen;
//! - `runner.rs`: the workers that reconcile keys;
//! - `pod_index.rs`: pods by controller, orphans by namespace;
//! - `context.rs`: what the controllers share; `owner.rs`, `pods.rs`,
//!   `selector.rs`: owner references, pod states, label selectors.
//!
//! Controllers, one file each (`NAME` and `start`): `replicaset.rs`,
//! `deployment.rs`, `statefulset.rs`, `daemonset.rs`, `job.rs`,
//! `cronjob.rs`, `garbage_collector/`, `namespace.rs`,
//! `serviceaccount.rs`, `endpoints.rs`, `endpointslice.rs`,
//! `node_lifecycle.rs`, `disruption.rs` (PodDisruptionBudget status),
//! `resourcequota.rs`.
//! `leader.rs`: leader election through a `coordination.k8s.io/v1` Lease,
//! so that of several copies exactly one runs the controllers.

mod context;
mod cron_schedule;
mod cronjob;
mod daemonset;
mod deployment;
mod disruption;
mod endpoints;
mod endpointslice;
mod error;
mod expectations;
mod garbage_collector;
mod history;
mod informer;
mod job;
pub mod leader;
mod namespace;
mod node_lifecycle;
mod owner;
mod pod_index;
mod pods;
mod queue;
mod replicaset;
mod resourcequota;
mod runner;
mod selector;
mod serviceaccount;
mod statefulset;

use futures::future::select_all;
use kube::Client;
use tracing::info;

pub use context::{Context, Options};
pub use error::ControllerError;

/// Runs every controller until one of them stops (which only a dropped
/// client makes happen).
pub async fn run(client: Client, options: Options) -> Result<(), ControllerError> {
    let ctx = Context::new(client, options);
    let mut tasks = Tasks(Vec::new());
    let controllers: [(&str, Start); 14] = [
        (replicaset::NAME, replicaset::start),
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
        (disruption::NAME, disruption::start),
        (resourcequota::NAME, resourcequota::start),
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
