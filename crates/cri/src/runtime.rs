//! [`RuntimeService`]: pod sandboxes and their containers (CRI's
//! `RuntimeService`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use crate::error::CriError;
use crate::network::PortMapping;
use crate::streaming::{
    self, AttachRequest, ContainerStats, ExecRequest, PodSandboxStats, StreamIo,
};

/// Name servers, search domains and options for the pod's
/// `/etc/resolv.conf`, worked out by the kubelet from `dnsPolicy` and
/// `dnsConfig`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// What the runtime needs to make a pod's sandbox: its namespaces (one
/// network namespace shared by every container), its network, its
/// hostname and resolv.conf, its cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodSandboxConfig {
    pub pod_uid: String,
    pub pod_name: String,
    pub pod_namespace: String,
    /// How many sandboxes this pod had before (0 for the first).
    pub attempt: u32,
    /// The pod's hostname (`spec.hostname`, or the pod's name).
    pub hostname: String,
    /// `hostNetwork: true`: the host's network namespace, no address.
    pub host_network: bool,
    pub dns: DnsConfig,
    pub port_mappings: Vec<PortMapping>,
    /// The pod-level cgroup, relative to the cgroup root
    /// (`kubepods/burstable/pod<uid>`).
    pub cgroup_parent: String,
    /// Where the containers' log files go
    /// (`…/pods/<namespace>_<name>_<uid>`).
    pub log_directory: PathBuf,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
}

/// Whether a sandbox's namespaces and network are up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SandboxState {
    Ready,
    NotReady,
}

/// A sandbox the runtime has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxInfo {
    pub id: String,
    pub pod_uid: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub attempt: u32,
    pub state: SandboxState,
    /// The pod's address (none with `hostNetwork`).
    pub ip: Option<IpAddr>,
    pub created_at: SystemTime,
}

/// A bind mount into the container (volumes, `/etc/hosts`, the
/// termination-message file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    pub container_path: String,
    pub host_path: PathBuf,
    pub readonly: bool,
}

/// CPU and memory as the kubelet converts requests and limits (CPU shares
/// from the request, CFS quota from the limit, memory limit in bytes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// cgroup `cpu.shares` (v1) or the equivalent weight (v2); 0: default.
    pub cpu_shares: u64,
    /// CFS quota in microseconds per `cpu_period`; 0: no limit.
    pub cpu_quota: i64,
    pub cpu_period: u64,
    /// Bytes; 0: no limit.
    pub memory_limit: i64,
    pub oom_score_adj: i32,
}

/// Linux capabilities to add to and drop from the runtime's default set,
/// as written in the pod spec (`NET_ADMIN`, `ALL`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

/// The seccomp profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Seccomp {
    /// The runtime's default profile.
    RuntimeDefault,
    #[default]
    Unconfined,
}

/// The container's security settings, resolved from the pod's and the
/// container's `securityContext`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SecurityConfig {
    /// None: the image's user (`ContainerConfig::image_user`).
    pub run_as_user: Option<u32>,
    pub run_as_group: Option<u32>,
    /// `runAsNonRoot`: the runtime refuses to start a container whose
    /// resolved user is 0.
    pub run_as_non_root: bool,
    /// `fsGroup` and `supplementalGroups`.
    pub supplemental_groups: Vec<u32>,
    pub readonly_rootfs: bool,
    pub privileged: bool,
    pub capabilities: Capabilities,
    /// `allowPrivilegeEscalation: false` (and the default unless privileged
    /// or CAP_SYS_ADMIN).
    pub no_new_privs: bool,
    pub seccomp: Seccomp,
}

/// What the runtime needs to create one container in a sandbox. The
/// kubelet has already merged the image's config with the pod spec: `argv`
/// and `env` are final.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerConfig {
    pub name: String,
    /// The container's restart count: 0 for the first run.
    pub attempt: u32,
    /// The image as the pod spec names it.
    pub image: String,
    /// `ImageInfo::id` of that image.
    pub image_id: String,
    /// The image's `user`, used when `security.run_as_user` is None.
    pub image_user: String,
    pub argv: Vec<String>,
    /// `(name, value)` in order; later entries win.
    pub env: Vec<(String, String)>,
    /// Empty: `/`.
    pub working_dir: String,
    pub mounts: Vec<Mount>,
    /// The container's log file (CRI format, one per attempt).
    pub log_path: PathBuf,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    pub resources: Resources,
    pub security: SecurityConfig,
    /// The container path of the termination-message file
    /// (`/dev/termination-log`); empty for none.
    pub termination_message_path: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// An ephemeral container with `targetContainerName`: join the process
    /// namespace of this running container (its id); `None`: the pod's
    /// own (each container's, unless `shareProcessNamespace`).
    pub target_container_id: Option<String>,
}

