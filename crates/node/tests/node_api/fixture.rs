//! A node's API on 127.0.0.1 with a fake runtime whose containers write
//! to log files the test controls, a cluster CA, and an HTTPS client with
//! or without a client certificate.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::StatusCode;
use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
use rkube_cri::{
    ContainerConfig, ContainerState, ContainerStats, ContainerStatus, CriError, ExecResult,
    PodSandboxConfig, PodSandboxStats, RuntimeService, SandboxInfo, SandboxState,
};
use rkube_node::kubelet::KubeletConfig;
use rkube_node::server::listen::{Authenticator, ListenConfig, NodeListener, ServingCert};
use rkube_node::server::{router, ServerState};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::task::JoinHandle;

/// What the fake runtime has.
#[derive(Default)]
pub struct Fake {
    pub sandboxes: Vec<SandboxInfo>,
    pub containers: Vec<ContainerStatus>,
    pub stats: Vec<ContainerStats>,
    pub sandbox_stats: Vec<PodSandboxStats>,
    /// `list_container_stats` fails.
    pub stats_fail: bool,
}

/// A runtime answering from [`Fake`].
#[derive(Default, Clone)]
pub struct FakeRuntime(pub Arc<Mutex<Fake>>);

impl FakeRuntime {
    pub fn with<T>(&self, f: impl FnOnce(&mut Fake) -> T) -> T {
        f(&mut self.0.lock().expect("fake"))
    }

    /// Add a sandbox for pod `ns/name` (uid `uid`).
    pub fn add_pod(&self, ns: &str, name: &str, uid: &str) -> String {
        let id = format!("sb-{uid}");
        self.with(|f| {
            f.sandboxes.push(SandboxInfo {
                id: id.clone(),
                pod_uid: uid.into(),
                pod_name: name.into(),
                pod_namespace: ns.into(),
                attempt: 0,
                state: SandboxState::Ready,
                ip: None,
                created_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            })
        });
        id
    }

    /// Add instance `attempt` of container `name` in the pod, logging to
    /// `log`.
    pub fn add_container(
        &self,
        sandbox: &str,
        (ns, pod, uid): (&str, &str, &str),
        name: &str,
        attempt: u32,
        state: ContainerState,
        log: &Path,
    ) -> String {
        let id = format!("c-{uid}-{name}-{attempt}");
        let labels = BTreeMap::from([
            ("io.kubernetes.pod.namespace".to_string(), ns.to_string()),
            ("io.kubernetes.pod.name".to_string(), pod.to_string()),
            ("io.kubernetes.pod.uid".to_string(), uid.to_string()),
            ("io.kubernetes.container.name".to_string(), name.to_string()),
        ]);
        let created =
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + u64::from(attempt));
        self.with(|f| {
            f.containers.push(ContainerStatus {
                id: id.clone(),
                sandbox_id: sandbox.into(),
                name: name.into(),
                attempt,
                state,
                created_at: created,
                started_at: Some(created + Duration::from_millis(500)),
                finished_at: None,
                exit_code: 0,
                reason: String::new(),
                message: String::new(),
                image: "docker.io/library/busybox:latest".into(),
                image_id: "sha256:abc".into(),
                log_path: log.to_path_buf(),
                labels,
            })
        });
        id
    }

    pub fn set_state(&self, id: &str, state: ContainerState) {
        self.with(|f| {
            for c in f.containers.iter_mut().filter(|c| c.id == id) {
                c.state = state;
            }
        })
    }
}

