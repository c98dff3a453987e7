//! The import directory (`DATA_DIR/images/import/`, as k3s's air-gap
//! images): every file dropped there is loaded once — tracked by name,
//! size and modification time in `imported.json`.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::store::ImageStore;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Seen {
    size: u64,
    mtime_ns: i128,
}

/// What one import pass did with one file.
#[derive(Debug)]
pub struct Imported {
    pub file: PathBuf,
    /// The images loaded, or why the file could not be.
    pub result: Result<Vec<rkube_cri::ImageInfo>>,
}

impl ImageStore {
    /// Load every file of `dir` not imported before (or changed since).
    /// A file that fails is reported and not tried again until it changes.
    pub fn import_dir(&self, dir: &Path) -> Result<Vec<Imported>> {
        let state_path = self.layout.import_state();
        let mut state: BTreeMap<String, Seen> = std::fs::read(&state_path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ImageError::io("read", dir)(e)),
        };
        let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        files.sort();
        let mut out = Vec::new();
        for file in files {
            let Ok(meta) = std::fs::metadata(&file) else {
                continue;
            };
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            let seen = Seen {
                size: meta.len(),
                mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
            };
            if state.get(&name) == Some(&seen) {
                continue;
            }
            // A file still being copied in changes size: wait a pass.
            std::thread::sleep(Duration::from_millis(50));
            if std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0) != seen.size {
                continue;
            }
            let result = self.load_file(&file);
            match &result {
                Ok(images) => {
                    tracing::info!(file = %file.display(), images = images.len(), "imported")
                }
                Err(err) => tracing::warn!(file = %file.display(), %err, "cannot import"),
            }
            state.insert(name, seen);
            out.push(Imported { file, result });
        }
        if !out.is_empty() {
            let tmp = self.layout.tmp_path("imported");
            let bytes =
                serde_json::to_vec_pretty(&state).map_err(|e| ImageError::format(e.to_string()))?;
            std::fs::write(&tmp, bytes).map_err(ImageError::io("write", &tmp))?;
            std::fs::rename(&tmp, &state_path).map_err(ImageError::io("rename", &state_path))?;
        }
        Ok(out)
    }

    /// The default import directory, `DIR/import`.
    pub fn import_dir_path(&self) -> PathBuf {
        self.layout.import()
    }
}

/// Import `dir` now and then every `period`, until the task is dropped.
pub async fn watch_import_dir(store: ImageStore, dir: PathBuf, period: Duration) {
    loop {
        let (s, d) = (store.clone(), dir.clone());
        match tokio::task::spawn_blocking(move || s.import_dir(&d)).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::warn!(dir = %dir.display(), %err, "import directory"),
            Err(err) => tracing::warn!(%err, "import task failed"),
        }
        tokio::time::sleep(period).await;
    }
}
