//! Which of a pod's volumes are claims, kept beside the pod's other files
//! (`pods/<uid>/claim-volumes.json`, written when its volumes are set up)
//! so that the node's stats can report them with their `pvcRef` without
//! asking the API server.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The record's file name under the pod's directory.
pub const FILE: &str = "claim-volumes.json";

/// One claim volume of a pod.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// The pod's volume name.
    pub volume: String,
    pub claim: String,
    pub namespace: String,
    /// The volume's directory on the host.
    pub path: PathBuf,
}

/// Write the records (none: the file is removed).
pub fn write(pod_dir: &Path, records: &[ClaimRecord]) -> std::io::Result<()> {
    let file = pod_dir.join(FILE);
    if records.is_empty() {
        return match fs::remove_file(&file) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        };
    }
    fs::create_dir_all(pod_dir)?;
    let body = serde_json::to_vec(records).map_err(std::io::Error::other)?;
    if fs::read(&file).ok().as_deref() == Some(body.as_slice()) {
        return Ok(());
    }
    fs::write(file, body)
}

/// The records of the pod (none when missing or unreadable).
pub fn read(pod_dir: &Path) -> Vec<ClaimRecord> {
    fs::read(pod_dir.join(FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("pods/u");
        assert!(read(&dir).is_empty());
        let r = vec![ClaimRecord {
            volume: "data".into(),
            claim: "data-web-0".into(),
            namespace: "ns".into(),
            path: "/x".into(),
        }];
        write(&dir, &r).expect("write");
        assert_eq!(read(&dir), r);
        write(&dir, &[]).expect("remove");
        assert!(read(&dir).is_empty());
    }
}