#[async_trait]
impl RuntimeService for FakeRuntime {
    async fn version(&self) -> Result<String, CriError> {
        Ok("fake://1".into())
    }
    async fn run_pod_sandbox(&self, _: &PodSandboxConfig) -> Result<SandboxInfo, CriError> {
        Err(CriError::Unsupported("fake".into()))
    }
    async fn stop_pod_sandbox(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn remove_pod_sandbox(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn list_pod_sandboxes(&self) -> Result<Vec<SandboxInfo>, CriError> {
        Ok(self.with(|f| f.sandboxes.clone()))
    }
    async fn create_container(&self, _: &str, _: &ContainerConfig) -> Result<String, CriError> {
        Err(CriError::Unsupported("fake".into()))
    }
    async fn start_container(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn stop_container(&self, _: &str, _: Duration) -> Result<(), CriError> {
        Ok(())
    }
    async fn remove_container(&self, _: &str) -> Result<(), CriError> {
        Ok(())
    }
    async fn list_containers(&self) -> Result<Vec<ContainerStatus>, CriError> {
        Ok(self.with(|f| f.containers.clone()))
    }
    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError> {
        self.with(|f| f.containers.iter().find(|c| c.id == id).cloned())
            .ok_or_else(|| CriError::NotFound(id.to_string()))
    }
    async fn exec_sync(&self, _: &str, _: &[String], _: Duration) -> Result<ExecResult, CriError> {
        Err(CriError::Unsupported("fake".into()))
    }
    async fn list_container_stats(&self) -> Result<Vec<ContainerStats>, CriError> {
        self.with(|f| {
            if f.stats_fail {
                Err(CriError::Runtime("cgroup unreadable".into()))
            } else {
                Ok(f.stats.clone())
            }
        })
    }
    async fn list_pod_sandbox_stats(&self) -> Result<Vec<PodSandboxStats>, CriError> {
        Ok(self.with(|f| f.sandbox_stats.clone()))
    }
}

/// A cluster CA and what it signs.
pub struct Ca {
    key: KeyPair,
    cert: rcgen::Certificate,
    pub pem: String,
}

/// A certificate and key, PEM.
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new() -> Ca {
        let key = KeyPair::generate().expect("key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test-ca");
        let cert = params.self_signed(&key).expect("ca");
        Ca {
            pem: cert.pem(),
            key,
            cert,
        }
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Identity {
        let key = KeyPair::generate().expect("key");
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("params");
        params.extended_key_usages = vec![usage];
        let cert = params.signed_by(&key, &self.cert, &self.key).expect("sign");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    pub fn serving(&self) -> Identity {
        self.issue(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    pub fn client(&self) -> Identity {
        self.issue(&[], ExtendedKeyUsagePurpose::ClientAuth)
    }

    pub fn der(&self) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(self.pem.as_bytes()).expect("der")
    }
}

/// A node's API serving on 127.0.0.1, stopped when dropped.
pub struct Node {
    pub port: u16,
    pub ca: Ca,
    pub runtime: FakeRuntime,
    pub dir: tempfile::TempDir,
    task: JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Node {
    /// Start one, trying ports from `first_port`.
    pub async fn start_on(first_port: u16) -> Node {
        let ca = Ca::new();
        let serving = ca.serving();
        let dir = tempfile::tempdir().expect("tempdir");
        let runtime = FakeRuntime::default();
        let mut config = KubeletConfig::new(
            "test-node".into(),
            "127.0.0.1".parse::<IpAddr>().expect("ip"),
            dir.path(),
        );
        config.node_log_dir = dir.path().join("varlog");
        let state = Arc::new(ServerState {
            config: Arc::new(config),
            runtime: Arc::new(runtime.clone()),
        });
        let listener = NodeListener::bind(ListenConfig {
            address: "127.0.0.1".parse().expect("ip"),
            first_port,
            serving: ServingCert {
                cert_pem: serving.cert_pem,
                key_pem: serving.key_pem,
            },
            client_cas: vec![ca.der()],
            auth: Authenticator::default(),
        })
        .await
        .expect("bind");
        let port = listener.port();
        let task = tokio::spawn(listener.serve(router(state)));
        Node {
            port,
            ca,
            runtime,
            dir,
            task,
        }
    }

    pub async fn start() -> Node {
        Node::start_on(20250 + (std::process::id() % 2000) as u16).await
    }

    /// A path under the node's directory.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// GET `path` showing `identity` (None: no certificate).
    pub async fn get_as(
        &self,
        path: &str,
        identity: Option<&Identity>,
    ) -> (StatusCode, hyper::HeaderMap, Incoming) {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.der()).expect("root");
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
        let config = match identity {
            Some(id) => builder
                .with_client_auth_cert(
                    vec![CertificateDer::from_pem_slice(id.cert_pem.as_bytes()).expect("cert")],
                    PrivateKeyDer::from_pem_slice(id.key_pem.as_bytes()).expect("key"),
                )
                .expect("client auth"),
            None => builder.with_no_client_auth(),
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let tls = connector
            .connect(ServerName::try_from("127.0.0.1").expect("name"), tcp)
            .await
            .expect("tls");
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .expect("handshake");
        tokio::spawn(conn);
        let req = hyper::Request::get(path.parse::<hyper::Uri>().expect("uri"))
            .header("host", "127.0.0.1")
            .body(http_body_util::Empty::<Bytes>::new())
            .expect("request");
        let resp = sender.send_request(req).await.expect("response");
        let (parts, body) = resp.into_parts();
        (parts.status, parts.headers, body)
    }

    /// GET `path` as a client of the cluster CA.
    pub async fn get(&self, path: &str) -> (StatusCode, hyper::HeaderMap, Incoming) {
        let id = self.ca.client();
        self.get_as(path, Some(&id)).await
    }

    /// GET `path` as a client of the cluster CA; the status and the whole
    /// body as text.
    pub async fn get_text(&self, path: &str) -> (StatusCode, String) {
        let (status, _, body) = self.get(path).await;
        let bytes = body.collect().await.expect("body").to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// A CRI log line.
pub fn cri(time: &str, stream: &str, tag: &str, content: &str) -> String {
    format!("{time} {stream} {tag} {content}\n")
}
