//! One pod's worker (the kubelet's pod worker and status manager for that
//! pod): woken by changes of the pod and by each relist, it plans
//! (`plan.rs`), writes the status when it changed (`status.rs`), then does
//! the plan's actions — sandbox, pulls, container starts with their
//! postStart hooks, kills with preStop hooks and grace periods — with an
//! event for each step. Its probers run beside it. It ends when the pod is
//! finalized (deleted from the API) or gone from the API (force deletion:
//! everything is killed at once and cleaned up).
//!
//! No failure stops it: each becomes a waiting reason, an event and a log
//! line, and the next round tries again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use rkube_cri::{ContainerStatus, CriError, SandboxState};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::kubelet::container::{self, ContainerInputs};
use crate::kubelet::pods::backoff::Backoff;
use crate::kubelet::pods::context::Context;
use crate::kubelet::pods::hooks::{self, Hook};
use crate::kubelet::pods::images::Puller;
use crate::kubelet::pods::logs;
use crate::kubelet::pods::plan::{self, Action, ContainerKill, KillReason, PlanInput};
use crate::kubelet::pods::pleg::Relist;
use crate::kubelet::pods::probes::{self, Prober};
use crate::kubelet::pods::spec;
use crate::kubelet::pods::status::{self, StatusInput, Waiting};
use crate::kubelet::pods::view::{is_running, PodRuntime, ProbeResults};
use crate::kubelet::volumes::PodVolumes;

/// The kubelet's shortest grace period for a container stop.
const MIN_GRACE: Duration = Duration::from_secs(2);
/// How long a pod waits for its claims before a `FailedMount` event (the
/// kubelet's `WaitForAttachAndMount` timeout, 2 minutes and 3 seconds).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(123);
/// How often the volumes of a running pod are refreshed.
const VOLUME_REFRESH: Duration = Duration::from_secs(60);
/// Exited runs kept per container (the last one and the one before, for
/// `lastState`).
const KEEP_RUNS: usize = 2;

/// What the dispatcher tells a worker about its pod.
#[derive(Clone, Debug)]
pub enum PodUpdate {
    /// The pod as last seen by the watch.
    Pod(Box<Pod>),
    /// The pod is gone from the API (force deletion, or no longer bound
    /// here).
    Gone,
}

