//! The API-server part that `rkube up` and `rkube server` share: listen,
//! open the store, serve until SIGINT or SIGTERM, then stop cleanly.
//!
//! The listener is bound first, so a bad or busy address fails at once;
//! then the cluster PKI and kubeconfig are prepared, the store opens, and
//! the API is served over HTTPS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use rkube_apiserver::resources::{self, ApiState};
use rkube_apiserver::ApiServerConfig;

use crate::backend::{BackendConfig, OpenedStore};
use crate::health::{self, HealthState};
use crate::signals::ShutdownSignals;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What to serve, where.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    pub listen: SocketAddr,
    /// The IP the `default/kubernetes` Service's endpoints point at (with
    /// the bound port); never a wildcard address.
    pub advertise_address: std::net::IpAddr,
    /// Where Services' cluster IPs come from.
    pub service_ip_range: resources::ServiceIpRange,
    /// The data directory: cluster PKI in `pki/`, the admin `kubeconfig`.
    pub data_dir: PathBuf,
    pub backend: BackendConfig,
    /// How often idle watches with bookmarks allowed get one.
    pub watch_bookmark_interval: Duration,
    /// Run the scheduler, the controllers and simulated nodes too (`rkube up`).
    pub components: Option<crate::components::ComponentOptions>,
}

/// Run until SIGINT or SIGTERM. Returns an error if the address cannot be
/// bound, the store cannot be opened, or the server fails.
pub async fn run(opts: ControlPlaneOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    anyhow::ensure!(
        resources::set_service_ip_range(opts.service_ip_range),
        "the service range is already {} in this process",
        resources::service_ip_range()
    );
    let mut signals = ShutdownSignals::install()?;

    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let prepared = rkube_apiserver::prepare(&ApiServerConfig::new(&opts.data_dir, local))
        .await
        .context("cannot prepare the API server's certificates and kubeconfig")?;

    let opened = tokio::select! {
        opened = OpenedStore::open(&opts.backend) => opened?,
        signal = signals.recv() => {
            info!(signal, "stopping before the store was open");
            return Ok(());
        }
    };
    let mut api = ApiState::new(
        opened.store.clone(),
        Arc::new(rkube_apimachinery::Registry::builtin()),
    );
    api.watch_bookmark_interval = opts.watch_bookmark_interval;
    // Nodes see the API server as the admin (logs, exec, port-forward).
    api.nodes.set_client_identity(prepared.pki.admin.clone());
    let api = Arc::new(api);
    let crd_controller = resources::spawn_crd_controller(api.clone());
    if let Err(e) = resources::ensure_namespaces(api.store.as_ref(), &api.registry()).await {
        opened.close().await;
        return Err(anyhow::anyhow!("cannot create the initial namespaces: {e}"));
    }

    let system_objects = resources::spawn_system_objects(
        api.clone(),
        resources::SystemObjectsConfig::new(SocketAddr::new(opts.advertise_address, local.port())),
    );

    let state = Arc::new(HealthState::default());
    let mut registry = Registry::default();
    opened.metrics.register(&mut registry);
    api.metrics.register(&mut registry);
    api.metrics
        .spawn_object_counter(api.store.clone(), api.registry(), Duration::from_secs(10));
    state.set_ready(registry);
    let stopping = api.stopping.clone();
    let router = prepared.protect(
        resources::router(api)
            .merge(rkube_apiserver::version::router())
            .merge(health::router(state)),
    );
    let components = match &opts.components {
        None => None,
        Some(options) => Some(crate::components::Running::start(&router, options.clone())?),
    };
    let mut server = HttpsServer::start(listener, router, prepared.tls.clone());
    info!(
        store = opts.backend.name(),
        listen = %local,
        scheme = "https",
        kubeconfig = %prepared.kubeconfig_path.display(),
        startup_ms = started.elapsed().as_millis() as u64,
        "ready"
    );

    let outcome = tokio::select! {
        signal = signals.recv() => {
            info!(signal, "shutting down");
            Ok(())
        }
        ended = server.wait() => Err(ended),
    };
    // Components first, while the API still answers them: they are API
    // clients, and one left running would see its watches end and its
    // requests fail on the closed store. Then the API server's own work,
    // then the store.
    if let Some(components) = components {
        components.stop().await;
    }
    stopping.cancel();
    server.stop().await;
    crd_controller.abort();
    system_objects.abort();
    let _ = crd_controller.await;
    let _ = system_objects.await;
    opened.close().await;
    info!("store closed; stopped");
    outcome
}

/// The HTTPS server task and the switch that starts its graceful shutdown.
struct HttpsServer {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl HttpsServer {
    fn start(listener: TcpListener, router: axum::Router, tls: Arc<rustls::ServerConfig>) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(rkube_apiserver::serve(listener, router, tls, async move {
            let _ = stopped.await;
        }));
        HttpsServer {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Wait for the server to end on its own (which only an error makes it do).
    async fn wait(&mut self) -> anyhow::Error {
        let Some(task) = self.task.as_mut() else {
            return anyhow::anyhow!("the HTTPS server is not running");
        };
        let ended = task.await;
        self.task = None;
        match ended {
            Ok(()) => anyhow::anyhow!("the HTTPS server stopped unexpectedly"),
            Err(err) => anyhow::Error::new(err).context("the HTTPS server task failed"),
        }
    }

    /// Stop accepting, let in-flight requests finish (bounded), and wait.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(DRAIN_TIMEOUT, task).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => warn!(error = %err, "the HTTPS server task failed while stopping"),
                Err(_) => warn!(
                    timeout_s = DRAIN_TIMEOUT.as_secs(),
                    "requests still open; stopping anyway"
                ),
            }
        }
    }
}
