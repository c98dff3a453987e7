//! rkube's API server: the transport and identity layer.
//!
//! Start here: [`prepare`] turns an [`ApiServerConfig`] into a [`Prepared`]
//! server — the cluster PKI under `DATA_DIR/pki/` ([`pki`]), the static
//! token file ([`tokens`]), the admin kubeconfig ([`kubeconfig`]) and the
//! rustls configuration ([`tls`]). [`Prepared::protect`] wraps a router in
//! authentication and authorization ([`authn`], [`authz`]); [`serve`]
//! runs it over TLS with HTTP/1.1 and HTTP/2 until a shutdown future
//! completes ([`serve()`](serve::serve)).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use rkube_apiserver::{prepare, serve, ApiServerConfig};
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:6443").await?;
//! let config = ApiServerConfig::new("./.rkube", listener.local_addr()?);
//! let prepared = prepare(&config).await?;
//! let router = prepared.protect(rkube_apiserver::version::router());
//! serve(listener, router, prepared.tls.clone(), std::future::pending()).await;
//! # Ok(()) }
//! ```
//!
//! [`resources`] holds the API itself — discovery, the verbs on every
//! resource, watch, admission and field management — on a
//! [`rkube_store::Store`]; the caller (`rkube`) opens the store and merges
//! that router under [`Prepared::protect`].
//!
//! Owns: the HTTP API and everything between a request and the store. It
//! must not: run controllers, schedule or drive nodes (those are API
//! clients in their own crates), or know which store backend it is on.

pub mod authn;
pub mod authz;
mod files;
pub mod kubeconfig;
pub mod node_access;
pub mod pki;
pub mod request_attributes;
pub mod resources;
pub mod serve;
pub mod status;
pub mod tls;
pub mod tokens;
pub mod user;
pub mod version;
mod x509;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

pub use authn::{Auth, Authenticator, TokenAuthenticator};
pub use authz::{Authorizer, BootstrapAuthorizer, Decision};
pub use request_attributes::RequestAttributes;
pub use rkube_apimachinery::{ApiError, Status};
pub use serve::{serve, serve_with, ConnectionInfo, ServeOptions};
pub use user::UserInfo;

use kubeconfig::Kubeconfig;
use pki::{Pki, PkiError, PkiPaths};
use tls::TlsError;
use tokens::{TokenFile, TokenFileError};

/// Where and how the API server runs.
#[derive(Clone, Debug)]
pub struct ApiServerConfig {
    /// The data directory; the PKI goes to `pki/`, the kubeconfig to `kubeconfig`.
    pub data_dir: PathBuf,
    /// The address clients reach the server at. When binding port 0, bind
    /// first and pass the bound address. A wildcard address (`0.0.0.0`,
    /// `::`) is advertised as loopback; add the names remote clients use
    /// to [`ApiServerConfig::extra_sans`].
    pub listen: SocketAddr,
    /// More IPs or DNS names for the serving certificate, beyond loopback,
    /// the in-cluster `kubernetes.default.svc` names and the listen IP.
    pub extra_sans: Vec<String>,
}

impl ApiServerConfig {
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        ApiServerConfig {
            data_dir: data_dir.into(),
            listen,
            extra_sans: Vec::new(),
        }
    }

    /// `DATA_DIR/pki`.
    pub fn pki_dir(&self) -> PathBuf {
        self.data_dir.join("pki")
    }

    /// `DATA_DIR/kubeconfig`.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.data_dir.join("kubeconfig")
    }

    /// The URL written into the kubeconfig.
    pub fn server_url(&self) -> String {
        kubeconfig::server_url(self.listen)
    }

    /// Every name the serving certificate must carry beyond the defaults.
    fn serving_names(&self) -> Vec<String> {
        let mut names = Vec::new();
        if !self.listen.ip().is_unspecified() {
            names.push(self.listen.ip().to_string());
        }
        names.extend(self.extra_sans.iter().cloned());
        names
    }
}

/// What can go wrong in [`prepare`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The certificates could not be loaded or created.
    #[error("cluster certificates: {0}")]
    Pki(#[from] PkiError),
    /// The token file could not be read, written or parsed.
    #[error("token file: {0}")]
    Tokens(#[from] TokenFileError),
    /// The kubeconfig could not be written.
    #[error("writing the kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The blocking preparation task panicked or was cancelled.
    #[error("preparing the API server: {0}")]
    Task(String),
}

/// A server ready to [`serve`].
#[derive(Clone)]
pub struct Prepared {
    /// The cluster certificates.
    pub pki: Pki,
    /// The rustls server configuration for [`serve`].
    pub tls: Arc<rustls::ServerConfig>,
    /// The static bearer tokens.
    pub tokens: Arc<TokenFile>,
    /// Authentication (client certificates, then tokens) and the
    /// authorizer ([`BootstrapAuthorizer`] until RBAC exists).
    pub auth: Auth,
    /// Where the admin kubeconfig was written.
    pub kubeconfig_path: PathBuf,
    /// The server URL in that kubeconfig.
    pub server_url: String,
}

impl Prepared {
    /// `router` behind authentication and authorization.
    pub fn protect(&self, router: axum::Router) -> axum::Router {
        self.auth.clone().protect(router)
    }

    /// The admin bearer token from the token file, if it has one.
    pub fn admin_token(&self) -> Option<&str> {
        self.tokens.admin_token()
    }
}

/// Create or load everything the server needs in `config.data_dir` and
/// (re)write the kubeconfig. The file work runs on a blocking thread.
pub async fn prepare(config: &ApiServerConfig) -> Result<Prepared, Error> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || prepare_blocking(&config))
        .await
        .map_err(|e| Error::Task(e.to_string()))?
}

/// [`prepare`] on the calling thread.
pub fn prepare_blocking(config: &ApiServerConfig) -> Result<Prepared, Error> {
    let paths = PkiPaths::new(config.pki_dir());
    let pki = Pki::load_or_create(paths.clone(), &config.serving_names())?;
    let tokens = Arc::new(TokenFile::load_or_create(&paths.tokens())?);
    let tls = tls::server_config(&pki)?;

    let server_url = config.server_url();
    let kubeconfig_path = config.kubeconfig_path();
    Kubeconfig {
        server: server_url.clone(),
        ca_cert_pem: pki.ca_cert_pem.clone(),
        client_cert_pem: pki.admin.cert_pem.clone(),
        client_key_pem: pki.admin.key_pem.clone(),
    }
    .write(&kubeconfig_path)
    .map_err(|source| Error::Kubeconfig {
        path: kubeconfig_path.clone(),
        source,
    })?;

    let authenticator = Arc::new(Authenticator::new(vec![
        tokens.clone() as Arc<dyn TokenAuthenticator>
    ]));
    let auth = Auth::new(authenticator, Arc::new(BootstrapAuthorizer));
    Ok(Prepared {
        pki,
        tls,
        tokens,
        auth,
        kubeconfig_path,
        server_url,
    })
}
