//! The resource API in process (an in-memory embedded store with the
//! built-in resources and the initial namespaces) and a kube-rs client
//! whose transport is its router: for the kubelet's tests against a real
//! API server without TLS or a listener.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use kube::Client;
use rkube_apimachinery::Registry;
use rkube_apiserver::resources::{self, ApiState};
use rkube_node::kubelet::KubeletConfig;
use rkube_store::backend::MemDir;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use tower::ServiceExt;

/// A client of a fresh in-memory API server.
pub async fn api_client() -> Client {
    let mut opts = EmbeddedOptions::new("unused");
    opts.compaction = CompactionPolicy::Manual;
    let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), opts).expect("store");
    let state = Arc::new(ApiState::new(
        Arc::new(store),
        Arc::new(Registry::builtin()),
    ));
    resources::ensure_namespaces(state.store.as_ref(), &state.registry())
        .await
        .expect("namespaces");
    let router = resources::router(state);
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, axum::body::Body::new(body));
        router.clone().oneshot(request)
    });
    Client::new(service, "default")
}

/// A kubelet configuration under `dir`.
pub fn config(dir: &Path) -> KubeletConfig {
    KubeletConfig::new(
        "test-node".to_string(),
        "127.0.0.1".parse::<IpAddr>().expect("ip"),
        dir,
    )
}

/// Create an object from JSON.
pub async fn create<K>(client: &Client, ns: Option<&str>, obj: serde_json::Value) -> K
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    <K as kube::Resource>::DynamicType: Default,
{
    let api: kube::Api<K> = kube::Api::namespaced(client.clone(), ns.unwrap_or("default"));
    let obj: K = serde_json::from_value(obj).expect("object");
    api.create(&Default::default(), &obj).await.expect("create")
}

/// A runtime with nothing in it, for the node's status loop (which does
/// not use it).
pub struct NoRuntime;

#[async_trait::async_trait]
impl rkube_cri::RuntimeService for NoRuntime {
    async fn version(&self) -> Result<String, rkube_cri::CriError> {
        Ok("none://0".into())
    }
    async fn run_pod_sandbox(
        &self,
        _: &rkube_cri::PodSandboxConfig,
    ) -> Result<rkube_cri::SandboxInfo, rkube_cri::CriError> {
        Err(rkube_cri::CriError::Runtime("no runtime".into()))
    }
    async fn stop_pod_sandbox(&self, _: &str) -> Result<(), rkube_cri::CriError> {
        Ok(())
    }
    async fn remove_pod_sandbox(&self, _: &str) -> Result<(), rkube_cri::CriError> {
        Ok(())
    }
    async fn list_pod_sandboxes(&self) -> Result<Vec<rkube_cri::SandboxInfo>, rkube_cri::CriError> {
        Ok(Vec::new())
    }
    async fn create_container(
        &self,
        _: &str,
        _: &rkube_cri::ContainerConfig,
    ) -> Result<String, rkube_cri::CriError> {
        Err(rkube_cri::CriError::Runtime("no runtime".into()))
    }
    async fn start_container(&self, _: &str) -> Result<(), rkube_cri::CriError> {
        Ok(())
    }
    async fn stop_container(
        &self,
        _: &str,
        _: std::time::Duration,
    ) -> Result<(), rkube_cri::CriError> {
        Ok(())
    }
    async fn remove_container(&self, _: &str) -> Result<(), rkube_cri::CriError> {
        Ok(())
    }
    async fn list_containers(
        &self,
    ) -> Result<Vec<rkube_cri::ContainerStatus>, rkube_cri::CriError> {
        Ok(Vec::new())
    }
    async fn container_status(
        &self,
        id: &str,
    ) -> Result<rkube_cri::ContainerStatus, rkube_cri::CriError> {
        Err(rkube_cri::CriError::NotFound(id.to_string()))
    }
    async fn exec_sync(
        &self,
        _: &str,
        _: &[String],
        _: std::time::Duration,
    ) -> Result<rkube_cri::ExecResult, rkube_cri::CriError> {
        Err(rkube_cri::CriError::Runtime("no runtime".into()))
    }
}
