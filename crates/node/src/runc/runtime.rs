//! [`RuncRuntime`]: the service itself — its configuration, its tables of
//! sandboxes and containers (each entry locked on its own, the tables only
//! for lookups, so a hundred containers start side by side), adoption of
//! what a previous agent left on disk, and the [`RuntimeService`]
//! implementation, whose calls are written in `sandbox.rs` and
//! `container.rs`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use rkube_cri::{
    AttachRequest, ContainerConfig, ContainerStats, ContainerStatus, CriError, ExecRequest,
    ExecResult, NetworkPlugin, PodSandboxConfig, PodSandboxStats, RuntimeService, SandboxInfo,
    Snapshotter, StreamIo,
};
use tokio::sync::OnceCell;

use super::config::RuncConfig;
use super::container_entry::ContainerEntry;
use super::fsutil::{boot_id, read_json};
use super::locks::{read, write};
use super::records::{ContainerRecord, SandboxRecord};
use super::runc_cli::Runc;
use super::sandbox_entry::SandboxEntry;

/// Pods on runc (see the module docs).
pub struct RuncRuntime {
    pub(crate) config: RuncConfig,
    pub(crate) runc: Runc,
    pub(crate) snapshotter: Arc<dyn Snapshotter>,
    pub(crate) network: Arc<dyn NetworkPlugin>,
    pub(crate) sandboxes: RwLock<HashMap<String, Arc<SandboxEntry>>>,
    pub(crate) containers: RwLock<HashMap<String, Arc<ContainerEntry>>>,
    pub(crate) boot_id: String,
    version: OnceCell<String>,
}

impl RuncRuntime {
    /// A runtime on `config`'s directories, adopting every sandbox and
    /// container recorded there (running containers stay under their
    /// shims; exits recorded meanwhile are reported).
    pub fn new(
        config: RuncConfig,
        snapshotter: Arc<dyn Snapshotter>,
        network: Arc<dyn NetworkPlugin>,
    ) -> Result<RuncRuntime, CriError> {
        for dir in [
            config.runc_root.clone(),
            config.state_dir.join("sandboxes"),
            config.state_dir.join("containers"),
        ] {
            std::fs::create_dir_all(&dir)
                .map_err(CriError::io(format!("creating {}", dir.display())))?;
        }
        let runtime = RuncRuntime {
            runc: Runc {
                binary: config.runc.clone(),
                root: config.runc_root.clone(),
            },
            snapshotter,
            network,
            sandboxes: RwLock::new(HashMap::new()),
            containers: RwLock::new(HashMap::new()),
            boot_id: boot_id(),
            version: OnceCell::new(),
            config,
        };
        runtime.adopt()?;
        Ok(runtime)
    }

    /// The directory of a sandbox.
    pub(crate) fn sandbox_dir(&self, id: &str) -> PathBuf {
        self.config.state_dir.join("sandboxes").join(id)
    }

    /// The directory of a container.
    pub(crate) fn container_dir(&self, id: &str) -> PathBuf {
        self.config.state_dir.join("containers").join(id)
    }

    /// Load the records a previous agent left.
    fn adopt(&self) -> Result<(), CriError> {
        let mut sandboxes = HashMap::new();
        for (dir, record) in
            load::<SandboxRecord>(&self.config.state_dir.join("sandboxes"), "sandbox.json")?
        {
            let id = record.id.clone();
            let ready = record.ready;
            let entry = SandboxEntry::new(dir, record);
            if ready && !entry.namespaces_present(&self.boot_id) {
                tracing::warn!(sandbox = %id, "sandbox namespaces are gone (host reboot?): NotReady");
                entry.mark_not_ready()?;
            }
            sandboxes.insert(id, Arc::new(entry));
        }
        let mut containers = HashMap::new();
        for (dir, record) in
            load::<ContainerRecord>(&self.config.state_dir.join("containers"), "container.json")?
        {
            let entry = ContainerEntry::adopt(dir, record);
            containers.insert(entry.record.id.clone(), Arc::new(entry));
        }
        tracing::info!(
            sandboxes = sandboxes.len(),
            containers = containers.len(),
            "runc runtime adopted its records"
        );
        *write(&self.sandboxes) = sandboxes;
        *write(&self.containers) = containers;
        Ok(())
    }

