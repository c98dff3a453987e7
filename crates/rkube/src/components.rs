//! The cluster components beside the API server — scheduler, controllers
//! (leader-elected), simulated nodes — each an API client, as in
//! Kubernetes. `rkube up` runs them in its own process with in-memory
//! clients (`loopback.rs`); `rkube controller-manager`, `rkube scheduler`
//! and `rkube node` run them against any API server with a kubeconfig.

use std::path::Path;

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rkube_controllers::leader::{self, LeaderConfig};
use rkube_node::SimConfig;
use tokio::task::JoinHandle;
use tracing::{error, info};

use crate::agent::Agent;

/// A client from a kubeconfig, as `agent`; `server` replaces its cluster
/// URL.
pub async fn client(
    kubeconfig: &Path,
    server: Option<&str>,
    agent: Agent,
) -> anyhow::Result<Client> {
    let kc = Kubeconfig::read_from(kubeconfig)
        .with_context(|| format!("cannot read the kubeconfig {}", kubeconfig.display()))?;
    let mut config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .context("cannot use the kubeconfig")?;
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&agent.user_agent()).context("a User-Agent header")?,
    ));
    if let Some(server) = server {
        config.cluster_url = server
            .parse()
            .with_context(|| format!("--server {server:?} is not a URL"))?;
    }
    Client::try_from(config).context("cannot build an API client")
}

/// A unique name for this process in leader elections.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "rkube".to_string());
    format!(
        "{host}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// Runs the controllers while this process holds the controller-manager
/// Lease; stands again after losing it.
pub async fn controller_manager(client: Client, options: rkube_controllers::Options) {
    let identity = identity();
    loop {
        let cfg = LeaderConfig::controller_manager(identity.clone());
        let work = rkube_controllers::run(client.clone(), options.clone());
        match leader::run_while_leader(client.clone(), cfg, work).await {
            Ok(Ok(())) => info!("controllers stopped"),
            Ok(Err(e)) => error!(error = %e, "controllers failed"),
            Err(e) => error!(error = %e, "stopped leading; standing for election again"),
        }
    }
}

/// Runs the scheduler while this process holds the scheduler's Lease
/// (`kube-system/kube-scheduler`, 15 s / 10 s / 2 s as kube-scheduler);
/// stands again after losing it. The Lease is also what the
/// `scheduler` ComponentStatus reads.
pub async fn scheduler(client: Client) {
    let identity = identity();
    loop {
        let cfg = LeaderConfig {
            name: "kube-scheduler".into(),
            ..LeaderConfig::controller_manager(identity.clone())
        };
        let work = rkube_scheduler::run(client.clone());
        match leader::run_while_leader(client.clone(), cfg, work).await {
            Ok(Ok(())) => info!("the scheduler stopped"),
            Ok(Err(e)) => error!(error = %e, "the scheduler stopped"),
            Err(e) => error!(error = %e, "stopped leading; standing for election again"),
        }
    }
}

pub async fn sim_nodes(client: Client, config: SimConfig) {
    if let Err(e) = rkube_node::run(client, config).await {
        error!(error = %e, "the simulated nodes stopped");
    }
}

/// What `rkube up` runs beside the API server.
#[derive(Clone, Debug, Default)]
pub struct ComponentOptions {
    /// Run the controllers (leader-elected) in this process.
    pub run_controllers: bool,
    pub run_scheduler: bool,
    pub controllers: rkube_controllers::Options,
    /// Simulated nodes, if any.
    pub sim: Option<SimConfig>,
    /// A real node, if one runs.
    pub real_node: Option<crate::real_node::RealNodeOptions>,
}

/// The components `rkube up` runs, as tasks aborted when dropped. Stop
/// them with [`Running::stop`] before the store closes: a component still
/// running then would see its requests fail and log it.
pub struct Running(Vec<JoinHandle<()>>, Option<crate::real_node::RealNode>);

impl Running {
    /// Starts each component with its own in-process client (and
    /// User-Agent) on `router`, the protected API router.
    pub fn start(router: &axum::Router, options: ComponentOptions) -> anyhow::Result<Self> {
        let mut tasks = Vec::new();
        if options.run_scheduler {
            let c = crate::loopback::client(router.clone(), Agent::Scheduler)?;
            tasks.push(tokio::spawn(scheduler(c)));
        }
        if options.run_controllers {
            let c = crate::loopback::client(router.clone(), Agent::ControllerManager)?;
            tasks.push(tokio::spawn(controller_manager(c, options.controllers)));
        }
        if let Some(sim) = options.sim {
            let c = crate::loopback::client(router.clone(), Agent::Kubelet)?;
            tasks.push(tokio::spawn(sim_nodes(c, sim)));
        }
        let real = match options.real_node {
            Some(real) => {
                let c = crate::loopback::client(router.clone(), Agent::Kubelet)?;
                Some(crate::real_node::RealNode::start(c, real))
            }
            None => None,
        };
        Ok(Running(tasks, real))
    }

    /// Stops every component and waits until each has ended. A component
    /// owns the tasks it starts (informers, workers, watches, writes in
    /// flight) and aborts them when it is dropped, so none of them runs
    /// on once this returns.
    pub async fn stop(mut self) {
        // The real node's containers stop first, gracefully, while the API
        // still answers.
        if let Some(real) = self.1.take() {
            real.stop().await;
        }
        let tasks = std::mem::take(&mut self.0);
        for t in &tasks {
            t.abort();
        }
        for t in tasks {
            match t.await {
                Ok(()) => {}
                Err(e) if e.is_cancelled() => {}
                Err(e) => error!(error = %e, "a component failed while stopping"),
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}
