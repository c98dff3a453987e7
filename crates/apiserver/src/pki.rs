//! The cluster's certificates: a CA, the API server's serving certificate
//! and the admin's client certificate, kept as PEM files in `DATA_DIR/pki/`.
//!
//! | file | what | mode |
//! | --- | --- | --- |
//! | `ca.crt`, `ca.key` | the cluster CA (ECDSA P-256, `CA:true`, 10 years) | 0644, 0600 |
//! | `apiserver.crt`, `apiserver.key` | serving certificate (`CA:false`, serverAuth, 1 year) | 0644, 0600 |
//! | `admin.crt`, `admin.key` | client certificate `CN=kubernetes-admin, O=system:masters` (clientAuth, 1 year) | 0644, 0600 |
//!
//! The first start creates them all. Later starts keep the CA and re-issue a
//! leaf only when it no longer does its job, judged the way a client would
//! judge it (webpki, as rustls and kube-rs do): it must chain to `ca.crt`,
//! stay valid for [`RENEW_BEFORE`] more, and — for the serving certificate —
//! name every address clients use. The CA is separate from the leaves
//! because webpki refuses a self-signed leaf used as its own CA.
//!
//! The CA is only ever one we generated: its subject is fixed, so its key
//! is all we need to sign with. Both CA files present or neither; a lone
//! one is an error rather than a silently replaced cluster identity.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use time::OffsetDateTime;
use tracing::info;

use crate::files::{self, Mode};
use crate::user::GROUP_MASTERS;
use crate::x509::{subject_names, subject_public_key_info};

/// The admin client certificate's user name.
pub const ADMIN_USER: &str = "kubernetes-admin";
/// The CA certificate's common name.
pub const CA_COMMON_NAME: &str = "rkube-ca";
/// The serving certificate's common name (clients check SANs, not this).
pub const SERVING_COMMON_NAME: &str = "rkube-apiserver";

/// How long a new CA is valid.
pub const CA_VALIDITY: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// How long a new serving or client certificate is valid.
pub const LEAF_VALIDITY: Duration = Duration::from_secs(365 * 24 * 3600);
/// A leaf that expires sooner than this is re-issued at start.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// How far back a new certificate's validity starts, for clocks that lag.
const BACKDATE: Duration = Duration::from_secs(3600);

/// The names every serving certificate carries, whatever the listen address:
/// loopback, and the in-cluster service names pods use.
pub const DEFAULT_SERVING_NAMES: &[&str] = &[
    "localhost",
    "127.0.0.1",
    "::1",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
];

/// What can go wrong preparing the PKI.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Exactly one of `ca.crt` and `ca.key` exists.
    #[error(
        "{} exists but {} does not; restore it, or remove {} to create a new cluster CA \
         (existing kubeconfigs then stop working)",
        present.display(), missing.display(), present.display()
    )]
    PartialCa { present: PathBuf, missing: PathBuf },
    /// A PEM file holds no certificate or key we can use.
    #[error("{}: not a usable PEM {what}: {detail}", path.display())]
    InvalidPem {
        path: PathBuf,
        what: &'static str,
        detail: String,
    },
    /// `ca.key` is not the key of `ca.crt`, or certificates it issues do not
    /// verify (the CA expires within [`RENEW_BEFORE`]).
    #[error(
        "{} and {} cannot issue certificates ({detail}); \
         remove both to create a new cluster CA (existing kubeconfigs then stop working)",
        cert.display(), key.display()
    )]
    CaMismatch {
        cert: PathBuf,
        key: PathBuf,
        detail: String,
    },
    /// A requested subject alternative name is neither an IP nor a DNS name.
    #[error("{name:?} cannot be a certificate name: {detail}")]
    InvalidName { name: String, detail: String },
    /// Key or certificate generation failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused to build a verifier from the CA.
    #[error("the CA certificate cannot be used for verification: {0}")]
    Verifier(String),
    /// The system clock is before 1970.
    #[error("the system clock is before the Unix epoch")]
    Clock,
}

