//! Pod workers: one per pod bound to this node. Each compares the pod's
//! spec with what the runtime has (relisted every `relist_period`) and
//! does what the plan says — sandbox, image pulls, init containers in
//! order, sidecars, main containers, probes, hooks, restarts with back-off,
//! graceful termination — then writes the status through `pods/status`.
//!
//! Start with `worker.rs` (one pod's loop); its decisions are the pure
//! `plan.rs` and `status.rs` over `view.rs` (what the runtime has),
//! `backoff.rs` and `spec.rs`. `pleg.rs` relists the runtime for every
//! worker; `images.rs` pulls; `probes/` and `hooks.rs` run checks in the
//! containers; `setup.rs` is the seam to `kubelet::container` and
//! `kubelet::volumes`. This file watches the pods bound to the node, runs
//! a worker per pod, and removes what the runtime has of pods that are no
//! longer bound here.

pub mod backoff;
pub mod context;
pub mod hooks;
pub mod images;
pub mod logs;
pub mod plan;
pub mod pleg;
pub mod probes;
pub mod setup;
pub mod spec;
pub mod status;
pub mod view;
pub mod worker;

#[cfg(test)]
mod testutil;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::{watcher, WatchStreamExt};
use kube::{Api, Client, ResourceExt};
use rkube_cri::{ImageService, RuntimeService, SandboxState};
use rkube_events::Recorder;
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::error::KubeletError;
use crate::kubelet::pods::context::Context;
use crate::kubelet::pods::pleg::Relist;
use crate::kubelet::pods::setup::{KubeletSetup, PodSetup};
use crate::kubelet::pods::view::PodRuntime;
use crate::kubelet::pods::worker::{PodUpdate, Worker};

/// How long the containers of a pod no longer bound here get to stop.
const ORPHAN_GRACE: Duration = Duration::from_secs(2);

/// Run the pods bound to `config.node_name` until the future is dropped.
pub async fn run(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
) -> Result<(), KubeletError> {
    let setup: Arc<dyn PodSetup> = Arc::new(KubeletSetup::new(client.clone(), config.clone()));
    run_with(client, config, runtime, images, setup).await
}

/// [`run`] with the pod setup given (tests give their own).
pub async fn run_with(
    client: Client,
    config: Arc<KubeletConfig>,
    runtime: Arc<dyn RuntimeService>,
    images: Arc<dyn ImageService>,
    setup: Arc<dyn PodSetup>,
) -> Result<(), KubeletError> {
    let ctx = Arc::new(Context {
        recorder: Recorder::new(client.clone(), "kubelet"),
        client,
        config,
        runtime,
        images,
        setup,
        relist_now: Arc::new(Notify::new()),
    });
    Dispatcher::new(ctx).run().await
}

/// Watches the node's pods and keeps one worker per pod.
struct Dispatcher {
    ctx: Arc<Context>,
    workers: HashMap<String, watch::Sender<PodUpdate>>,
    /// Dropped (aborted) with the dispatcher.
    tasks: JoinSet<String>,
    /// Pods the runtime has that are no longer bound here, being removed.
    cleaning: HashSet<String>,
    cleanups: JoinSet<String>,
}

impl Dispatcher {
    fn new(ctx: Arc<Context>) -> Self {
        Dispatcher {
            ctx,
            workers: HashMap::new(),
            tasks: JoinSet::new(),
            cleaning: HashSet::new(),
            cleanups: JoinSet::new(),
        }
    }

