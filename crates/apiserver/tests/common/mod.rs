//! A test API server on 127.0.0.1:0 with a small router, and a raw HTTPS
//! client (rustls + hyper) that can pick HTTP/1.1 or HTTP/2, a client
//! certificate and a bearer token.

#![allow(dead_code)] // each test file uses a different part

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Extension;
use axum::http::{header, HeaderMap, StatusCode, Version};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rkube_apiserver::{prepare, serve_with, ApiServerConfig, Prepared, ServeOptions, UserInfo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// HTTP versions the test router saw, in order.
pub type Seen = Arc<Mutex<Vec<Version>>>;

/// `/version`, `/healthz`, `/api` and `/api/` (a minimal `APIVersions`), `/whoami`
/// (the authenticated user), `/slow` (answers after 400 ms), `/hang`
/// (never answers); everything behind the prepared authentication.
pub fn test_router(prepared: &Prepared, addr: SocketAddr, seen: Seen) -> Router {
    let api = serde_json::json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": addr.to_string()}],
    })
    .to_string();
    let api_handler = move || {
        let api = api.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], api) }
    };
    let record = move |request: axum::extract::Request, next: axum::middleware::Next| {
        let seen = seen.clone();
        async move {
            if let Ok(mut seen) = seen.lock() {
                seen.push(request.version());
            }
            next.run(request).await
        }
    };
    let router = rkube_apiserver::version::router()
        .route("/healthz", get(|| async { "ok" }))
        // The Python client asks for `/api/`.
        .route("/api", get(api_handler.clone()))
        .route("/api/", get(api_handler))
        .route(
            "/whoami",
            get(|Extension(user): Extension<UserInfo>| async move {
                serde_json::json!({"name": user.name, "groups": user.groups}).to_string()
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(400)).await;
                "slow"
            }),
        )
        .route("/hang", get(std::future::pending::<String>))
        .fallback(|| async { StatusCode::NOT_FOUND.into_response() });
    prepared
        .protect(router)
        .layer(axum::middleware::from_fn(record))
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub prepared: Prepared,
    pub seen: Seen,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Prepare `data_dir` and serve on 127.0.0.1:0 with default options.
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::start_with(data_dir, ServeOptions::default()).await
    }

    pub async fn start_with(data_dir: &Path, options: ServeOptions) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let prepared = prepare(&ApiServerConfig::new(data_dir, addr))
            .await
            .expect("prepare");
        let seen = Seen::default();
        let router = test_router(&prepared, addr, seen.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve_with(
            listener,
            router,
            prepared.tls.clone(),
            async move {
                let _ = stopped.await;
            },
            options,
        ));
        TestServer {
            addr,
            prepared,
            seen,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Start shutting down, without waiting.
    pub fn begin_stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shut down and wait until `serve` returned.
    pub async fn stop(mut self) {
        self.begin_stop();
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(30), task)
                .await
                .expect("serve returned in time")
                .expect("serve task");
        }
    }

    /// The join handle of `serve` (to time its return).
    pub fn take_task(&mut self) -> JoinHandle<()> {
        self.task.take().expect("task")
    }

    pub fn client(&self) -> Client {
        Client::new(&self.prepared.pki.ca_cert_pem, self.addr)
    }
}

/// Which HTTP the client offers by ALPN.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alpn {
    /// `h2` (and speaks HTTP/2).
    H2,
    /// `http/1.1`.
    Http1,
    /// No ALPN at all (HTTP/1.1).
    None,
}

/// A raw HTTPS client.
#[derive(Clone)]
pub struct Client {
    ca_pem: String,
    addr: SocketAddr,
    pub alpn: Alpn,
    pub cert: Option<(String, String)>,
    pub token: Option<String>,
    pub server_name: String,
}

/// One response.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: String,
}

impl Client {
    pub fn new(ca_pem: &str, addr: SocketAddr) -> Self {
        Client {
            ca_pem: ca_pem.to_owned(),
            addr,
            alpn: Alpn::Http1,
            cert: None,
            token: None,
            server_name: "localhost".to_owned(),
        }
    }

    pub fn alpn(mut self, alpn: Alpn) -> Self {
        self.alpn = alpn;
        self
    }

    pub fn cert(mut self, cert_pem: &str, key_pem: &str) -> Self {
        self.cert = Some((cert_pem.to_owned(), key_pem.to_owned()));
        self
    }

    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_owned());
        self
    }

    pub fn server_name(mut self, name: &str) -> Self {
        self.server_name = name.to_owned();
        self
    }

    fn tls_config(&self) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from_pem_slice(self.ca_pem.as_bytes()).expect("ca pem"))
            .expect("root");
        let builder =
            ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_root_certificates(roots);
        let mut config = match &self.cert {
            Some((cert, key)) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(cert.as_bytes()).expect("cert pem")],
                    PrivateKeyDer::from_pem_slice(key.as_bytes()).expect("key pem"),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = match self.alpn {
            Alpn::H2 => vec![b"h2".to_vec()],
            Alpn::Http1 => vec![b"http/1.1".to_vec()],
            Alpn::None => vec![],
        };
        Arc::new(config)
    }

    /// Connect and complete the TLS handshake.
    pub async fn connect(&self) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::try_from(self.server_name.clone()).expect("server name");
        TlsConnector::from(self.tls_config())
            .connect(name, tcp)
            .await
    }

    /// `GET path` on a new connection.
    pub async fn get(&self, path: &str) -> Result<Reply, String> {
        let stream = self.connect().await.map_err(|e| format!("TLS: {e}"))?;
        let io = TokioIo::new(stream);
        let mut request = hyper::Request::get(path);
        if let Some(token) = &self.token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = if self.alpn == Alpn::H2 {
            let uri = format!("https://{}{path}", self.server_name);
            let request = request
                .uri(uri)
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let (mut sender, conn) =
                hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                    .await
                    .map_err(|e| format!("h2 handshake: {e}"))?;
            tokio::spawn(conn);
            sender.send_request(request).await
        } else {
            let request = request
                .header(header::HOST, self.server_name.as_str())
                .body(Empty::<Bytes>::new())
                .map_err(|e| e.to_string())?;
            let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
                .await
                .map_err(|e| format!("h1 handshake: {e}"))?;
            tokio::spawn(conn);
            sender.send_request(request).await
        }
        .map_err(|e| format!("request: {e}"))?;
        let status = response.status();
        let version = response.version();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        Ok(Reply {
            status,
            version,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }
}

/// The exact 401 body kube-apiserver sends.
pub const UNAUTHORIZED_BODY: &str = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#;
