//! HTTPS for the node's API: the port (10250 unless taken, see
//! `port.rs`), TLS with the node's serving certificate and client
//! certificates asked for (`tls.rs`), who may ask (`auth.rs`), and the
//! accept loop: each connection is served by hyper with HTTP/1.1 (with
//! upgrades, for exec, attach and port-forward) and HTTP/2.
//!
//! Stopping: dropping the [`NodeListener::serve`] future ends the accept
//! loop and every connection it serves.

pub mod auth;
pub mod port;
pub mod tls;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::CertificateDer;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing::{debug, info, warn};

pub use auth::{Authenticator, Identity, TokenAuthenticator};
pub use tls::{ClientCheck, PeerCert, ServingCert, TlsError};

/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how the node's API listens.
#[derive(Clone, Debug)]
pub struct ListenConfig {
    /// The address to bind (the node's IP).
    pub address: IpAddr,
    /// The first port tried ([`port::DEFAULT_PORT`]).
    pub first_port: u16,
    pub serving: ServingCert,
    /// The CAs whose client certificates are accepted (the cluster CA);
    /// empty: none is.
    pub client_cas: Vec<CertificateDer<'static>>,
    pub auth: Authenticator,
}

/// Why the node's API cannot listen.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {address} from port {first_port}: {source}")]
    Bind {
        address: IpAddr,
        first_port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
}

/// The node's API, bound and ready to serve.
pub struct NodeListener {
    listener: TcpListener,
    tls: TlsAcceptor,
    check: ClientCheck,
    auth: Authenticator,
}

impl NodeListener {
    /// Bind the first free port from `config.first_port` and prepare TLS.
    pub async fn bind(config: ListenConfig) -> Result<NodeListener, ListenError> {
        let check = ClientCheck::new(&config.client_cas)?;
        let tls: Arc<ServerConfig> = tls::server_config(&config.serving, &check)?;
        let listener = port::bind_first_free(config.address, config.first_port)
            .await
            .map_err(|source| ListenError::Bind {
                address: config.address,
                first_port: config.first_port,
                source,
            })?;
        if config.client_cas.is_empty() {
            warn!("the node's API has no client CA: every request will be refused");
        }
        Ok(NodeListener {
            listener,
            tls: TlsAcceptor::from(tls),
            check,
            auth: config.auth,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The port actually bound (what `daemonEndpoints` tells).
    pub fn port(&self) -> u16 {
        self.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serve `router` until this future is dropped.
    pub async fn serve(self, router: Router) {
        info!(address = ?self.local_addr().ok(), "the node's API is serving");
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, remote)) => {
                        connections.spawn(serve_connection(
                            stream,
                            remote,
                            self.tls.clone(),
                            self.check.clone(),
                            self.auth.clone(),
                            router.clone(),
                        ));
                    }
                    Err(e) => {
                        warn!(error = %e, "the node's API cannot accept a connection");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
                Some(_) = connections.join_next() => {}
            }
        }
    }
}

async fn serve_connection(
    stream: TcpStream,
    remote: SocketAddr,
    acceptor: TlsAcceptor,
    check: ClientCheck,
    auth: Authenticator,
    router: Router,
) {
    let _ = stream.set_nodelay(true);
    let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => {
            debug!(%remote, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            debug!(%remote, "TLS handshake timed out");
            return;
        }
    };
    let peer = Arc::new(check.judge(tls.get_ref().1.peer_certificates()));
    if let PeerCert::Refused(why) = peer.as_ref() {
        debug!(%remote, why, "client certificate refused");
    }
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let (router, auth, peer) = (router.clone(), auth.clone(), peer.clone());
        async move {
            let Some(identity) = auth.authenticate(&peer, req.headers()).await else {
                debug!(%remote, path = %req.uri().path(), "unauthorized request");
                return Ok::<_, Infallible>(auth::unauthorized());
            };
            let mut req = req.map(Body::new);
            req.extensions_mut().insert(identity);
            router.oneshot(req).await
        }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .await
    {
        debug!(%remote, error = %e, "connection to the node's API ended");
    }
}
