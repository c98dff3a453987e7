//! The pod workers against a real API server (in process, on an in-memory
//! store) and in-memory fakes of the runtime and image services: a pod
//! becomes Running and Ready, a crashing container reaches
//! CrashLoopBackOff with growing restarts, Job-like pods end Succeeded or
//! Failed with their exit codes, a deleted pod is stopped and removed, and
//! after a restart of the kubelet a running container is adopted (no
//! duplicate) while an orphan is removed.
//!
//! Fake containers behave as their image says: `sleep` runs until stopped,
//! `exit-N` exits with code N shortly after it starts.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use std::collections::BTreeMap;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::extract::ConnectInfo;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, DeleteParams, PostParams};
use kube::Client;
use rkube_apimachinery::Registry;
use rkube_apiserver::resources::{self, ApiState};
use rkube_cri::{
    ContainerConfig, ContainerState, ContainerStatus, CriError, ExecResult, ImageInfo,
    ImageService, PodSandboxConfig, RegistryAuth, RuntimeService, SandboxInfo, SandboxState,
};
use rkube_node::kubelet::container::{ConfigError, ContainerInputs, EnvSources};
use rkube_node::kubelet::pods::setup::PodSetup;
use rkube_node::kubelet::volumes::{PodVolumes, VolumeError};
use rkube_node::kubelet::KubeletConfig;
use rkube_store::backend::MemDir;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use serde_json::json;
use tower::ServiceExt;

const NODE: &str = "node-a";

/// An API client whose transport is the API server's router in memory.
async fn api_server() -> Client {
    let mut opts = EmbeddedOptions::new("unused");
    opts.compaction = CompactionPolicy::Manual;
    let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), opts).unwrap();
    let state = Arc::new(ApiState::new(
        Arc::new(store),
        Arc::new(Registry::builtin()),
    ));
    resources::ensure_namespaces(state.store.as_ref(), &state.registry())
        .await
        .unwrap();
    let router = resources::router(state);
    let from = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(ConnectInfo(from));
        let request = http::Request::from_parts(parts, axum::body::Body::new(body));
        router.clone().oneshot(request)
    });
    Client::new(service, "default")
}

struct FakeContainer {
    status: ContainerStatus,
    /// When it exits by itself, and with which code.
    exits: Option<(SystemTime, i32)>,
}

#[derive(Default)]
struct State {
    next: u64,
    sandboxes: BTreeMap<String, SandboxInfo>,
    containers: BTreeMap<String, FakeContainer>,
    /// `stop_container` calls: (name, timeout).
    stops: Vec<(String, Duration)>,
    created: usize,
    /// The names of the containers started, in order.
    started: Vec<String>,
}

/// The runtime, in memory.
#[derive(Default, Clone)]
struct FakeRuntime {
    state: Arc<Mutex<State>>,
}

impl FakeRuntime {
    fn settle(state: &mut State) {
        let now = SystemTime::now();
        for c in state.containers.values_mut() {
            if c.status.state == ContainerState::Running {
                if let Some((at, code)) = c.exits {
                    if at <= now {
                        c.status.state = ContainerState::Exited;
                        c.status.exit_code = code;
                        c.status.finished_at = Some(at);
                        c.status.reason = if code == 0 { "Completed" } else { "Error" }.into();
                    }
                }
            }
        }
    }

    fn sandbox_count(&self) -> usize {
        self.state.lock().unwrap().sandboxes.len()
    }

    fn add_sandbox(&self, uid: &str, name: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = format!("sb{}", s.next);
        s.sandboxes.insert(
            id.clone(),
            SandboxInfo {
                id: id.clone(),
                pod_uid: uid.into(),
                pod_name: name.into(),
                pod_namespace: "default".into(),
                attempt: 0,
                state: SandboxState::Ready,
                ip: Some("10.244.0.9".parse().unwrap()),
                created_at: SystemTime::now(),
            },
        );
        id
    }

    fn add_running(&self, sandbox: &str, name: &str) -> String {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let id = format!("c{}", s.next);
        let now = SystemTime::now();
        s.containers.insert(
            id.clone(),
            FakeContainer {
                status: ContainerStatus {
                    id: id.clone(),
                    sandbox_id: sandbox.into(),
                    name: name.into(),
                    attempt: 0,
                    state: ContainerState::Running,
                    created_at: now,
                    started_at: Some(now),
                    finished_at: None,
                    exit_code: 0,
                    reason: String::new(),
                    message: String::new(),
                    image: "sleep".into(),
                    image_id: "sha256:sleep".into(),
                    log_path: PathBuf::new(),
                    labels: BTreeMap::new(),
                },
                exits: None,
            },
        );
        id
    }
}

