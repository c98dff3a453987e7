//! [`SandboxEntry`]: one sandbox the runtime knows, its directory and its
//! record (written back on change).

use std::path::PathBuf;
use std::sync::Mutex;

use rkube_cri::{CriError, SandboxInfo, SandboxState};

use super::fsutil::{from_nanos, write_json};
use super::locks::lock;
use super::records::SandboxRecord;

/// One sandbox: its directory and its record (written back on change).
pub(crate) struct SandboxEntry {
    pub dir: PathBuf,
    pub record: Mutex<SandboxRecord>,
}

impl SandboxEntry {
    pub fn new(dir: PathBuf, record: SandboxRecord) -> SandboxEntry {
        SandboxEntry {
            dir,
            record: Mutex::new(record),
        }
    }

    /// What `list_pod_sandboxes` says of it.
    pub fn info(&self) -> SandboxInfo {
        let r = lock(&self.record);
        SandboxInfo {
            id: r.id.clone(),
            pod_uid: r.pod_uid.clone(),
            pod_name: r.pod_name.clone(),
            pod_namespace: r.pod_namespace.clone(),
            attempt: r.attempt,
            state: if r.ready {
                SandboxState::Ready
            } else {
                SandboxState::NotReady
            },
            ip: r.ip,
            created_at: from_nanos(r.created_at),
        }
    }

    /// Whether the namespaces of a Ready sandbox are still there (not
    /// after a reboot, or if someone deleted the network namespace).
    pub fn namespaces_present(&self, boot_id: &str) -> bool {
        let r = lock(&self.record);
        r.boot_id == boot_id
            && r.netns_path.as_ref().is_none_or(|p| p.exists())
            && r.ipc_ns.exists()
    }

    /// Mark the sandbox NotReady (its namespaces are gone).
    pub fn mark_not_ready(&self) -> Result<(), CriError> {
        let record = {
            let mut r = lock(&self.record);
            r.ready = false;
            r.clone()
        };
        self.save(&record)
    }

    pub(crate) fn save(&self, record: &SandboxRecord) -> Result<(), CriError> {
        write_json(&self.dir.join("sandbox.json"), record)
            .map_err(CriError::io("writing sandbox.json"))
    }
}
