//! The server's rustls configuration: serve the cluster serving certificate,
//! offer HTTP/2 and HTTP/1.1 by ALPN, and request — but not require — a
//! client certificate, verified against the cluster CA. A client without
//! one (a bearer-token or anonymous client) still connects; one with a
//! certificate that does not verify is refused during the handshake.
//!
//! The crypto provider is ring, passed explicitly, so the process-wide
//! default provider never matters.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::ServerConfig;

use crate::pki::{Pki, PkiError};

/// ALPN protocols offered, in preference order.
pub const ALPN_PROTOCOLS: &[&[u8]] = &[b"h2", b"http/1.1"];

/// What can go wrong building the TLS configuration.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificates could not be read back.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// The rustls server configuration for `pki`.
pub fn server_config(pki: &Pki) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = Arc::new(pki.roots()?);
    let client_verifier = WebPkiClientVerifier::builder_with_provider(roots, provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    let (chain, key) = pki.serving_chain_and_key()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
