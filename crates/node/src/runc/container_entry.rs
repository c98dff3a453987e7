//! [`ContainerEntry`]: one container the runtime knows, its record and
//! what was observed of it (shim, start, exit).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use super::fsutil::{read_json, to_nanos};
use super::records::{ContainerRecord, ExitRecord, ShimRecord};

/// What is known of a container beyond its record.
#[derive(Default)]
pub(crate) struct Live {
    pub shim: Option<ShimRecord>,
    pub started_at: Option<u64>,
    pub exit: Option<ExitRecord>,
    pub message: String,
}

/// One container: its directory, its record, what was observed.
pub(crate) struct ContainerEntry {
    pub dir: PathBuf,
    pub record: ContainerRecord,
    pub live: Mutex<Live>,
}

impl ContainerEntry {
    /// An entry for a container a previous agent made.
    pub fn adopt(dir: PathBuf, record: ContainerRecord) -> ContainerEntry {
        let shim: Option<ShimRecord> = read_json(&dir.join("shim.json")).ok().flatten();
        let mut started_at = read_started(&dir);
        if started_at.is_none() {
            // `runc start` may have succeeded just before the agent died:
            // a started init is no longer `runc init`.
            if let Some(shim) = &shim {
                let comm = std::fs::read_to_string(format!("/proc/{}/comm", shim.init_pid))
                    .unwrap_or_default();
                if !comm.is_empty() && !comm.starts_with("runc") {
                    started_at = Some(to_nanos(SystemTime::now()));
                }
            }
        }
        ContainerEntry {
            dir,
            record,
            live: Mutex::new(Live {
                shim,
                started_at,
                exit: None,
                message: String::new(),
            }),
        }
    }
}

pub(crate) fn read_started(dir: &Path) -> Option<u64> {
    std::fs::read_to_string(dir.join("started"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
}