/// Where a container is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Created,
    Running,
    Exited,
    Unknown,
}

/// A container the runtime has, as the kubelet reads it on each relist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub state: ContainerState,
    pub created_at: SystemTime,
    pub started_at: Option<SystemTime>,
    pub finished_at: Option<SystemTime>,
    pub exit_code: i32,
    /// `OOMKilled`, `Completed` or `Error` once exited; empty otherwise.
    pub reason: String,
    /// The termination message (at most 4096 bytes).
    pub message: String,
    pub image: String,
    pub image_id: String,
    pub log_path: PathBuf,
    pub labels: BTreeMap<String, String>,
}

/// The outcome of a command run to its end in a container (exec probes,
/// exec hooks).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecResult {
    pub exit_code: i32,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Sandboxes and containers (CRI `RuntimeService`). Every call may be
/// repeated after a crash of the kubelet: ids are stable, and the runtime
/// keeps what it made across restarts of the node agent.
#[async_trait]
pub trait RuntimeService: Send + Sync {
    /// `containerRuntimeVersion` for the Node (`runc://1.1.5`).
    async fn version(&self) -> Result<String, CriError>;

    /// Make the pod's namespaces and attach its network.
    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<SandboxInfo, CriError>;
    /// Stop every container of the sandbox (killing them) and detach its
    /// network; the sandbox stays listed as NotReady.
    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), CriError>;
    /// Remove a stopped sandbox and its containers; nothing if absent.
    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), CriError>;
    async fn list_pod_sandboxes(&self) -> Result<Vec<SandboxInfo>, CriError>;

    /// Create (not start) a container in the sandbox; returns its id.
    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, CriError>;
    async fn start_container(&self, container_id: &str) -> Result<(), CriError>;
    /// SIGTERM, then SIGKILL after `timeout`; returns once it has exited.
    async fn stop_container(&self, container_id: &str, timeout: Duration) -> Result<(), CriError>;
    /// Remove an exited container (its log file stays); nothing if absent.
    async fn remove_container(&self, container_id: &str) -> Result<(), CriError>;
    async fn list_containers(&self) -> Result<Vec<ContainerStatus>, CriError>;
    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, CriError>;

    /// Run `cmd` in the running container and wait for it, at most
    /// `timeout`.
    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, CriError>;

    /// Run a command in the running container with its streams connected
    /// (`kubectl exec`). Fails with `NotFound` for an unknown container and
    /// `Runtime` for one that is not running.
    async fn exec(&self, request: &ExecRequest) -> Result<StreamIo, CriError> {
        let _ = request;
        streaming::unsupported("exec")
    }

    /// Connect to the running container's main process (`kubectl attach`):
    /// its output from now on, and its stdin if the container has one
    /// open (`stdin: true`).
    async fn attach(&self, request: &AttachRequest) -> Result<StreamIo, CriError> {
        let _ = request;
        streaming::unsupported("attach")
    }

    /// A TCP connection to `port` on the loopback address inside the
    /// sandbox's network namespace (`kubectl port-forward`); fails with
    /// `Runtime` naming the port when nothing listens there.
    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, CriError> {
        let _ = (sandbox_id, port);
        streaming::unsupported("port-forward")
    }

    /// Usage of every container the runtime runs (CRI's
    /// `ListContainerStats`); containers that are not running are left out.
    async fn list_container_stats(&self) -> Result<Vec<ContainerStats>, CriError> {
        streaming::unsupported("container stats")
    }

    /// Usage of every ready sandbox (CRI's `ListPodSandboxStats`).
    async fn list_pod_sandbox_stats(&self) -> Result<Vec<PodSandboxStats>, CriError> {
        streaming::unsupported("sandbox stats")
    }
}
