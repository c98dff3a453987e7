//! Serving an axum [`Router`] over TLS, HTTP/1.1 and HTTP/2 on one port.
//!
//! One task accepts; each connection gets its own task that does the TLS
//! handshake (bounded by [`ServeOptions::handshake_timeout`]), reads the
//! client certificate's identity, and hands the connection to hyper-util's
//! auto builder, which speaks HTTP/2 when the client sends its preface
//! (after ALPN `h2`, or with prior knowledge) and HTTP/1.1 otherwise, with
//! upgrades (for exec and port-forward later). Every request carries a
//! [`ConnectionInfo`] and axum's `ConnectInfo<SocketAddr>` extension.
//!
//! A failed or stalled handshake is logged at debug level and the
//! connection dropped; nothing a client sends can stop the server.
//!
//! Shutdown, once the `shutdown` future completes: stop accepting, ask every
//! connection to finish (HTTP/1.1 closes after the response in flight;
//! HTTP/2 sends GOAWAY and finishes open streams), wait up to
//! [`ServeOptions::grace_period`], then close whatever is still open.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::pki_types::CertificateDer;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;
use tracing::{debug, info, warn};

use crate::user::UserInfo;
use crate::x509::subject_names;

/// Tunables of [`serve_with`]; [`ServeOptions::default`] gives the values
/// [`serve`] uses.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// How long open requests may run on after shutdown starts (10 s).
    pub grace_period: Duration,
    /// How long a client may take to complete the TLS handshake (10 s).
    pub handshake_timeout: Duration,
    /// How long an HTTP/1.1 client may take to send a request's headers (30 s).
    pub header_read_timeout: Duration,
    /// How long to wait before accepting again after an accept error such
    /// as running out of file descriptors (100 ms).
    pub accept_backoff: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            grace_period: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            accept_backoff: Duration::from_millis(100),
        }
    }
}

/// What every request learns about its connection (a request extension).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address.
    pub remote_addr: SocketAddr,
    /// The user named by the client certificate, when the client presented
    /// one (rustls has verified it against the cluster CA): the common name
    /// is the user, each organization a group, plus `system:authenticated`.
    /// `None` without a certificate, or when it has no common name.
    pub client_cert_user: Option<UserInfo>,
}

/// Serve `router` on `listener` with `tls` until `shutdown` completes, then
/// drain as the module documentation says. Uses [`ServeOptions::default`].
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send,
) {
    serve_with(listener, router, tls, shutdown, ServeOptions::default()).await
}

/// [`serve`] with explicit [`ServeOptions`].
pub async fn serve_with(
    listener: TcpListener,
    router: Router,
    tls: Arc<ServerConfig>,
    shutdown: impl Future<Output = ()> + Send,
    options: ServeOptions,
) {
    let acceptor = TlsAcceptor::from(tls);
    let stopping = CancellationToken::new();
    let abort = CancellationToken::new();
    let tracker = TaskTracker::new();
    let options = Arc::new(options);
    tokio::pin!(shutdown);

    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote_addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) if is_connection_error(&err) => {
                debug!(error = %err, "a connection failed before it was accepted");
                continue;
            }
            Err(err) => {
                warn!(error = %err, "accept failed; retrying shortly");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(options.accept_backoff) => continue,
                }
            }
        };
        tracker.spawn(connection(
            tcp,
            remote_addr,
            acceptor.clone(),
            router.clone(),
            options.clone(),
            stopping.clone(),
            abort.clone(),
        ));
    }

    drop(listener);
    stopping.cancel();
    tracker.close();
    if tokio::time::timeout(options.grace_period, tracker.wait())
        .await
        .is_err()
    {
        warn!(
            connections = tracker.len(),
            grace_s = options.grace_period.as_secs_f64(),
            "connections still busy after the grace period; closing them"
        );
        abort.cancel();
        tracker.wait().await;
    }
    info!("TLS server stopped");
}

/// Errors that concern one connection only (the listener is fine).
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        err.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset | Interrupted | WouldBlock
    )
}

/// One connection, from TLS handshake to close.
async fn connection(
    tcp: TcpStream,
    remote_addr: SocketAddr,
    acceptor: TlsAcceptor,
    router: Router,
    options: Arc<ServeOptions>,
    stopping: CancellationToken,
    abort: CancellationToken,
) {
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(options.handshake_timeout, acceptor.accept(tcp));
    let stream = tokio::select! {
        () = stopping.cancelled() => return,
        done = handshake => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => {
                debug!(remote = %remote_addr, error = %err, "TLS handshake failed");
                return;
            }
            Err(_) => {
                debug!(remote = %remote_addr, "TLS handshake timed out");
                return;
            }
        },
    };

    let client_cert_user = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .and_then(|leaf| certificate_user(leaf, remote_addr));
    let info = ConnectionInfo {
        remote_addr,
        client_cert_user,
    };
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(info.clone());
        request.extensions_mut().insert(ConnectInfo(remote_addr));
        let router = router.clone();
        async move { router.oneshot(request).await }
    });

    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
    tokio::pin!(conn);

    tokio::select! {
        served = conn.as_mut() => {
            if let Err(err) = served {
                debug!(remote = %remote_addr, error = %err, "connection ended with an error");
            }
            return;
        }
        () = stopping.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    tokio::select! {
        served = conn.as_mut() => {
            if let Err(err) = served {
                debug!(remote = %remote_addr, error = %err, "connection ended with an error while draining");
            }
        }
        () = abort.cancelled() => {
            debug!(remote = %remote_addr, "closing a connection still busy after the grace period");
        }
    }
}

/// The user a verified client certificate names, if it has a common name.
fn certificate_user(leaf: &CertificateDer<'_>, remote_addr: SocketAddr) -> Option<UserInfo> {
    let Some(subject) = subject_names(leaf) else {
        debug!(remote = %remote_addr, "client certificate subject unreadable; ignoring it");
        return None;
    };
    let name = subject.common_name.filter(|cn| !cn.is_empty())?;
    Some(UserInfo::authenticated(name, "", subject.organizations))
}
