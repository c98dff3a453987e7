//! TLS of the node's API: the serving certificate (from the cluster CA,
//! or self-signed and kept under the node's directory, as the kubelet's
//! `kubelet.crt`), and client certificates asked for but not required,
//! as the kubelet's `RequestClientCert`: the handshake accepts any
//! certificate whose key the client proves it holds, and [`ClientCheck`]
//! then judges it against the cluster CA, so a stranger gets a 401 rather
//! than a broken handshake.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

/// ALPN: HTTP/2 and HTTP/1.1 (exec and port-forward upgrade HTTP/1.1).
pub const ALPN_PROTOCOLS: &[&[u8]] = &[b"h2", b"http/1.1"];

/// Why the node's TLS cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM certificate or key does not parse.
    #[error("{what}: {detail}")]
    Pem { what: &'static str, detail: String },
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Rustls(String),
    /// Generating the self-signed certificate failed.
    #[error("generating the node's serving certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing the certificate files failed.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A serving certificate (chain, leaf first) and its key, both PEM.
#[derive(Clone)]
pub struct ServingCert {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for ServingCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServingCert")
            .field("cert_pem", &self.cert_pem)
            .finish_non_exhaustive()
    }
}

impl ServingCert {
    /// The self-signed certificate kept in `dir` (`kubelet.crt`,
    /// `kubelet.key`), made for `names` (IPs or DNS names) when missing or
    /// unreadable, as the kubelet does without a certificate of its own.
    pub fn self_signed_in(dir: &Path, names: &[String]) -> Result<ServingCert, TlsError> {
        let (cert_path, key_path) = (dir.join("kubelet.crt"), dir.join("kubelet.key"));
        if let (Ok(cert_pem), Ok(key_pem)) = (
            std::fs::read_to_string(&cert_path),
            std::fs::read_to_string(&key_path),
        ) {
            let existing = ServingCert { cert_pem, key_pem };
            if existing.chain_and_key().is_ok() {
                return Ok(existing);
            }
        }
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| TlsError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let generated = rcgen::generate_simple_self_signed(names.to_vec())?;
        let fresh = ServingCert {
            cert_pem: generated.cert.pem(),
            key_pem: generated.key_pair.serialize_pem(),
        };
        write_private(&key_path, &fresh.key_pem).map_err(io(&key_path))?;
        std::fs::write(&cert_path, &fresh.cert_pem).map_err(io(&cert_path))?;
        Ok(fresh)
    }

    fn chain_and_key(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let chain = CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::Pem {
                what: "the serving certificate",
                detail: e.to_string(),
            })?;
        if chain.is_empty() {
            return Err(TlsError::Pem {
                what: "the serving certificate",
                detail: "no certificate in the PEM".to_string(),
            });
        }
        let key =
            PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).map_err(|e| TlsError::Pem {
                what: "the serving key",
                detail: e.to_string(),
            })?;
        Ok((chain, key))
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents.as_bytes())
}

/// Parse the certificates of a PEM bundle (a CA file).
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: "the client CA",
            detail: e.to_string(),
        })
}

/// What a client's certificate proves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerCert {
    /// No certificate was shown.
    None,
    /// A certificate of the cluster CA.
    Verified,
    /// A certificate the cluster CA did not sign (or expired).
    Refused(String),
}

/// Judges a connection's client certificate against the cluster CA.
#[derive(Clone, Debug)]
pub struct ClientCheck {
    /// None: no CA to check against (every certificate is refused).
    verifier: Option<Arc<dyn ClientCertVerifier>>,
}

impl ClientCheck {
    /// A check against `cas` (none: nothing verifies).
    pub fn new(cas: &[CertificateDer<'static>]) -> Result<ClientCheck, TlsError> {
        if cas.is_empty() {
            return Ok(ClientCheck { verifier: None });
        }
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots
                .add(ca.clone())
                .map_err(|e| TlsError::Rustls(format!("the client CA: {e}")))?;
        }
        let verifier =
            WebPkiClientVerifier::builder_with_provider(Arc::new(roots), Arc::new(provider()))
                .build()
                .map_err(|e| TlsError::Rustls(e.to_string()))?;
        Ok(ClientCheck {
            verifier: Some(verifier),
        })
    }

    /// Judge the certificates a client showed (leaf first).
    pub fn judge(&self, certs: Option<&[CertificateDer<'static>]>) -> PeerCert {
        let Some((leaf, intermediates)) = certs.and_then(|c| c.split_first()) else {
            return PeerCert::None;
        };
        let Some(verifier) = &self.verifier else {
            return PeerCert::Refused("the node has no client CA".to_string());
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        match verifier.verify_client_cert(leaf, intermediates, UnixTime::since_unix_epoch(now)) {
            Ok(_) => PeerCert::Verified,
            Err(e) => PeerCert::Refused(e.to_string()),
        }
    }

    fn hints(&self) -> &[DistinguishedName] {
        self.verifier
            .as_ref()
            .map(|v| v.root_hint_subjects())
            .unwrap_or(&[])
    }
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Asks for a client certificate, accepts any whose key the client holds;
/// [`ClientCheck::judge`] decides later what it proves.
#[derive(Debug)]
struct RequestClientCert {
    check: ClientCheck,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for RequestClientCert {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.check.hints()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server's TLS configuration: `serving` as its certificate, client
/// certificates asked for (judged by `check`), HTTP/2 and HTTP/1.1.
pub fn server_config(
    serving: &ServingCert,
    check: &ClientCheck,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(provider());
    let verifier = Arc::new(RequestClientCert {
        check: check.clone(),
        algorithms: provider.signature_verification_algorithms,
    });
    let (chain, key) = serving.chain_and_key()?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Rustls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