#[async_trait]
impl RuntimeService for FakeRuntime {
    async fn version(&self) -> Result<String, CriError> {
        Ok("fake://1".into())
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<SandboxInfo, CriError> {
        let mut s = self.state.lock().unwrap();
        s.next += 1;
        let info = SandboxInfo {
            id: format!("sb{}", s.next),
            pod_uid: config.pod_uid.clone(),
            pod_name: config.pod_name.clone(),
            pod_namespace: config.pod_namespace.clone(),
            attempt: config.attempt,
            state: SandboxState::Ready,
            ip: Some(format!("10.244.0.{}", s.next % 250 + 2).parse().unwrap()),
            created_at: SystemTime::now(),
        };
        s.sandboxes.insert(info.id.clone(), info.clone());
        Ok(info)
    }

    async fn stop_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        let mut s = self.state.lock().unwrap();
        for c in s.containers.values_mut() {
            if c.status.sandbox_id == id && c.status.state == ContainerState::Running {
                c.status.state = ContainerState::Exited;
                c.status.exit_code = 137;
                c.status.finished_at = Some(SystemTime::now());
            }
        }
        if let Some(sb) = s.sandboxes.get_mut(id) {
            sb.state = SandboxState::NotReady;
        }
        Ok(())
    }

    async fn remove_pod_sandbox(&self, id: &str) -> Result<(), CriError> {
        let mut s = self.state.lock().unwrap();
        s.sandboxes.remove(id);
        s.containers.retain(|_, c| c.status.sandbox_id != id);
        Ok(())
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<SandboxInfo>, CriError> {
        Ok(self
            .state
            .lock()
            .unwrap()
            .sandboxes
            .values()
            .cloned()
            .collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, CriError> {
        let mut s = self.state.lock().unwrap();
        if !s.sandboxes.contains_key(sandbox_id) {
            return Err(CriError::NotFound(sandbox_id.into()));
        }
        s.next += 1;
        s.created += 1;
        let id = format!("c{}", s.next);
        let status = ContainerStatus {
            id: id.clone(),
            sandbox_id: sandbox_id.into(),
            name: config.name.clone(),
            attempt: config.attempt,
            state: ContainerState::Created,
            created_at: SystemTime::now(),
            started_at: None,
            finished_at: None,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            image: config.image.clone(),
            image_id: config.image_id.clone(),
            log_path: config.log_path.clone(),
            labels: config.labels.clone(),
        };
        s.containers.insert(
            id.clone(),
            FakeContainer {
                status,
                exits: None,
            },
        );
        Ok(id)
    }

    async fn start_container(&self, id: &str) -> Result<(), CriError> {
        let mut s = self.state.lock().unwrap();
        let c = s
            .containers
            .get_mut(id)
            .ok_or_else(|| CriError::NotFound(id.into()))?;
        let now = SystemTime::now();
        c.status.state = ContainerState::Running;
        c.status.started_at = Some(now);
        let name = c.status.name.clone();
        if let Some(code) = c.status.image.strip_prefix("exit-") {
            c.exits = Some((now + Duration::from_millis(300), code.parse().unwrap()));
        }
        s.started.push(name);
        Ok(())
    }

    async fn stop_container(&self, id: &str, timeout: Duration) -> Result<(), CriError> {
        let mut s = self.state.lock().unwrap();
        let Some(c) = s.containers.get_mut(id) else {
            return Ok(());
        };
        let name = c.status.name.clone();
        if matches!(
            c.status.state,
            ContainerState::Running | ContainerState::Created
        ) {
            c.status.state = ContainerState::Exited;
            c.status.exit_code = 143;
            c.status.reason = "Error".into();
            c.status.finished_at = Some(SystemTime::now());
        }
        s.stops.push((name, timeout));
        Ok(())
    }

    async fn remove_container(&self, id: &str) -> Result<(), CriError> {
        self.state.lock().unwrap().containers.remove(id);
        Ok(())
    }

    async fn list_containers(&self) -> Result<Vec<ContainerStatus>, CriError> {
        let mut s = self.state.lock().unwrap();
        Self::settle(&mut s);
        Ok(s.containers.values().map(|c| c.status.clone()).collect())
    }

    async fn container_status(&self, id: &str) -> Result<ContainerStatus, CriError> {
        let mut s = self.state.lock().unwrap();
        Self::settle(&mut s);
        s.containers
            .get(id)
            .map(|c| c.status.clone())
            .ok_or_else(|| CriError::NotFound(id.into()))
    }

    async fn exec_sync(
        &self,
        _id: &str,
        cmd: &[String],
        _timeout: Duration,
    ) -> Result<ExecResult, CriError> {
        // `false` fails, anything else succeeds.
        let fails = cmd.first().map(String::as_str) == Some("false");
        Ok(ExecResult {
            exit_code: i32::from(fails),
            stdout: if fails {
                b"not ok".to_vec()
            } else {
                Vec::new()
            },
            stderr: Vec::new(),
        })
    }
}

/// Images as their names say: `missing…` is neither on the node nor
/// pullable; `offline…` is loaded on the node but its registry is
/// unreachable; every other is on the node and pullable.
struct FakeImages;

fn image(name: &str) -> ImageInfo {
    ImageInfo {
        id: format!("sha256:{name}"),
        repo_tags: vec![name.to_string()],
        ..ImageInfo::default()
    }
}

#[async_trait]
impl ImageService for FakeImages {
    async fn image_status(&self, name: &str) -> Result<Option<ImageInfo>, CriError> {
        if name.starts_with("missing") {
            return Ok(None);
        }
        let mut info = image(name);
        info.loaded = name.starts_with("offline");
        Ok(Some(info))
    }
    async fn pull_image(&self, name: &str, _auth: &[RegistryAuth]) -> Result<ImageInfo, CriError> {
        if name.starts_with("missing") || name.starts_with("offline") {
            return Err(CriError::ImagePull(format!(
                "cannot reach the registry of {name}"
            )));
        }
        Ok(image(name))
    }
    async fn list_images(&self) -> Result<Vec<ImageInfo>, CriError> {
        Ok(Vec::new())
    }
    async fn remove_image(&self, _name: &str) -> Result<(), CriError> {
        Ok(())
    }
}

/// Configurations straight from the spec; no volumes.
struct FakeSetup {
    torn_down: Mutex<Vec<String>>,
}

#[async_trait]
impl PodSetup for FakeSetup {
    fn sandbox_config(&self, pod: &Pod, attempt: u32) -> PodSandboxConfig {
        PodSandboxConfig {
            pod_uid: pod.metadata.uid.clone().unwrap_or_default(),
            pod_name: pod.metadata.name.clone().unwrap_or_default(),
            pod_namespace: pod.metadata.namespace.clone().unwrap_or_default(),
            attempt,
            ..PodSandboxConfig::default()
        }
    }
    async fn env_sources(&self, _pod: &Pod) -> Result<EnvSources, ConfigError> {
        Ok(EnvSources::default())
    }
    fn container_config(
        &self,
        inputs: &ContainerInputs<'_>,
    ) -> Result<ContainerConfig, ConfigError> {
        Ok(ContainerConfig {
            name: inputs.container.name.clone(),
            attempt: inputs.attempt,
            image: inputs.container.image.clone().unwrap_or_default(),
            image_id: inputs.image.id.clone(),
            ..ContainerConfig::default()
        })
    }
    fn prepare_container_files(&self, _inputs: &ContainerInputs<'_>) -> Result<(), ConfigError> {
        Ok(())
    }
    async fn setup_volumes(&self, _pod: &Pod) -> Result<PodVolumes, VolumeError> {
        Ok(PodVolumes::default())
    }
    async fn refresh_volumes(&self, _pod: &Pod) -> Result<(), VolumeError> {
        Ok(())
    }
    async fn teardown_volumes(&self, uid: &str) -> Result<(), VolumeError> {
        self.torn_down.lock().unwrap().push(uid.to_string());
        Ok(())
    }
}

struct Node {
    client: Client,
    runtime: FakeRuntime,
    setup: Arc<FakeSetup>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Node {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn start_kubelet(
    client: &Client,
    runtime: &FakeRuntime,
    setup: &Arc<FakeSetup>,
) -> tokio::task::JoinHandle<()> {
    let mut config = KubeletConfig::new(
        NODE.into(),
        "192.168.50.2".parse().unwrap(),
        std::path::Path::new("/nonexistent-rkube-test"),
    );
    config.relist_period = Duration::from_millis(100);
    let client = client.clone();
    let runtime: Arc<dyn RuntimeService> = Arc::new(runtime.clone());
    let setup: Arc<dyn PodSetup> = setup.clone();
    tokio::spawn(async move {
        let r = rkube_node::kubelet::pods::run_with(
            client,
            Arc::new(config),
            runtime,
            Arc::new(FakeImages),
            setup,
        )
        .await;
        if let Err(e) = r {
            panic!("the pod workers stopped: {e}");
        }
    })
}

async fn node() -> Node {
    let client = api_server().await;
    let runtime = FakeRuntime::default();
    let setup = Arc::new(FakeSetup {
        torn_down: Mutex::new(Vec::new()),
    });
    let task = start_kubelet(&client, &runtime, &setup);
    Node {
        client,
        runtime,
        setup,
        task,
    }
}

async fn create(client: &Client, name: &str, spec: serde_json::Value) -> Pod {
    let mut spec = spec;
    spec["nodeName"] = json!(NODE);
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default"},
        "spec": spec,
    }))
    .unwrap();
    Api::<Pod>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &pod)
        .await
        .unwrap()
}

/// Wait until `check` holds for the pod (at most `secs`), returning it.
async fn wait_for<F>(client: &Client, name: &str, secs: u64, what: &str, check: F) -> Pod
where
    F: Fn(&Pod) -> bool,
{
    let api = Api::<Pod>::namespaced(client.clone(), "default");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let pod = api.get(name).await.unwrap();
        if check(&pod) {
            return pod;
        }
        if tokio::time::Instant::now() > deadline {
            panic!(
                "{name}: not {what} after {secs}s; status: {}",
                serde_json::to_string_pretty(&pod.status).unwrap()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn eventually<F, Fut>(secs: u64, what: &str, check: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        if tokio::time::Instant::now() > deadline {
            panic!("not {what} after {secs}s");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn phase(p: &Pod) -> &str {
    p.status
        .as_ref()
        .and_then(|s| s.phase.as_deref())
        .unwrap_or("")
}

fn condition(p: &Pod, t: &str) -> String {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == t))
        .map(|c| c.status.clone())
        .unwrap_or_default()
}

fn main_status(p: &Pod) -> Option<&k8s_openapi::api::core::v1::ContainerStatus> {
    p.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
}

async fn event_reasons(client: &Client, pod: &str) -> Vec<String> {
    let events = Api::<Event>::namespaced(client.clone(), "default")
        .list(&Default::default())
        .await
        .unwrap();
    events
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(pod))
        .filter_map(|e| e.reason)
        .collect()
}

#[tokio::test]
async fn a_pod_becomes_running_and_ready_once_its_readiness_probe_passes() {
    let n = node().await;
    create(
        &n.client,
        "web",
        json!({"containers": [{"name": "app", "image": "sleep",
            "readinessProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}}]}),
    )
    .await;
    let pod = wait_for(&n.client, "web", 10, "Running and Ready", |p| {
        phase(p) == "Running" && condition(p, "Ready") == "True"
    })
    .await;
    let st = main_status(&pod).unwrap();
    assert!(st.ready);
    assert_eq!(st.started, Some(true));
    assert!(st.container_id.as_deref().unwrap().starts_with("runc://c"));
    assert_eq!(st.image_id, "sha256:sleep");
    assert_eq!(st.restart_count, 0);
    let status = pod.status.as_ref().unwrap();
    assert_eq!(status.host_ip.as_deref(), Some("192.168.50.2"));
    assert!(status.pod_ip.as_deref().unwrap().starts_with("10.244.0."));
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
    for t in [
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
    ] {
        assert_eq!(condition(&pod, t), "True", "{t}");
    }
    eventually(
        5,
        "Created, Started and MissingClusterDNS events",
        || async {
            let reasons = event_reasons(&n.client, "web").await;
            ["Created", "Started", "Pulled", "MissingClusterDNS"]
                .iter()
                .all(|r| reasons.iter().any(|x| x == r))
        },
    )
    .await;
    // Exactly one container was made.
    assert_eq!(n.runtime.state.lock().unwrap().created, 1);
}

#[tokio::test]
async fn a_failing_readiness_probe_keeps_the_pod_unready() {
    let n = node().await;
    create(
        &n.client,
        "unready",
        json!({"containers": [{"name": "app", "image": "sleep",
            "readinessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                "failureThreshold": 1}}]}),
    )
    .await;
    wait_for(&n.client, "unready", 10, "Running", |p| {
        phase(p) == "Running"
    })
    .await;
    eventually(10, "an Unhealthy event", || async {
        event_reasons(&n.client, "unready")
            .await
            .iter()
            .any(|r| r == "Unhealthy")
    })
    .await;
    let pod = Api::<Pod>::namespaced(n.client.clone(), "default")
        .get("unready")
        .await
        .unwrap();
    assert_eq!(condition(&pod, "Ready"), "False");
    assert!(!main_status(&pod).unwrap().ready);
}

#[tokio::test]
async fn a_crashing_container_reaches_crash_loop_back_off_with_growing_restarts() {
    let n = node().await;
    create(
        &n.client,
        "crash",
        json!({"containers": [{"name": "app", "image": "exit-1"}]}),
    )
    .await;
    let pod = wait_for(&n.client, "crash", 15, "in CrashLoopBackOff", |p| {
        main_status(p)
            .and_then(|s| s.state.as_ref())
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            == Some("CrashLoopBackOff")
    })
    .await;
    let st = main_status(&pod).unwrap();
    assert!(st.restart_count >= 1, "{st:?}");
    let message = st
        .state
        .as_ref()
        .unwrap()
        .waiting
        .as_ref()
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(
        message.starts_with("back-off 10s restarting failed container=app pod=crash_default("),
        "{message}"
    );
    let last = st.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!(last.exit_code, 1);
    assert_eq!(last.reason.as_deref(), Some("Error"));
    assert_eq!(phase(&pod), "Running");
    let first = st.restart_count;
    // After the 10 s back-off it is started again.
    wait_for(&n.client, "crash", 20, "restarted again", |p| {
        main_status(p).is_some_and(|s| s.restart_count > first)
    })
    .await;
    eventually(5, "a BackOff event", || async {
        event_reasons(&n.client, "crash")
            .await
            .iter()
            .any(|r| r == "BackOff")
    })
    .await;
}

#[tokio::test]
async fn job_pods_succeed_or_fail_with_their_exit_codes() {
    let n = node().await;
    create(
        &n.client,
        "ok",
        json!({"restartPolicy": "Never", "containers": [{"name": "job", "image": "exit-0"}]}),
    )
    .await;
    create(
        &n.client,
        "fails",
        json!({"restartPolicy": "Never",
            "initContainers": [{"name": "init", "image": "exit-0"}],
            "containers": [{"name": "job", "image": "exit-3"}]}),
    )
    .await;
    let ok = wait_for(&n.client, "ok", 10, "Succeeded", |p| {
        phase(p) == "Succeeded"
    })
    .await;
    let term = main_status(&ok)
        .unwrap()
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(term.exit_code, 0);
    assert_eq!(term.reason.as_deref(), Some("Completed"));
    let failed = wait_for(&n.client, "fails", 10, "Failed", |p| phase(p) == "Failed").await;
    let term = main_status(&failed)
        .unwrap()
        .state
        .as_ref()
        .unwrap()
        .terminated
        .clone()
        .unwrap();
    assert_eq!(term.exit_code, 3);
    assert_eq!(term.reason.as_deref(), Some("Error"));
    let init = &failed
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .as_ref()
        .unwrap()[0];
    assert_eq!(
        init.state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .unwrap()
            .reason
            .as_deref(),
        Some("Completed")
    );
    // Neither is restarted, and their sandboxes are stopped.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let s = n.runtime.state.lock().unwrap();
    assert_eq!(s.created, 3);
    assert!(s
        .sandboxes
        .values()
        .all(|sb| sb.state == SandboxState::NotReady));
}

#[tokio::test]
async fn a_deleted_pod_is_stopped_with_its_grace_period_and_removed() {
    let n = node().await;
    let pod = create(
        &n.client,
        "gone",
        json!({"terminationGracePeriodSeconds": 7,
            "containers": [{"name": "app", "image": "sleep"}]}),
    )
    .await;
    wait_for(&n.client, "gone", 10, "Running", |p| phase(p) == "Running").await;
    Api::<Pod>::namespaced(n.client.clone(), "default")
        .delete("gone", &DeleteParams::default())
        .await
        .unwrap();
    eventually(10, "removed from the API", || async {
        Api::<Pod>::namespaced(n.client.clone(), "default")
            .get_opt("gone")
            .await
            .unwrap()
            .is_none()
    })
    .await;
    assert_eq!(n.runtime.sandbox_count(), 0);
    let stops = n.runtime.state.lock().unwrap().stops.clone();
    assert!(
        stops.iter().any(|(name, t)| name == "app"
            && *t > Duration::from_secs(6)
            && *t <= Duration::from_secs(7)),
        "{stops:?}"
    );
    let uid = pod.metadata.uid.unwrap();
    assert!(n.setup.torn_down.lock().unwrap().contains(&uid));
    eventually(5, "a Killing event", || async {
        event_reasons(&n.client, "gone")
            .await
            .iter()
            .any(|r| r == "Killing")
    })
    .await;
}

#[tokio::test]
async fn after_a_restart_running_containers_are_adopted_and_orphans_removed() {
    let client = api_server().await;
    let runtime = FakeRuntime::default();
    let setup = Arc::new(FakeSetup {
        torn_down: Mutex::new(Vec::new()),
    });
    let pod = create(
        &client,
        "kept",
        json!({"containers": [{"name": "app", "image": "sleep"}]}),
    )
    .await;
    // What an earlier run of the kubelet left: the pod's sandbox and
    // container, and those of a pod that is no longer bound here.
    let uid = pod.metadata.uid.clone().unwrap();
    let sb = runtime.add_sandbox(&uid, "kept");
    let id = runtime.add_running(&sb, "app");
    let orphan_sb = runtime.add_sandbox("not-here", "old");
    runtime.add_running(&orphan_sb, "app");

    let task = start_kubelet(&client, &runtime, &setup);
    let _node = Node {
        client: client.clone(),
        runtime: runtime.clone(),
        setup: setup.clone(),
        task,
    };
    let pod = wait_for(&client, "kept", 10, "Running", |p| phase(p) == "Running").await;
    assert_eq!(
        main_status(&pod).unwrap().container_id.as_deref(),
        Some(format!("runc://{id}").as_str())
    );
    eventually(5, "the orphan removed", || async {
        !runtime
            .state
            .lock()
            .unwrap()
            .sandboxes
            .contains_key(&orphan_sb)
    })
    .await;
    let s = runtime.state.lock().unwrap();
    assert_eq!(s.created, 0, "no container was made again");
    assert_eq!(
        s.containers
            .values()
            .filter(|c| c.status.state == ContainerState::Running)
            .count(),
        1
    );
    assert!(setup
        .torn_down
        .lock()
        .unwrap()
        .contains(&"not-here".to_string()));
}

fn waiting_reason(p: &Pod) -> Option<String> {
    main_status(p)
        .and_then(|s| s.state.as_ref())
        .and_then(|s| s.waiting.as_ref())
        .and_then(|w| w.reason.clone())
}

#[tokio::test]
async fn a_liveness_failure_restarts_the_container() {
    let n = node().await;
    create(
        &n.client,
        "sick",
        json!({"containers": [{"name": "app", "image": "sleep",
            "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                "failureThreshold": 2}}]}),
    )
    .await;
    let pod = wait_for(&n.client, "sick", 15, "restarted", |p| {
        main_status(p).is_some_and(|s| s.restart_count >= 1)
    })
    .await;
    let last = main_status(&pod)
        .unwrap()
        .last_state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(last.exit_code, 143);
    eventually(5, "Unhealthy and Killing events", || async {
        let reasons = event_reasons(&n.client, "sick").await;
        reasons.iter().any(|r| r == "Unhealthy") && reasons.iter().any(|r| r == "Killing")
    })
    .await;
}

#[tokio::test]
async fn image_pull_failures_show_err_image_pull_then_image_pull_back_off() {
    let n = node().await;
    create(
        &n.client,
        "nopull",
        json!({"containers": [{"name": "app", "image": "missing:v1"}]}),
    )
    .await;
    create(
        &n.client,
        "never",
        json!({"containers": [{"name": "app", "image": "missing:v2",
            "imagePullPolicy": "Never"}]}),
    )
    .await;
    let pod = wait_for(&n.client, "nopull", 10, "ImagePullBackOff", |p| {
        waiting_reason(p).as_deref() == Some("ImagePullBackOff")
    })
    .await;
    assert_eq!(phase(&pod), "Pending");
    let never = wait_for(&n.client, "never", 10, "ErrImageNeverPull", |p| {
        waiting_reason(p).as_deref() == Some("ErrImageNeverPull")
    })
    .await;
    let message = main_status(&never)
        .unwrap()
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap()
        .message
        .unwrap();
    assert_eq!(
        message,
        "Container image \"missing:v2\" is not present with pull policy of Never"
    );
    // The failed pull itself: ErrImagePull, in the kubelet's events.
    eventually(5, "ErrImagePull events", || async {
        let events = Api::<Event>::namespaced(n.client.clone(), "default")
            .list(&Default::default())
            .await
            .unwrap();
        let messages: Vec<String> = events
            .items
            .iter()
            .filter(|e| e.involved_object.name.as_deref() == Some("nopull"))
            .filter_map(|e| e.message.clone())
            .collect();
        messages.iter().any(|m| m == "Error: ErrImagePull")
            && messages
                .iter()
                .any(|m| m.starts_with("Failed to pull image \"missing:v1\""))
            && messages
                .iter()
                .any(|m| m == "Back-off pulling image \"missing:v1\"")
    })
    .await;
    assert_eq!(n.runtime.state.lock().unwrap().created, 0);
}

#[tokio::test]
async fn a_loaded_image_whose_pull_fails_is_used_with_a_warning() {
    let n = node().await;
    // `:latest` means imagePullPolicy Always.
    create(
        &n.client,
        "local",
        json!({"containers": [{"name": "app", "image": "offline-app:latest"}]}),
    )
    .await;
    wait_for(&n.client, "local", 10, "Running", |p| phase(p) == "Running").await;
    eventually(5, "a Warning naming the loaded image", || async {
        let events = Api::<Event>::namespaced(n.client.clone(), "default")
            .list(&Default::default())
            .await
            .unwrap();
        events.items.iter().any(|e| {
            e.involved_object.name.as_deref() == Some("local")
                && e.type_.as_deref() == Some("Warning")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.contains("using the image loaded on the node"))
        })
    })
    .await;
}

#[tokio::test]
async fn the_active_deadline_fails_the_pod() {
    let n = node().await;
    create(
        &n.client,
        "late",
        json!({"activeDeadlineSeconds": 1,
            "containers": [{"name": "app", "image": "sleep"}]}),
    )
    .await;
    let pod = wait_for(&n.client, "late", 10, "Failed", |p| phase(p) == "Failed").await;
    assert_eq!(
        pod.status.as_ref().unwrap().reason.as_deref(),
        Some("DeadlineExceeded")
    );
    let s = n.runtime.state.lock().unwrap();
    assert!(s
        .containers
        .values()
        .all(|c| c.status.state == ContainerState::Exited));
}

#[tokio::test]
async fn a_force_deleted_pod_is_killed_at_once_and_cleaned_up() {
    let n = node().await;
    let pod = create(
        &n.client,
        "forced",
        json!({"containers": [{"name": "app", "image": "sleep"}]}),
    )
    .await;
    wait_for(&n.client, "forced", 10, "Running", |p| {
        phase(p) == "Running"
    })
    .await;
    Api::<Pod>::namespaced(n.client.clone(), "default")
        .delete(
            "forced",
            &DeleteParams {
                grace_period_seconds: Some(0),
                ..DeleteParams::default()
            },
        )
        .await
        .unwrap();
    eventually(5, "the sandbox removed", || async {
        n.runtime.sandbox_count() == 0
    })
    .await;
    let stops = n.runtime.state.lock().unwrap().stops.clone();
    assert!(stops.iter().all(|(_, t)| t.is_zero()), "{stops:?}");
    let uid = pod.metadata.uid.unwrap();
    assert!(n.setup.torn_down.lock().unwrap().contains(&uid));
}

#[tokio::test]
async fn a_failed_post_start_hook_kills_the_container() {
    let n = node().await;
    create(
        &n.client,
        "hooked",
        json!({"restartPolicy": "Never", "containers": [{"name": "app", "image": "sleep",
            "lifecycle": {"postStart": {"exec": {"command": ["false"]}}}}]}),
    )
    .await;
    let pod = wait_for(&n.client, "hooked", 10, "Failed", |p| phase(p) == "Failed").await;
    let term = main_status(&pod)
        .unwrap()
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_ne!(term.exit_code, 0);
    eventually(5, "a FailedPostStartHook event", || async {
        event_reasons(&n.client, "hooked")
            .await
            .iter()
            .any(|r| r == "FailedPostStartHook")
    })
    .await;
}

#[tokio::test]
async fn init_containers_and_sidecars_run_in_order() {
    let n = node().await;
    create(
        &n.client,
        "ordered",
        json!({
            "initContainers": [
                {"name": "setup", "image": "exit-0"},
                {"name": "proxy", "image": "sleep", "restartPolicy": "Always",
                 "startupProbe": {"exec": {"command": ["true"]}, "periodSeconds": 1}},
                {"name": "migrate", "image": "exit-0"}],
            "containers": [{"name": "app", "image": "sleep"}]}),
    )
    .await;
    let pod = wait_for(&n.client, "ordered", 15, "Running and Ready", |p| {
        phase(p) == "Running" && condition(p, "Ready") == "True"
    })
    .await;
    assert_eq!(
        n.runtime.state.lock().unwrap().started,
        vec!["setup", "proxy", "migrate", "app"]
    );
    let init = pod
        .status
        .as_ref()
        .unwrap()
        .init_container_statuses
        .clone()
        .unwrap();
    let reason = |i: usize| {
        init[i]
            .state
            .as_ref()
            .unwrap()
            .terminated
            .as_ref()
            .and_then(|t| t.reason.clone())
    };
    assert_eq!(reason(0).as_deref(), Some("Completed"));
    assert_eq!(reason(2).as_deref(), Some("Completed"));
    // The sidecar keeps running, started and ready.
    assert!(init[1].state.as_ref().unwrap().running.is_some());
    assert_eq!(init[1].started, Some(true));
    assert!(init[1].ready);
    assert_eq!(condition(&pod, "Initialized"), "True");
}

#[tokio::test]
async fn a_container_created_but_not_started_before_a_restart_is_started_not_duplicated() {
    let client = api_server().await;
    let runtime = FakeRuntime::default();
    let setup = Arc::new(FakeSetup {
        torn_down: Mutex::new(Vec::new()),
    });
    let pod = create(
        &client,
        "half",
        json!({"containers": [{"name": "app", "image": "sleep"}]}),
    )
    .await;
    let uid = pod.metadata.uid.clone().unwrap();
    let sb = runtime.add_sandbox(&uid, "half");
    let id = runtime
        .create_container(
            &sb,
            &ContainerConfig {
                name: "app".into(),
                image: "sleep".into(),
                ..ContainerConfig::default()
            },
        )
        .await
        .unwrap();
    let task = start_kubelet(&client, &runtime, &setup);
    let _node = Node {
        client: client.clone(),
        runtime: runtime.clone(),
        setup: setup.clone(),
        task,
    };
    let pod = wait_for(&client, "half", 10, "Running", |p| phase(p) == "Running").await;
    assert_eq!(
        main_status(&pod).unwrap().container_id.as_deref(),
        Some(format!("runc://{id}").as_str())
    );
    assert_eq!(runtime.state.lock().unwrap().created, 1);
}

#[tokio::test]
async fn stop_all_stops_every_running_container_with_the_grace_period() {
    let runtime = FakeRuntime::default();
    let sb = runtime.add_sandbox("u", "p");
    runtime.add_running(&sb, "a");
    runtime.add_running(&sb, "b");
    rkube_node::kubelet::pods::stop_all(&runtime, Duration::from_secs(9))
        .await
        .unwrap();
    let s = runtime.state.lock().unwrap();
    assert_eq!(s.stops.len(), 2);
    assert!(s.stops.iter().all(|(_, t)| *t == Duration::from_secs(9)));
    assert!(s
        .containers
        .values()
        .all(|c| c.status.state == ContainerState::Exited));
    assert_eq!(s.sandboxes.len(), 1);
}