/// Where the PKI files live.
#[derive(Clone, Debug)]
pub struct PkiPaths {
    pub dir: PathBuf,
}

impl PkiPaths {
    /// The files under `dir` (normally `DATA_DIR/pki`).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        PkiPaths { dir: dir.into() }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn serving_cert(&self) -> PathBuf {
        self.dir.join("apiserver.crt")
    }
    pub fn serving_key(&self) -> PathBuf {
        self.dir.join("apiserver.key")
    }
    pub fn admin_cert(&self) -> PathBuf {
        self.dir.join("admin.crt")
    }
    pub fn admin_key(&self) -> PathBuf {
        self.dir.join("admin.key")
    }
    /// The static token file (see [`crate::tokens`]).
    pub fn tokens(&self) -> PathBuf {
        self.dir.join("tokens.csv")
    }
}

/// A certificate with its private key, both as PEM.
#[derive(Clone)]
pub struct CertKeyPem {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for CertKeyPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertKeyPem")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .finish()
    }
}

/// Which files this start wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Issued {
    pub ca: bool,
    pub serving: bool,
    pub admin: bool,
}

/// The loaded (or freshly created) PKI.
#[derive(Clone, Debug)]
pub struct Pki {
    pub paths: PkiPaths,
    /// The CA certificate, PEM: what clients trust.
    pub ca_cert_pem: String,
    /// The serving certificate and key.
    pub serving: CertKeyPem,
    /// The admin's client certificate and key.
    pub admin: CertKeyPem,
    /// What this start created or re-issued.
    pub issued: Issued,
    ca_cert_der: CertificateDer<'static>,
}

impl Pki {
    /// Load the PKI from `paths`, creating or re-issuing what is missing or
    /// no longer fit. `serving_names` are the extra names (IPs or DNS names)
    /// the serving certificate must carry beyond [`DEFAULT_SERVING_NAMES`].
    pub fn load_or_create(paths: PkiPaths, serving_names: &[String]) -> Result<Pki, PkiError> {
        Self::load_or_create_at(paths, serving_names, SystemTime::now())
    }

    /// [`Pki::load_or_create`] as if the time were `now` (for tests).
    pub fn load_or_create_at(
        paths: PkiPaths,
        serving_names: &[String],
        now: SystemTime,
    ) -> Result<Pki, PkiError> {
        files::create_private_dir(&paths.dir).map_err(|source| PkiError::Io {
            path: paths.dir.clone(),
            source,
        })?;
        let names = serving_name_list(serving_names)?;
        let mut issued = Issued::default();

        let (ca_cert_pem, ca_key) = load_or_create_ca(&paths, now, &mut issued)?;
        let ca_cert_der = parse_cert(&paths.ca_cert(), &ca_cert_pem)?;
        if subject_public_key_info(&ca_cert_der) != Some(ca_key.public_key_der().as_slice()) {
            return Err(PkiError::CaMismatch {
                cert: paths.ca_cert(),
                key: paths.ca_key(),
                detail: "the key is not the certificate's".to_owned(),
            });
        }
        let issuer = ca_issuer(&ca_key)?;
        let checker = Checker::new(&ca_cert_der, now)?;

        let serving = load_or_issue(
            &paths.serving_cert(),
            &paths.serving_key(),
            &mut issued.serving,
            |cert| checker.serves(cert, &names),
            || issue_serving(&names, &issuer, &ca_key, now),
        )?;
        let admin = load_or_issue(
            &paths.admin_cert(),
            &paths.admin_key(),
            &mut issued.admin,
            |cert| checker.is_admin_client(cert),
            || issue_admin(&issuer, &ca_key, now),
        )?;

        // A freshly issued leaf that does not verify means the CA expires
        // within RENEW_BEFORE (or is unusable): say so instead of re-issuing
        // at every start.
        let fresh_check = [
            (issued.serving, checker.serves_detail(&serving, &names)),
            (issued.admin, checker.is_admin_client_detail(&admin)),
        ];
        for (fresh, verdict) in fresh_check {
            if let (true, Err(detail)) = (fresh, verdict) {
                return Err(PkiError::CaMismatch {
                    cert: paths.ca_cert(),
                    key: paths.ca_key(),
                    detail,
                });
            }
        }

        if issued != Issued::default() {
            info!(dir = %paths.dir.display(), ca = issued.ca, serving = issued.serving,
                admin = issued.admin, "wrote cluster certificates");
        }
        Ok(Pki {
            paths,
            ca_cert_pem,
            serving,
            admin,
            issued,
            ca_cert_der,
        })
    }

