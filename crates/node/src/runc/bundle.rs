//! [`BundleJob`]: everything written before a container's shim starts —
//! its directory, the termination-message file, the OCI bundle
//! (`bundle/config.json`) and the container's record. Synchronous file
//! work, run on the blocking pool.

use std::path::PathBuf;
use std::time::SystemTime;

use rkube_cri::{ContainerConfig, CriError};

use super::cgroups;
use super::fsutil::{to_nanos, write_atomic, write_json};
use super::records::{ContainerRecord, IoRecord, SandboxRecord};
use super::spec::{self, SpecInputs};
use super::user;

/// The inputs of one container's bundle.
pub(crate) struct BundleJob {
    pub id: String,
    /// The container's state directory.
    pub dir: PathBuf,
    pub sandbox: SandboxRecord,
    pub sandbox_dir: PathBuf,
    pub config: ContainerConfig,
    /// The root filesystem the snapshotter prepared.
    pub rootfs: PathBuf,
    pub cgroup_root: String,
    /// The pid namespace to join (ephemeral containers with a target).
    pub pid_ns: Option<PathBuf>,
}

impl BundleJob {
    /// Resolve the user, write the files; the record written.
    pub fn write(self) -> Result<ContainerRecord, CriError> {
        let config = &self.config;
        let bundle = self.dir.join("bundle");
        std::fs::create_dir_all(&bundle)
            .map_err(CriError::io(format!("creating {}", bundle.display())))?;
        let user = user::resolve(&self.rootfs, &config.image_user, &config.security)?;
        // The kubelet may bring the file itself, as a mount at the path (as
        // the real kubelet does): then the message is read from there.
        let given = config
            .mounts
            .iter()
            .find(|m| {
                !config.termination_message_path.is_empty()
                    && m.container_path == config.termination_message_path
            })
            .map(|m| m.host_path.clone());
        let termination_log = if config.termination_message_path.is_empty() {
            None
        } else if given.is_some() {
            given
        } else {
            let path = self.dir.join("termination-log");
            std::fs::File::create(&path)
                .map_err(CriError::io("creating the termination-log file"))?;
            // Writable whatever user the container runs as (as the kubelet).
            std::fs::set_permissions(
                &path,
                <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o666),
            )
            .map_err(CriError::io("making the termination-log file writable"))?;
            Some(path)
        };
        if let Some(parent) = config.log_path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(CriError::io(format!("creating {}", parent.display())))?;
        }
        let cgroups_path = cgroups::container_cgroup_path(
            &self.cgroup_root,
            &self.sandbox.cgroup_parent,
            &self.id,
        );
        let spec = spec::build(&SpecInputs {
            config,
            sandbox: &self.sandbox,
            sandbox_dir: &self.sandbox_dir,
            rootfs: &self.rootfs,
            user: &user,
            cgroups_path: &cgroups_path,
            termination_log: termination_log.as_deref(),
            pid_ns: self.pid_ns.as_deref(),
        })?;
        let spec_json = serde_json::to_vec(&spec)
            .map_err(|e| CriError::Runtime(format!("encoding the OCI spec: {e}")))?;
        write_atomic(&bundle.join("config.json"), &spec_json)
            .map_err(CriError::io("writing config.json"))?;
        let record = ContainerRecord {
            id: self.id.clone(),
            sandbox_id: self.sandbox.id.clone(),
            name: config.name.clone(),
            attempt: config.attempt,
            image: config.image.clone(),
            image_id: config.image_id.clone(),
            log_path: config.log_path.clone(),
            labels: config.labels.clone(),
            created_at: to_nanos(SystemTime::now()),
            termination_log,
            cgroups_path,
        };
        // What the shim needs to know of the container's standard streams.
        let io = IoRecord {
            tty: config.tty,
            stdin: config.stdin,
            stdin_once: config.stdin_once,
        };
        write_json(&self.dir.join("io.json"), &io).map_err(CriError::io("writing io.json"))?;
        write_json(&self.dir.join("container.json"), &record)
            .map_err(CriError::io("writing container.json"))?;
        Ok(record)
    }
}