    async fn run(mut self) -> Result<(), KubeletError> {
        let (relist_tx, mut relists) = watch::channel(Arc::new(Relist::default()));
        let mut pleg = JoinSet::new();
        pleg.spawn(pleg::run(
            self.ctx.runtime.clone(),
            self.ctx.config.relist_period,
            self.ctx.relist_now.clone(),
            relist_tx,
        ));
        let api: Api<Pod> = Api::all(self.ctx.client.clone());
        let selector = format!("spec.nodeName={}", self.ctx.config.node_name);
        let mut events = watcher(api, watcher::Config::default().fields(&selector))
            .default_backoff()
            .boxed();
        info!(node = %self.ctx.config.node_name, "pod workers started");
        // Orphans are only known once the first list is complete.
        let mut synced = false;
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            tokio::select! {
                event = events.next() => {
                    let Some(event) = event else { return Ok(()) };
                    match event {
                        Ok(watcher::Event::Apply(pod)) => self.dispatch(pod, &relists),
                        Ok(watcher::Event::InitApply(pod)) => {
                            seen.insert(pod.uid().unwrap_or_default());
                            self.dispatch(pod, &relists);
                        }
                        Ok(watcher::Event::Init) => seen.clear(),
                        Ok(watcher::Event::InitDone) => {
                            let gone: Vec<String> = self
                                .workers
                                .keys()
                                .filter(|uid| !seen.contains(*uid))
                                .cloned()
                                .collect();
                            for uid in gone {
                                self.gone(&uid);
                            }
                            seen.clear();
                            synced = true;
                        }
                        Ok(watcher::Event::Delete(pod)) => self.gone(&pod.uid().unwrap_or_default()),
                        Err(error) => warn!(%error, "pod watch failed; retrying"),
                    }
                }
                Some(done) = self.tasks.join_next() => {
                    if let Ok(uid) = done {
                        self.workers.remove(&uid);
                    }
                }
                Some(done) = self.cleanups.join_next() => {
                    if let Ok(uid) = done {
                        self.cleaning.remove(&uid);
                    }
                }
                changed = relists.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    if synced {
                        let relist = relists.borrow_and_update().clone();
                        self.clean_orphans(&relist);
                    }
                }
            }
        }
    }

    /// Hand the pod to its worker, starting one if needed.
    fn dispatch(&mut self, pod: Pod, relists: &watch::Receiver<Arc<Relist>>) {
        let Some(uid) = pod.uid() else {
            return;
        };
        if let Some(tx) = self.workers.get(&uid) {
            if tx.send(PodUpdate::Pod(Box::new(pod.clone()))).is_ok() {
                return;
            }
        }
        let (tx, rx) = watch::channel(PodUpdate::Pod(Box::new(pod.clone())));
        let worker = Worker::new(self.ctx.clone(), pod, rx, relists.clone());
        self.workers.insert(uid, tx);
        self.tasks.spawn(worker.run());
    }

    fn gone(&mut self, uid: &str) {
        if let Some(tx) = self.workers.get(uid) {
            let _ = tx.send(PodUpdate::Gone);
        }
    }

    /// Kill and remove what the runtime has of pods with no worker.
    fn clean_orphans(&mut self, relist: &Relist) {
        for (uid, rt) in &relist.pods {
            if self.workers.contains_key(uid) || self.cleaning.contains(uid) {
                continue;
            }
            self.cleaning.insert(uid.clone());
            let ctx = self.ctx.clone();
            let uid = uid.clone();
            let rt = rt.clone();
            self.cleanups.spawn(async move {
                remove_orphan(&ctx, &uid, &rt).await;
                uid
            });
        }
    }
}

/// Stop every running container of the node, each with `grace` between
/// SIGTERM and SIGKILL, all at once (when the node agent stops: Ctrl-C).
/// Sandboxes stay, so that the next start adopts them.
pub async fn stop_all(runtime: &dyn RuntimeService, grace: Duration) -> Result<(), KubeletError> {
    let containers = runtime
        .list_containers()
        .await
        .map_err(|source| KubeletError::Runtime {
            what: "cannot list the containers to stop them".into(),
            source,
        })?;
    let stops = containers
        .iter()
        .filter(|c| c.state == rkube_cri::ContainerState::Running)
        .map(|c| async move {
            if let Err(error) = runtime.stop_container(&c.id, grace).await {
                warn!(container = %c.id, %error, "cannot stop a container");
            }
        });
    futures::future::join_all(stops).await;
    Ok(())
}

/// Stop and remove an orphan pod's containers, sandboxes and volumes.
async fn remove_orphan(ctx: &Context, uid: &str, rt: &PodRuntime) {
    info!(pod_uid = %uid, "removing the containers of a pod no longer bound here");
    for run in rt.running() {
        if let Err(error) = ctx.runtime.stop_container(&run.id, ORPHAN_GRACE).await {
            warn!(pod_uid = %uid, %error, "cannot stop an orphan container");
        }
    }
    for s in &rt.sandboxes {
        if s.state == SandboxState::Ready {
            if let Err(error) = ctx.runtime.stop_pod_sandbox(&s.id).await {
                warn!(pod_uid = %uid, %error, "cannot stop an orphan sandbox");
            }
        }
        if let Err(error) = ctx.runtime.remove_pod_sandbox(&s.id).await {
            warn!(pod_uid = %uid, %error, "cannot remove an orphan sandbox");
        }
    }
    if let Err(error) = ctx.setup.teardown_volumes(uid).await {
        warn!(pod_uid = %uid, %error, "cannot tear down an orphan's volumes");
    }
}