    /// Tell the network plugin which sandboxes are still Ready, so it
    /// releases the addresses of the others (call once after [`new`],
    /// before the first sandbox is made).
    ///
    /// [`new`]: RuncRuntime::new
    pub async fn gc_network(&self) -> Result<(), CriError> {
        let live: Vec<String> = read(&self.sandboxes)
            .values()
            .map(|e| e.info())
            .filter(|i| i.state == rkube_cri::SandboxState::Ready)
            .map(|i| i.id)
            .collect();
        self.network.gc(&live).await
    }

    pub(crate) fn sandbox(&self, id: &str) -> Result<Arc<SandboxEntry>, CriError> {
        read(&self.sandboxes)
            .get(id)
            .cloned()
            .ok_or_else(|| CriError::NotFound(format!("sandbox {id}")))
    }

    pub(crate) fn container(&self, id: &str) -> Result<Arc<ContainerEntry>, CriError> {
        read(&self.containers)
            .get(id)
            .cloned()
            .ok_or_else(|| CriError::NotFound(format!("container {id}")))
    }
}

/// Every `<dir>/<id>/<file>` record; unreadable ones are logged and skipped.
fn load<T: serde::de::DeserializeOwned>(
    dir: &std::path::Path,
    file: &str,
) -> Result<Vec<(PathBuf, T)>, CriError> {
    let entries =
        std::fs::read_dir(dir).map_err(CriError::io(format!("reading {}", dir.display())))?;
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path().join(file);
        match read_json::<T>(&path) {
            Ok(Some(record)) => out.push((entry.path(), record)),
            Ok(None) => {
                tracing::warn!(path = %entry.path().display(), "directory without a record, ignored")
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "unreadable record, ignored")
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl RuntimeService for RuncRuntime {
    async fn version(&self) -> Result<String, CriError> {
        let version = self
            .version
            .get_or_try_init(|| async { self.runc.version().await })
            .await?;
        Ok(format!("runc://{version}"))
    }

    async fn run_pod_sandbox(&self, config: &PodSandboxConfig) -> Result<SandboxInfo, CriError> {
        self.run_sandbox(config).await
    }

    async fn stop_pod_sandbox(&self, sandbox_id: &str) -> Result<(), CriError> {
        self.stop_sandbox(sandbox_id).await
    }

    async fn remove_pod_sandbox(&self, sandbox_id: &str) -> Result<(), CriError> {
        self.remove_sandbox(sandbox_id).await
    }

    async fn list_pod_sandboxes(&self) -> Result<Vec<SandboxInfo>, CriError> {
        let entries: Vec<Arc<SandboxEntry>> = read(&self.sandboxes).values().cloned().collect();
        Ok(entries.iter().map(|e| e.info()).collect())
    }

    async fn create_container(
        &self,
        sandbox_id: &str,
        config: &ContainerConfig,
    ) -> Result<String, CriError> {
        self.create(sandbox_id, config).await
    }

    async fn start_container(&self, container_id: &str) -> Result<(), CriError> {
        self.start(container_id).await
    }

    async fn stop_container(&self, container_id: &str, timeout: Duration) -> Result<(), CriError> {
        self.stop(container_id, timeout).await
    }

    async fn remove_container(&self, container_id: &str) -> Result<(), CriError> {
        self.remove(container_id).await
    }

    async fn list_containers(&self) -> Result<Vec<ContainerStatus>, CriError> {
        let entries: Vec<Arc<ContainerEntry>> = read(&self.containers).values().cloned().collect();
        Ok(entries.iter().map(|e| self.observe(e)).collect())
    }

    async fn container_status(&self, container_id: &str) -> Result<ContainerStatus, CriError> {
        let entry = self.container(container_id)?;
        Ok(self.observe(&entry))
    }

    async fn exec_sync(
        &self,
        container_id: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecResult, CriError> {
        self.exec(container_id, cmd, timeout).await
    }

    async fn exec(&self, request: &ExecRequest) -> Result<StreamIo, CriError> {
        self.exec_streaming(request).await
    }

    async fn attach(&self, request: &AttachRequest) -> Result<StreamIo, CriError> {
        self.attach_streams(request).await
    }

    async fn port_forward(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, CriError> {
        self.forward_port(sandbox_id, port).await
    }

    async fn list_container_stats(&self) -> Result<Vec<ContainerStats>, CriError> {
        self.container_stats().await
    }

    async fn list_pod_sandbox_stats(&self) -> Result<Vec<PodSandboxStats>, CriError> {
        self.sandbox_stats().await
    }
}