    /// The CA certificate, DER.
    pub fn ca_cert_der(&self) -> &CertificateDer<'static> {
        &self.ca_cert_der
    }

    /// The serving certificate chain (leaf only: clients have the CA) and key.
    pub fn serving_chain_and_key(
        &self,
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), PkiError> {
        let cert = parse_cert(&self.paths.serving_cert(), &self.serving.cert_pem)?;
        let key = PrivateKeyDer::from_pem_slice(self.serving.key_pem.as_bytes()).map_err(|e| {
            PkiError::InvalidPem {
                path: self.paths.serving_key(),
                what: "private key",
                detail: e.to_string(),
            }
        })?;
        Ok((vec![cert], key))
    }

    /// A root store holding just the cluster CA.
    pub fn roots(&self) -> Result<RootCertStore, PkiError> {
        roots_of(&self.ca_cert_der)
    }
}

/// A serving certificate for a node's own API, signed by the CA in
/// `paths`: `CN=system:node:<node_name>, O=system:nodes`, serverAuth, for
/// `names` (IPs or DNS names), valid [`LEAF_VALIDITY`]. What the node
/// inside `rkube up` serves with, until kubelet-serving
/// CertificateSigningRequests exist. Nothing is written.
pub fn issue_node_serving(
    paths: &PkiPaths,
    node_name: &str,
    names: &[String],
) -> Result<CertKeyPem, PkiError> {
    let missing = |path: PathBuf| PkiError::Io {
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "the cluster CA is missing"),
        path,
    };
    read(&paths.ca_cert())?.ok_or_else(|| missing(paths.ca_cert()))?;
    let key_pem = read(&paths.ca_key())?.ok_or_else(|| missing(paths.ca_key()))?;
    let ca_key = parse_key(&paths.ca_key(), &key_pem)?;
    let issuer = ca_issuer(&ca_key)?;
    for name in names {
        if name.parse::<IpAddr>().is_err() {
            ServerName::try_from(name.as_str()).map_err(|e| PkiError::InvalidName {
                name: name.clone(),
                detail: e.to_string(),
            })?;
        }
    }
    let mut params = leaf_params(&format!("system:node:{node_name}"), SystemTime::now());
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:nodes");
    params.subject_alt_names = CertificateParams::new(names.to_vec())?.subject_alt_names;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(params, &issuer, &ca_key)
}

/// The default names plus `extra`, deduplicated, each checked to be an IP
/// or a valid DNS name.
fn serving_name_list(extra: &[String]) -> Result<Vec<String>, PkiError> {
    let mut names: Vec<String> = Vec::new();
    let all = DEFAULT_SERVING_NAMES
        .iter()
        .map(|s| (*s).to_owned())
        .chain(extra.iter().cloned());
    for name in all {
        let name = match name.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => {
                ServerName::try_from(name.as_str()).map_err(|e| PkiError::InvalidName {
                    name: name.clone(),
                    detail: e.to_string(),
                })?;
                name.to_ascii_lowercase()
            }
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    Ok(names)
}

fn load_or_create_ca(
    paths: &PkiPaths,
    now: SystemTime,
    issued: &mut Issued,
) -> Result<(String, KeyPair), PkiError> {
    let (cert_path, key_path) = (paths.ca_cert(), paths.ca_key());
    let cert = read(&cert_path)?;
    let key = read(&key_path)?;
    match (cert, key) {
        (Some(cert_pem), Some(key_pem)) => {
            let key = parse_key(&key_path, &key_pem)?;
            Ok((cert_pem, key))
        }
        (None, None) => {
            let key = KeyPair::generate()?;
            let mut params = ca_params();
            params.not_before = to_offset(now.checked_sub(BACKDATE).unwrap_or(now));
            params.not_after = to_offset(now + CA_VALIDITY);
            params.serial_number = Some(random_serial());
            let cert = params.self_signed(&key)?;
            // The key first: a crash between the two leaves a lone key,
            // which the next start reports instead of mis-pairing.
            write(&key_path, &key.serialize_pem(), Mode::Private)?;
            write(&cert_path, &cert.pem(), Mode::Public)?;
            issued.ca = true;
            Ok((cert.pem(), key))
        }
        (Some(_), None) => Err(PkiError::PartialCa {
            present: cert_path,
            missing: key_path,
        }),
        (None, Some(_)) => Err(PkiError::PartialCa {
            present: key_path,
            missing: cert_path,
        }),
    }
}

/// The CA's fixed parameters: its subject is all a leaf's issuer field
/// needs, so the same parameters and the stored key sign like the original.
fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, CA_COMMON_NAME);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