/// The pod's resourceVersion as a number (0 if it is not one).
fn rv(pod: &Pod) -> u64 {
    pod.metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A prober task, aborted when dropped.
struct ProberTask(JoinHandle<()>);

impl Drop for ProberTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A sandbox the containers are started in.
#[derive(Clone, Debug)]
struct Sandbox {
    id: String,
    ip: Option<IpAddr>,
}

pub struct Worker {
    ctx: Arc<Context>,
    uid: String,
    pod: Pod,
    updates: watch::Receiver<PodUpdate>,
    relists: watch::Receiver<Arc<Relist>>,
    wake: Arc<Notify>,
    backoff: Backoff,
    /// Containers whose creation failed (bad command, runtime error) wait
    /// before the next try, 10 s doubling to 5 min, as the kubelet's pod
    /// worker backs off a failed sync.
    create_backoff: Backoff,
    puller: Puller,
    waiting: BTreeMap<String, Waiting>,
    probes: Arc<Mutex<ProbeResults>>,
    probers: HashMap<String, ProberTask>,
    /// The status last written.
    written: Option<Value>,
    volumes: Option<PodVolumes>,
    /// Since when the volumes wait for claims to be bound, and when that
    /// was last told in an event.
    mount_wait: Option<(Instant, Option<Instant>)>,
    refreshed: Instant,
    /// When it last changed something in the runtime: it plans again only
    /// from a relist begun after that.
    acted: Option<Instant>,
    deadline_exceeded: bool,
    log_messages: HashMap<String, String>,
    /// The exit each BackOff event was recorded for, by container.
    backoff_reported: HashMap<String, SystemTime>,
    dns_reported: bool,
}

impl Worker {
    pub fn new(
        ctx: Arc<Context>,
        pod: Pod,
        updates: watch::Receiver<PodUpdate>,
        relists: watch::Receiver<Arc<Relist>>,
    ) -> Self {
        Worker {
            ctx,
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            pod,
            updates,
            relists,
            wake: Arc::new(Notify::new()),
            backoff: Backoff::default(),
            create_backoff: Backoff::default(),
            puller: Puller::default(),
            waiting: BTreeMap::new(),
            probes: Arc::new(Mutex::new(ProbeResults::new())),
            probers: HashMap::new(),
            written: None,
            volumes: None,
            mount_wait: None,
            refreshed: Instant::now(),
            acted: None,
            deadline_exceeded: false,
            log_messages: HashMap::new(),
            backoff_reported: HashMap::new(),
            dns_reported: false,
        }
    }

    /// Drive the pod until it is finalized or gone; returns its uid.
    pub async fn run(mut self) -> String {
        loop {
            let update = self.updates.borrow_and_update().clone();
            let relist = self.relists.borrow_and_update().clone();
            match update {
                PodUpdate::Gone => {
                    self.force_cleanup(&relist).await;
                    return self.uid;
                }
                PodUpdate::Pod(pod) => {
                    // The status written last is kept until the watch shows
                    // a pod at least as new.
                    if rv(&pod) >= rv(&self.pod) {
                        self.pod = *pod;
                    }
                }
            }
            let fresh = relist.seq > 0
                && match (self.acted, relist.started) {
                    (Some(acted), Some(started)) => started > acted,
                    (None, _) => true,
                    _ => false,
                };
            if fresh {
                if self.sync(&relist).await {
                    return self.uid;
                }
            } else {
                self.ctx.relist_now.notify_one();
            }
            tokio::select! {
                r = self.updates.changed() => if r.is_err() { return self.uid },
                r = self.relists.changed() => if r.is_err() { return self.uid },
                _ = self.wake.notified() => {}
            }
        }
    }

    fn key(&self) -> String {
        spec::pod_key(&self.pod)
    }

    /// Start containers left created but not started (by a kubelet that
    /// stopped between the two calls): adopted, not made again. True if
    /// there was any.
    async fn adopt_created(&mut self, rt: &PodRuntime) -> bool {
        let created: Vec<&ContainerStatus> = rt
            .containers
            .iter()
            .filter(|c| c.state == rkube_cri::ContainerState::Created)
            .collect();
        for run in &created {
            if rt.ready_sandbox().is_some_and(|s| s.id == run.sandbox_id)
                && !spec::is_deleting(&self.pod)
            {
                info!(pod = %self.key(), container = %run.name, "starting an adopted container");
                if self.ctx.runtime.start_container(&run.id).await.is_ok() {
                    continue;
                }
            }
            if let Err(error) = self
                .ctx
                .runtime
                .stop_container(&run.id, Duration::ZERO)
                .await
            {
                debug!(pod = %self.key(), %error, "cannot stop a created container");
            }
        }
        !created.is_empty()
    }

    /// One round; true when the pod is finalized.
    async fn sync(&mut self, relist: &Relist) -> bool {
        let rt = relist.pod(&self.uid);
        if self.adopt_created(&rt).await {
            self.acted = Some(Instant::now());
            self.ctx.relist_now.notify_one();
            return false;
        }
        let now = SystemTime::now();
        // Also after a restart of the kubelet between the kill and the
        // status write.
        if !spec::is_api_terminal(&self.pod) && spec::deadline_exceeded(&self.pod, now) {
            self.deadline_exceeded = true;
        }
        self.update_probers(&rt);
        let probes = self.probes.lock().map(|p| p.clone()).unwrap_or_default();
        let plan = plan::plan(&PlanInput {
            pod: &self.pod,
            runtime: &rt,
            probes: &probes,
            backoff: &self.backoff,
            now,
        });
        self.report_backoff(&rt, &plan.backing_off);
        self.read_fallback_logs(&rt).await;
        let terminal = spec::is_deleting(&self.pod) && rt.running().next().is_none();
        let status = status::pod_status(&StatusInput {
            pod: &self.pod,
            runtime: &rt,
            probes: &probes,
            waiting: &self.waiting,
            backing_off: &plan.backing_off,
            log_messages: &self.log_messages,
            host_ip: self.ctx.config.node_ip,
            deadline_exceeded: self.deadline_exceeded,
            terminal,
            now,
        });
        self.write_status(&status).await;

        let mut sandbox = rt.ready_sandbox().map(|s| Sandbox {
            id: s.id.clone(),
            ip: s.ip,
        });
        let acting = !plan.actions.is_empty();
        for action in plan.actions {
            debug!(pod = %self.key(), ?action, "action");
            match action {
                Action::KillPod { reason } => self.kill_pod(&rt, reason).await,
                Action::Finalize => {
                    self.finalize(&rt).await;
                    return true;
                }
                Action::CreateSandbox { attempt } => match self.create_sandbox(attempt).await {
                    Some(s) => sandbox = Some(s),
                    None => break,
                },
                Action::StartContainer {
                    name,
                    attempt,
                    restart,
                } => {
                    let Some(sb) = sandbox.clone() else {
                        break;
                    };
                    let init = spec::find_container(&self.pod, &name).is_some_and(|(_, i)| i);
                    if !self
                        .start_container(&sb, &name, attempt, restart, None)
                        .await
                        && init
                    {
                        break;
                    }
                }
                Action::StartEphemeral { name, target } => {
                    let Some(sb) = sandbox.clone() else {
                        break;
                    };
                    self.start_container(&sb, &name, 0, None, target).await;
                }
                Action::KillContainer { id, name, reason } => {
                    self.kill_container(&id, &name, reason).await
                }
            }
        }
        if acting {
            self.acted = Some(Instant::now());
            self.ctx.relist_now.notify_one();
        }
        self.prune(&rt).await;
        self.refresh_volumes(&rt).await;
        false
    }

    /// Write the status if it changed since the last write.
    async fn write_status(&mut self, status: &k8s_openapi::api::core::v1::PodStatus) {
        let Ok(value) = serde_json::to_value(status) else {
            return;
        };
        if self.written.as_ref() == Some(&value) {
            return;
        }
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let patch = json!({"metadata": {"uid": self.uid}, "status": value});
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(pod) => {
                self.written = Some(value);
                // The written status (its transition times) is what the
                // next round starts from.
                self.pod = pod;
            }
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {
                debug!(pod = %self.key(), "pod gone or replaced; status not written")
            }
            Err(error) => warn!(pod = %self.key(), %error, "cannot write the pod's status"),
        }
    }

    /// One BackOff event per exit held back.
    fn report_backoff(&mut self, rt: &PodRuntime, backing_off: &BTreeMap<String, Duration>) {
        for name in backing_off.keys() {
            let Some(run) = rt.latest(name) else {
                continue;
            };
            let exit = run.finished_at.unwrap_or(run.created_at);
            if self.backoff_reported.get(name) == Some(&exit) {
                continue;
            }
            self.backoff_reported.insert(name.clone(), exit);
            self.ctx.warning(
                &self.pod,
                "BackOff",
                &format!(
                    "Back-off restarting failed container {name} in pod {}",
                    spec::pod_desc(&self.pod)
                ),
            );
        }
    }

    /// `FallbackToLogsOnError` messages for failed runs without one.
    async fn read_fallback_logs(&mut self, rt: &PodRuntime) {
        for run in &rt.containers {
            if is_running(run)
                || run.exit_code == 0
                || !run.message.is_empty()
                || self.log_messages.contains_key(&run.id)
            {
                continue;
            }
            let fallback = spec::find_container(&self.pod, &run.name).is_some_and(|(c, _)| {
                c.termination_message_policy.as_deref() == Some("FallbackToLogsOnError")
            });
            if !fallback {
                continue;
            }
            let message = logs::fallback_message(&run.log_path).await;
            self.log_messages.insert(run.id.clone(), message);
        }
    }

    /// Where probes and hooks reach the pod.
    fn probe_ip(&self, sandbox_ip: Option<IpAddr>) -> IpAddr {
        if spec::host_network(&self.pod) {
            self.ctx.config.node_ip
        } else {
            sandbox_ip.unwrap_or(self.ctx.config.node_ip)
        }
    }

    /// A prober for each running container with probes; none for others.
    fn update_probers(&mut self, rt: &PodRuntime) {
        let sandbox = rt.ready_sandbox().cloned();
        let running: Vec<ContainerStatus> = rt
            .containers
            .iter()
            .filter(|c| {
                c.state == rkube_cri::ContainerState::Running
                    && sandbox.as_ref().is_some_and(|s| s.id == c.sandbox_id)
            })
            .cloned()
            .collect();
        let live: HashSet<&str> = running.iter().map(|c| c.id.as_str()).collect();
        self.probers.retain(|id, _| live.contains(id.as_str()));
        if let Ok(mut results) = self.probes.lock() {
            results.retain(|id, _| live.contains(id.as_str()));
        }
        let ip = self.probe_ip(sandbox.and_then(|s| s.ip));
        for run in running {
            if self.probers.contains_key(&run.id) {
                continue;
            }
            let Some((c, _)) = spec::find_container(&self.pod, &run.name) else {
                continue;
            };
            if !probes::has_probes(c) {
                continue;
            }
            if let Ok(mut results) = self.probes.lock() {
                results.insert(run.id.clone(), probes::initial_state(c));
            }
            let prober = Prober {
                ctx: self.ctx.clone(),
                pod: self.pod.clone(),
                container: c.clone(),
                container_id: run.id.clone(),
                ip,
                results: self.probes.clone(),
                wake: self.wake.clone(),
            };
            self.probers
                .insert(run.id.clone(), ProberTask(tokio::spawn(prober.run())));
        }
    }

    /// Set up the volumes (once per worker; the same paths again after a
    /// restart); a failure is a FailedMount event.
    async fn ensure_volumes(&mut self) -> Option<PodVolumes> {
        if let Some(v) = &self.volumes {
            return Some(v.clone());
        }
        match self.ctx.setup.setup_volumes(&self.pod).await {
            Ok(v) => {
                self.volumes = Some(v.clone());
                self.mount_wait = None;
                Some(v)
            }
            Err(e) if e.waiting.is_some() => {
                // As the kubelet's volume manager: wait for the claims,
                // and tell after MOUNT_TIMEOUT (then again as often).
                let now = Instant::now();
                let (since, told) = *self.mount_wait.get_or_insert((now, None));
                let due = told.unwrap_or(since) + MOUNT_TIMEOUT;
                if now >= due {
                    self.mount_wait = Some((since, Some(now)));
                    let names = e.waiting.clone().unwrap_or_default().join(" ");
                    self.ctx.warning(
                        &self.pod,
                        "FailedMount",
                        &format!(
                            "Unable to attach or mount volumes: unmounted volumes=[{names}], unattached volumes=[{names}], failed to process volumes=[{names}]: timed out waiting for the condition ({})",
                            e.message
                        ),
                    );
                }
                debug!(pod = %self.key(), error = %e, "waiting for the pod's claims");
                None
            }
            Err(e) => {
                self.ctx.warning(&self.pod, "FailedMount", &e.message);
                warn!(pod = %self.key(), error = %e, "cannot set up the pod's volumes");
                None
            }
        }
    }

    async fn create_sandbox(&mut self, attempt: u32) -> Option<Sandbox> {
        self.ensure_volumes().await?;
        if !self.dns_reported && container::missing_cluster_dns(&self.pod, &self.ctx.config) {
            self.dns_reported = true;
            self.ctx.warning(
                &self.pod,
                "MissingClusterDNS",
                &container::missing_cluster_dns_message(&self.pod),
            );
        }
        let config = self.ctx.setup.sandbox_config(&self.pod, attempt);
        match self.ctx.runtime.run_pod_sandbox(&config).await {
            Ok(info) => {
                info!(pod = %self.key(), sandbox = %info.id, attempt, "sandbox ready");
                Some(Sandbox {
                    id: info.id,
                    ip: info.ip,
                })
            }
            Err(error) => {
                warn!(pod = %self.key(), %error, "cannot create the pod's sandbox");
                self.ctx.warning(
                    &self.pod,
                    "FailedCreatePodSandBox",
                    &format!("Failed to create pod sandbox: {error}"),
                );
                None
            }
        }
    }

    fn fail_start(&mut self, name: &str, reason: &str, message: String) {
        warn!(pod = %self.key(), container = name, reason, %message, "cannot start the container");
        self.ctx
            .warning(&self.pod, "Failed", &format!("Error: {message}"));
        self.waiting.insert(
            name.to_string(),
            Waiting {
                reason: reason.to_string(),
                message,
            },
        );
    }

    /// Pull, create and start one container, then its postStart hook;
    /// false if it did not start.
    async fn start_container(
        &mut self,
        sb: &Sandbox,
        name: &str,
        attempt: u32,
        restart: Option<SystemTime>,
        target: Option<String>,
    ) -> bool {
        let c = match spec::find_container(&self.pod, name) {
            Some((c, _)) => c.clone(),
            None => match spec::ephemeral_container(&self.pod, name) {
                Some((c, _)) => c,
                None => return false,
            },
        };
        let now = SystemTime::now();
        if let Some(e) = self.create_backoff.get(name) {
            if now.duration_since(e.updated).unwrap_or_default() < e.delay {
                return false;
            }
        }
        let pod = self.pod.clone();
        let image = match self.puller.ensure(&self.ctx, &pod, &c).await {
            Ok(i) => i,
            Err(w) => {
                self.waiting.insert(name.to_string(), w);
                return false;
            }
        };
        let env = match self.ctx.setup.env_sources(&pod).await {
            Ok(e) => e,
            Err(e) => {
                self.fail_start(name, e.reason, e.message);
                return false;
            }
        };
        let Some(volumes) = self.ensure_volumes().await else {
            return false;
        };
        let inputs = ContainerInputs {
            pod: &pod,
            container: &c,
            image: &image,
            attempt,
            env: &env,
            volumes: &volumes,
            pod_ip: sb.ip,
            config: &self.ctx.config,
        };
        let config = self
            .ctx
            .setup
            .prepare_container_files(&inputs)
            .and_then(|()| self.ctx.setup.container_config(&inputs));
        let config = match config {
            Ok(mut cfg) => {
                cfg.target_container_id = target;
                cfg
            }
            Err(e) => {
                self.fail_start(name, e.reason, e.message);
                return false;
            }
        };
        let id = match self.ctx.runtime.create_container(&sb.id, &config).await {
            Ok(id) => id,
            Err(e) => {
                let reason = match e {
                    CriError::InvalidConfig(_) => "CreateContainerConfigError",
                    _ => "CreateContainerError",
                };
                self.fail_start(name, reason, e.to_string());
                self.create_backoff.record(name, now, now);
                return false;
            }
        };
        self.create_backoff.forget(name);
        self.ctx
            .normal(&pod, "Created", &format!("Created container: {name}"));
        if let Some(exit) = restart {
            self.backoff.record(name, exit, SystemTime::now());
        }
        if let Err(e) = self.ctx.runtime.start_container(&id).await {
            self.fail_start(name, "RunContainerError", e.to_string());
            // Leave it exited, so that it restarts with its back-off.
            if let Err(error) = self.ctx.runtime.stop_container(&id, Duration::ZERO).await {
                debug!(pod = %self.key(), %error, "cannot stop a container that failed to start");
            }
            return false;
        }
        self.waiting.remove(name);
        info!(pod = %self.key(), container = name, id = %id, attempt, "container started");
        self.ctx
            .normal(&pod, "Started", &format!("Started container {name}"));
        if let Some(h) = hooks::handler(&c, Hook::PostStart) {
            let grace = spec::termination_grace(&pod);
            let ip = self.probe_ip(sb.ip);
            if let Err(message) = hooks::run(&self.ctx, &c, &id, h, ip, grace).await {
                self.ctx.warning(&pod, "FailedPostStartHook", &message);
                self.ctx.normal(&pod, "Killing", "FailedPostStartHook");
                if let Err(error) = self.ctx.runtime.stop_container(&id, grace).await {
                    warn!(pod = %self.key(), %error, "cannot stop the container");
                }
                // The container exited: it shows terminated, and restarts
                // as the pod's restartPolicy says.
                return false;
            }
        }
        true
    }

    /// preStop, then SIGTERM with what is left of `grace` (at least 2 s),
    /// then SIGKILL.
    async fn stop_one(&self, run: &ContainerStatus, grace: Duration, pre_stop: bool, ip: IpAddr) {
        let started = Instant::now();
        if pre_stop && run.state == rkube_cri::ContainerState::Running {
            if let Some((c, _)) = spec::find_container(&self.pod, &run.name) {
                if let Some(h) = hooks::handler(c, Hook::PreStop) {
                    if let Err(message) = hooks::run(&self.ctx, c, &run.id, h, ip, grace).await {
                        self.ctx.warning(&self.pod, "FailedPreStopHook", &message);
                    }
                }
            }
        }
        let left = grace.saturating_sub(started.elapsed()).max(MIN_GRACE);
        if let Err(error) = self.ctx.runtime.stop_container(&run.id, left).await {
            warn!(pod = %self.key(), container = %run.name, %error, "cannot stop the container");
        }
    }

    async fn kill_pod(&mut self, rt: &PodRuntime, reason: KillReason) {
        let grace = match reason {
            KillReason::Deleted => spec::deletion_grace(&self.pod),
            _ => spec::termination_grace(&self.pod),
        };
        if reason == KillReason::DeadlineExceeded {
            self.deadline_exceeded = true;
        }
        if reason == KillReason::SandboxChanged {
            self.ctx.normal(
                &self.pod,
                "SandboxChanged",
                "Pod sandbox changed, it will be killed and re-created.",
            );
        }
        info!(pod = %self.key(), ?reason, grace_s = grace.as_secs(), "killing the pod");
        let ip = self.probe_ip(rt.latest_sandbox().and_then(|s| s.ip));
        let running: Vec<ContainerStatus> = rt.running().cloned().collect();
        let is_main =
            |r: &&ContainerStatus| spec::containers(&self.pod).iter().any(|c| c.name == r.name);
        let (main, others): (Vec<&ContainerStatus>, Vec<&ContainerStatus>) =
            running.iter().partition(is_main);
        // Main containers first, then sidecars and init containers, as the
        // kubelet stops them.
        for group in [main, others] {
            for run in &group {
                self.ctx.normal(
                    &self.pod,
                    "Killing",
                    &format!("Stopping container {}", run.name),
                );
            }
            let stops = group.iter().map(|run| self.stop_one(run, grace, true, ip));
            futures::future::join_all(stops).await;
        }
        self.probers.clear();
        for s in &rt.sandboxes {
            if s.state == SandboxState::Ready {
                if let Err(error) = self.ctx.runtime.stop_pod_sandbox(&s.id).await {
                    warn!(pod = %self.key(), %error, "cannot stop the sandbox");
                }
            }
        }
    }

    async fn kill_container(&mut self, id: &str, name: &str, reason: ContainerKill) {
        let what = match reason {
            ContainerKill::LivenessFailed => "liveness",
            ContainerKill::StartupFailed => "startup",
        };
        self.ctx.normal(
            &self.pod,
            "Killing",
            &format!("Container {name} failed {what} probe, will be restarted"),
        );
        self.probers.remove(id);
        let grace = spec::find_container(&self.pod, name)
            .and_then(|(c, _)| {
                let probe = match reason {
                    ContainerKill::LivenessFailed => c.liveness_probe.as_ref(),
                    ContainerKill::StartupFailed => c.startup_probe.as_ref(),
                };
                probe.and_then(|p| p.termination_grace_period_seconds)
            })
            .map(|s| Duration::from_secs(s.max(0) as u64))
            .unwrap_or_else(|| spec::termination_grace(&self.pod));
        let relist = self.relists.borrow().clone();
        let rt = relist.pod(&self.uid);
        let ip = self.probe_ip(rt.ready_sandbox().and_then(|s| s.ip));
        if let Some(run) = rt.containers.iter().find(|c| c.id == id) {
            self.stop_one(run, grace, true, ip).await;
        }
    }

    /// Remove the sandboxes and volumes, then the pod (grace 0, this uid).
    async fn finalize(&mut self, rt: &PodRuntime) {
        self.remove_everything(rt).await;
        let ns = self.pod.metadata.namespace.clone().unwrap_or_default();
        let name = self.pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.ctx.client.clone(), &ns);
        let dp = DeleteParams {
            grace_period_seconds: Some(0),
            preconditions: Some(Preconditions {
                uid: Some(self.uid.clone()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        match api.delete(&name, &dp).await {
            Ok(_) => info!(pod = %self.key(), "pod stopped and removed"),
            Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
            Err(error) => warn!(pod = %self.key(), %error, "cannot remove the pod"),
        }
    }

    async fn remove_everything(&mut self, rt: &PodRuntime) {
        self.probers.clear();
        for s in &rt.sandboxes {
            if s.state == SandboxState::Ready {
                if let Err(error) = self.ctx.runtime.stop_pod_sandbox(&s.id).await {
                    warn!(pod = %self.key(), %error, "cannot stop the sandbox");
                }
            }
            if let Err(error) = self.ctx.runtime.remove_pod_sandbox(&s.id).await {
                warn!(pod = %self.key(), %error, "cannot remove the sandbox");
            }
        }
        if let Err(error) = self.ctx.setup.teardown_volumes(&self.uid).await {
            warn!(pod = %self.key(), %error, "cannot tear down the pod's volumes");
        }
    }

    /// The pod is gone from the API: kill at once and clean up.
    async fn force_cleanup(&mut self, relist: &Relist) {
        let rt = relist.pod(&self.uid);
        info!(pod = %self.key(), "pod gone from the API; killing it at once");
        let stops = rt
            .running()
            .map(|run| self.ctx.runtime.stop_container(&run.id, Duration::ZERO));
        for r in futures::future::join_all(stops).await {
            if let Err(error) = r {
                warn!(pod = %self.key(), %error, "cannot stop a container");
            }
        }
        self.remove_everything(&rt).await;
    }

    /// Remove old exited runs (keeping two per container) and old sandboxes
    /// whose containers all ran again in the newest.
    async fn prune(&mut self, rt: &PodRuntime) {
        let names: HashSet<&str> = rt.containers.iter().map(|c| c.name.as_str()).collect();
        for name in names {
            for run in rt.runs(name).into_iter().skip(KEEP_RUNS) {
                if is_running(run) {
                    continue;
                }
                if let Err(error) = self.ctx.runtime.remove_container(&run.id).await {
                    debug!(pod = %self.key(), %error, "cannot remove an old container");
                }
                self.log_messages.remove(&run.id);
            }
        }
        let Some(current) = rt.ready_sandbox() else {
            return;
        };
        for s in &rt.sandboxes {
            if s.id == current.id || s.state == SandboxState::Ready {
                continue;
            }
            let replaced = rt
                .containers
                .iter()
                .filter(|c| c.sandbox_id == s.id)
                .all(|c| !is_running(c) && rt.latest_in(&c.name, &current.id).is_some());
            if replaced {
                if let Err(error) = self.ctx.runtime.remove_pod_sandbox(&s.id).await {
                    debug!(pod = %self.key(), %error, "cannot remove an old sandbox");
                }
            }
        }
    }

    async fn refresh_volumes(&mut self, rt: &PodRuntime) {
        if self.volumes.is_none()
            || rt.ready_sandbox().is_none()
            || self.refreshed.elapsed() < VOLUME_REFRESH
        {
            return;
        }
        self.refreshed = Instant::now();
        if let Err(error) = self.ctx.setup.refresh_volumes(&self.pod).await {
            warn!(pod = %self.key(), %error, "cannot refresh the pod's volumes");
        }
    }
}
