//! Who may use the node's API, as the kubelet's authentication: a client
//! certificate of the cluster CA (the API server shows its own), else a
//! bearer token through [`TokenAuthenticator`] — the seam for the security
//! issue's TokenReview, with SubjectAccessReview on `nodes/proxy`,
//! `nodes/stats`, `nodes/metrics` and `nodes/log` after it. Everyone else
//! gets `401 Unauthorized`, as a kubelet with anonymous access off.

use std::sync::Arc;

use async_trait::async_trait;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use super::tls::PeerCert;

/// Who made a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    /// A client certificate of the cluster CA (the API server, an admin).
    ClusterCertificate,
    /// A user whose bearer token was accepted.
    TokenUser(String),
}

/// Checks bearer tokens (the security issue plugs a TokenReview client in
/// here; until then no token is accepted).
#[async_trait]
pub trait TokenAuthenticator: Send + Sync {
    /// The user the token belongs to, or None when it is not valid.
    async fn authenticate(&self, token: &str) -> Option<String>;
}

/// Authentication of the node's API.
#[derive(Clone, Default)]
pub struct Authenticator {
    /// None: bearer tokens are refused.
    pub tokens: Option<Arc<dyn TokenAuthenticator>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("tokens", &self.tokens.is_some())
            .finish()
    }
}

impl Authenticator {
    /// The request's identity: its connection's certificate, else its
    /// bearer token.
    pub async fn authenticate(&self, peer: &PeerCert, headers: &HeaderMap) -> Option<Identity> {
        if *peer == PeerCert::Verified {
            return Some(Identity::ClusterCertificate);
        }
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())?;
        let tokens = self.tokens.as_ref()?;
        tokens.authenticate(token).await.map(Identity::TokenUser)
    }
}

/// The kubelet's answer to an unauthenticated request.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "Unauthorized\n",
    )
        .into_response()
}
