//! The API-server part that `rkube up` and `rkube server` share: listen,
//! open the store, serve until SIGINT or SIGTERM, then stop cleanly.
//!
//! The listener is bound before the store opens, so a bad or busy address
//! fails at once and `/readyz` answers `503` (not "connection refused")
//! while the store recovers its data directory.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::backend::{BackendConfig, OpenedStore};
use crate::health::{self, HealthState};
use crate::signals::ShutdownSignals;

/// How long in-flight requests get to finish after a shutdown signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// What to serve, where.
#[derive(Clone, Debug)]
pub struct ControlPlaneOptions {
    pub listen: SocketAddr,
    pub backend: BackendConfig,
}

/// Run until SIGINT or SIGTERM. Returns an error if the address cannot be
/// bound, the store cannot be opened, or the server fails.
pub async fn run(opts: ControlPlaneOptions) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut signals = ShutdownSignals::install()?;

    let listener = TcpListener::bind(opts.listen)
        .await
        .with_context(|| format!("cannot listen on {}", opts.listen))?;
    let local = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let state = Arc::new(HealthState::default());
    let mut server = HttpServer::start(listener, health::router(state.clone()));
    info!(listen = %local, scheme = "http", "listening");

    let opened = tokio::select! {
        opened = OpenedStore::open(&opts.backend) => match opened {
            Ok(opened) => opened,
            Err(err) => {
                server.stop().await;
                return Err(err);
            }
        },
        signal = signals.recv() => {
            info!(signal, "stopping before the store was open");
            server.stop().await;
            return Ok(());
        }
    };

    let mut registry = Registry::default();
    opened.metrics.register(&mut registry);
    state.set_ready(registry);
    info!(
        store = opts.backend.name(),
        listen = %local,
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
    server.stop().await;
    opened.close().await;
    info!("store closed; stopped");
    outcome
}

/// The HTTP server task and the switch that starts its graceful shutdown.
struct HttpServer {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl HttpServer {
    fn start(listener: TcpListener, router: axum::Router) -> Self {
        let (stop, stopped) = oneshot::channel::<()>();
        let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
            let _ = stopped.await;
        });
        let task = tokio::spawn(serve.into_future());
        HttpServer {
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Wait for the server to end on its own (which only an error makes it do).
    async fn wait(&mut self) -> anyhow::Error {
        let Some(task) = self.task.as_mut() else {
            return anyhow::anyhow!("the HTTP server is not running");
        };
        let ended = task.await;
        self.task = None;
        match ended {
            Ok(Ok(())) => anyhow::anyhow!("the HTTP server stopped unexpectedly"),
            Ok(Err(err)) => anyhow::Error::new(err).context("the HTTP server failed"),
            Err(err) => anyhow::Error::new(err).context("the HTTP server task failed"),
        }
    }

    /// Stop accepting, let in-flight requests finish (bounded), and wait.
    async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(DRAIN_TIMEOUT, task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(err))) => warn!(error = %err, "the HTTP server failed while stopping"),
                Ok(Err(err)) => warn!(error = %err, "the HTTP server task failed while stopping"),
                Err(_) => warn!(
                    timeout_s = DRAIN_TIMEOUT.as_secs(),
                    "requests still open; stopping anyway"
                ),
            }
        }
    }
}