/// An rcgen issuer for signing leaves with the stored CA key.
fn ca_issuer(ca_key: &KeyPair) -> Result<Certificate, PkiError> {
    Ok(ca_params().self_signed(ca_key)?)
}

fn leaf_params(common_name: &str, now: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.not_before = to_offset(now.checked_sub(BACKDATE).unwrap_or(now));
    params.not_after = to_offset(now + LEAF_VALIDITY);
    params.serial_number = Some(random_serial());
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.use_authority_key_identifier_extension = true;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params
}

fn issue_serving(
    names: &[String],
    issuer: &Certificate,
    ca_key: &KeyPair,
    now: SystemTime,
) -> Result<CertKeyPem, PkiError> {
    let sans = CertificateParams::new(names.to_vec())?.subject_alt_names;
    let mut params = leaf_params(SERVING_COMMON_NAME, now);
    params.subject_alt_names = sans;
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    sign(params, issuer, ca_key)
}

fn issue_admin(
    issuer: &Certificate,
    ca_key: &KeyPair,
    now: SystemTime,
) -> Result<CertKeyPem, PkiError> {
    let mut params = leaf_params(ADMIN_USER, now);
    params
        .distinguished_name
        .push(DnType::OrganizationName, GROUP_MASTERS);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    sign(params, issuer, ca_key)
}

