//! The TLS side of reaching a node (or a pod's `https:` port): rustls
//! client configurations that offer HTTP/1.1 only (upgrades need it) and,
//! as kube-apiserver without `--kubelet-certificate-authority`, do not
//! verify the serving certificate's issuer or names. The handshake's
//! signatures are still checked, so the peer holds the key of the
//! certificate it shows.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::pki::CertKeyPem;

/// Why a client identity could not be used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The certificate or key PEM did not parse.
    #[error("the client {what} is not valid PEM: {detail}")]
    Pem { what: &'static str, detail: String },
    /// rustls refused the certificate and key (or the configuration).
    #[error("the TLS client configuration was refused: {0}")]
    Rustls(String),
}

/// Accepts any serving certificate, checking only the handshake's
/// signatures.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn builder(
) -> Result<rustls::ConfigBuilder<ClientConfig, rustls::client::WantsClientCert>, IdentityError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(AnyServerCert(provider.clone()));
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| IdentityError::Rustls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier))
}

fn http1_only(mut config: ClientConfig) -> Arc<ClientConfig> {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A configuration that shows no client certificate.
pub fn anonymous() -> Result<Arc<ClientConfig>, IdentityError> {
    Ok(http1_only(builder()?.with_no_client_auth()))
}

/// A configuration that shows `identity`.
pub fn with_identity(identity: &CertKeyPem) -> Result<Arc<ClientConfig>, IdentityError> {
    let chain = CertificateDer::pem_slice_iter(identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| IdentityError::Pem {
            what: "certificate",
            detail: e.to_string(),
        })?;
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).map_err(|e| {
        IdentityError::Pem {
            what: "key",
            detail: e.to_string(),
        }
    })?;
    let config = builder()?
        .with_client_auth_cert(chain, key)
        .map_err(|e| IdentityError::Rustls(e.to_string()))?;
    Ok(http1_only(config))
}