fn sign(
    params: CertificateParams,
    issuer: &Certificate,
    ca_key: &KeyPair,
) -> Result<CertKeyPem, PkiError> {
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer, ca_key)?;
    Ok(CertKeyPem {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// Keep the leaf at `cert_path`/`key_path` if both parse and `fit` accepts
/// it; otherwise issue a new one and write it (key first).
fn load_or_issue(
    cert_path: &Path,
    key_path: &Path,
    issued: &mut bool,
    fit: impl Fn(&CertKeyPem) -> bool,
    issue: impl FnOnce() -> Result<CertKeyPem, PkiError>,
) -> Result<CertKeyPem, PkiError> {
    if let (Some(cert_pem), Some(key_pem)) = (read(cert_path)?, read(key_path)?) {
        let existing = CertKeyPem { cert_pem, key_pem };
        if KeyPair::from_pem(&existing.key_pem).is_ok() && fit(&existing) {
            return Ok(existing);
        }
        info!(cert = %cert_path.display(), "re-issuing a certificate that is expiring, \
            unreadable, for other names or from another CA");
    }
    let fresh = issue()?;
    write(key_path, &fresh.key_pem, Mode::Private)?;
    write(cert_path, &fresh.cert_pem, Mode::Public)?;
    *issued = true;
    Ok(fresh)
}

/// Judges leaves as clients would, at `now + RENEW_BEFORE`.
struct Checker {
    server: Arc<WebPkiServerVerifier>,
    client: Arc<dyn ClientCertVerifier>,
    at: UnixTime,
}

impl Checker {
    fn new(ca: &CertificateDer<'static>, now: SystemTime) -> Result<Self, PkiError> {
        let roots = Arc::new(roots_of(ca)?);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let server = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| PkiError::Verifier(e.to_string()))?;
        let client = WebPkiClientVerifier::builder_with_provider(roots, provider)
            .build()
            .map_err(|e| PkiError::Verifier(e.to_string()))?;
        let since_epoch = now
            .duration_since(UNIX_EPOCH)
            .map_err(|_| PkiError::Clock)?;
        Ok(Checker {
            server,
            client,
            at: UnixTime::since_unix_epoch(since_epoch + RENEW_BEFORE),
        })
    }

    fn serves(&self, leaf: &CertKeyPem, names: &[String]) -> bool {
        self.serves_detail(leaf, names).is_ok()
    }

    fn serves_detail(&self, leaf: &CertKeyPem, names: &[String]) -> Result<(), String> {
        let der =
            CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
        for name in names {
            let server_name = ServerName::try_from(name.as_str()).map_err(|e| e.to_string())?;
            self.server
                .verify_server_cert(&der, &[], &server_name, &[], self.at)
                .map_err(|e| format!("serving certificate for {name}: {e}"))?;
        }
        Ok(())
    }

    fn is_admin_client(&self, leaf: &CertKeyPem) -> bool {
        self.is_admin_client_detail(leaf).is_ok()
    }

    fn is_admin_client_detail(&self, leaf: &CertKeyPem) -> Result<(), String> {
        let der =
            CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).map_err(|e| e.to_string())?;
        self.client
            .verify_client_cert(&der, &[], self.at)
            .map_err(|e| format!("admin client certificate: {e}"))?;
        let subject = subject_names(&der).ok_or("admin certificate subject unreadable")?;
        let admin = subject.common_name.as_deref() == Some(ADMIN_USER)
            && subject.organizations.iter().any(|o| o == GROUP_MASTERS);
        if admin {
            Ok(())
        } else {
            Err("admin certificate has another subject".to_owned())
        }
    }
}

fn roots_of(ca: &CertificateDer<'static>) -> Result<RootCertStore, PkiError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| PkiError::Verifier(e.to_string()))?;
    Ok(roots)
}

fn parse_cert(path: &Path, pem: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes()).map_err(|e| PkiError::InvalidPem {
        path: path.to_owned(),
        what: "certificate",
        detail: e.to_string(),
    })
}

fn parse_key(path: &Path, pem: &str) -> Result<KeyPair, PkiError> {
    KeyPair::from_pem(pem).map_err(|e| PkiError::InvalidPem {
        path: path.to_owned(),
        what: "private key",
        detail: e.to_string(),
    })
}

fn read(path: &Path) -> Result<Option<String>, PkiError> {
    files::read_optional(path).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write(path: &Path, contents: &str, mode: Mode) -> Result<(), PkiError> {
    files::write_atomic(path, contents.as_bytes(), mode).map_err(|source| PkiError::Io {
        path: path.to_owned(),
        source,
    })
}

fn to_offset(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}

/// A random positive 128-bit serial number (RFC 5280 allows up to 20 octets).
fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01; // no leading zero octet to strip
    SerialNumber::from_slice(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn first_start_creates_everything_with_private_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = PkiPaths::new(dir.path().join("pki"));
        let pki = Pki::load_or_create(paths.clone(), &["10.0.0.7".to_owned()]).expect("pki");
        assert_eq!(
            pki.issued,
            Issued {
                ca: true,
                serving: true,
                admin: true
            }
        );
        for key in [paths.ca_key(), paths.serving_key(), paths.admin_key()] {
            assert_eq!(mode(&key), 0o600, "{}", key.display());
        }
        assert_eq!(mode(&paths.ca_cert()), 0o644);
        assert_eq!(mode(&paths.dir), 0o700);
        let checker = Checker::new(pki.ca_cert_der(), SystemTime::now()).expect("checker");
        let names = serving_name_list(&["10.0.0.7".to_owned()]).expect("names");
        checker.serves_detail(&pki.serving, &names).expect("serves");
        checker.is_admin_client_detail(&pki.admin).expect("admin");
        let admin_der = CertificateDer::from_pem_slice(pki.admin.cert_pem.as_bytes()).expect("der");
        let subject = subject_names(&admin_der).expect("subject");
        assert_eq!(subject.common_name.as_deref(), Some(ADMIN_USER));
        assert_eq!(subject.organizations, [GROUP_MASTERS]);
    }

    #[test]
    fn later_starts_reuse_and_reissue_only_what_is_unfit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = PkiPaths::new(dir.path());
        let first = Pki::load_or_create(paths.clone(), &[]).expect("first");

        let again = Pki::load_or_create(paths.clone(), &[]).expect("again");
        assert_eq!(again.issued, Issued::default());
        assert_eq!(again.serving.cert_pem, first.serving.cert_pem);

        // A new listen address: only the serving certificate changes.
        let moved = Pki::load_or_create(paths.clone(), &["192.0.2.1".to_owned()]).expect("moved");
        assert_eq!(
            moved.issued,
            Issued {
                serving: true,
                ..Issued::default()
            }
        );
        assert_eq!(moved.ca_cert_pem, first.ca_cert_pem);
        assert_eq!(moved.admin.cert_pem, first.admin.cert_pem);

        // Eleven months on, both leaves are renewed under the same CA.
        let later = SystemTime::now() + Duration::from_secs(340 * 24 * 3600);
        let renewed = Pki::load_or_create_at(paths.clone(), &["192.0.2.1".to_owned()], later)
            .expect("renewed");
        assert_eq!(
            renewed.issued,
            Issued {
                ca: false,
                serving: true,
                admin: true
            }
        );
        assert_eq!(renewed.ca_cert_pem, first.ca_cert_pem);
    }

    #[test]
    fn a_lone_ca_file_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = PkiPaths::new(dir.path());
        Pki::load_or_create(paths.clone(), &[]).expect("first");
        std::fs::remove_file(paths.ca_key()).expect("rm");
        let err = Pki::load_or_create(paths, &[]).expect_err("partial CA");
        assert!(matches!(err, PkiError::PartialCa { .. }), "{err}");
    }

    #[test]
    fn a_foreign_ca_key_is_reported() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = PkiPaths::new(dir.path());
        Pki::load_or_create(paths.clone(), &[]).expect("first");
        let other = KeyPair::generate().expect("key");
        std::fs::write(paths.ca_key(), other.serialize_pem()).expect("write");
        let err = Pki::load_or_create(paths, &[]).expect_err("mismatch");
        assert!(matches!(err, PkiError::CaMismatch { .. }), "{err}");
    }

    #[test]
    fn node_serving_certificates_come_from_the_cluster_ca() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = PkiPaths::new(dir.path());
        let pki = Pki::load_or_create(paths.clone(), &[]).expect("pki");
        let names = ["10.0.0.9".to_owned(), "node-a".to_owned()];
        let leaf = issue_node_serving(&paths, "node-a", &names).expect("leaf");
        let checker = Checker::new(pki.ca_cert_der(), SystemTime::now()).expect("checker");
        checker.serves_detail(&leaf, &names).expect("serves");
        let der = CertificateDer::from_pem_slice(leaf.cert_pem.as_bytes()).expect("der");
        let subject = subject_names(&der).expect("subject");
        assert_eq!(subject.common_name.as_deref(), Some("system:node:node-a"));
        let err = issue_node_serving(&paths, "n", &["bad name".to_owned()]).expect_err("bad");
        assert!(matches!(err, PkiError::InvalidName { .. }), "{err}");
        let empty = tempfile::tempdir().expect("tempdir");
        let err = issue_node_serving(&PkiPaths::new(empty.path()), "n", &[]).expect_err("no CA");
        assert!(matches!(err, PkiError::Io { .. }), "{err}");
    }

    #[test]
    fn bad_names_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Pki::load_or_create(PkiPaths::new(dir.path()), &["not a name".to_owned()])
            .expect_err("bad name");
        assert!(matches!(err, PkiError::InvalidName { .. }), "{err}");
    }
}
