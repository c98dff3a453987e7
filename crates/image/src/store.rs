//! [`ImageStore`]: the store's front door — open, load, list, resolve,
//! remove. Pulls, snapshots, garbage collection and the import directory
//! are in their own files and add methods to it.

use std::path::{Path, PathBuf};

use rkube_cri::ImageInfo;

use crate::commit::commit;
use crate::error::{ImageError, Result};
use crate::index::{ImageRecord, Index, IndexLock, StagingLock};
use crate::layout::Layout;
use crate::load::{read_images, Leftovers};
use crate::reference::normalize;

/// A content-addressed image store in one directory (`DATA_DIR/images`).
/// Cheap to clone; several processes may use the same directory.
#[derive(Clone, Debug)]
pub struct ImageStore {
    pub(crate) layout: Layout,
    /// Whether root filesystems are overlay mounts (else copies).
    pub(crate) overlay: bool,
}

impl ImageStore {
    /// Open (creating if needed) the store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<ImageStore> {
        let layout = Layout::new(dir.into());
        for d in layout.dirs() {
            std::fs::create_dir_all(&d).map_err(ImageError::io("create", &d))?;
        }
        let store = ImageStore {
            layout,
            overlay: true,
        };
        store.clean_tmp();
        Ok(store)
    }

    /// Make root filesystems by copying the layers, never with overlayfs
    /// (for filesystems overlayfs cannot stack on, and tests).
    pub fn without_overlay(mut self) -> ImageStore {
        self.overlay = false;
        self
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        self.layout.root()
    }

    /// Remove what this machine's crashed loads left in `tmp/` (entries
    /// of processes that no longer run).
    fn clean_tmp(&self) {
        let Ok(entries) = std::fs::read_dir(self.layout.tmp()) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let pid = name.split('-').nth(1).and_then(|p| p.parse::<u32>().ok());
            let alive = pid.is_some_and(|p| Path::new(&format!("/proc/{p}")).exists());
            if !alive {
                let path = entry.path();
                let _ = std::fs::remove_dir_all(&path).or_else(|_| std::fs::remove_file(&path));
            }
        }
    }

    /// Load every image of `path`: a `docker save` tarball, an OCI layout
    /// directory or tar, compressed (gzip, zstd) or not. The images are
    /// marked `loaded`.
    pub fn load_file(&self, path: &Path) -> Result<Vec<ImageInfo>> {
        let started = std::time::Instant::now();
        let staging = StagingLock::acquire(&self.layout)?;
        let mut leftovers = Leftovers::default();
        let pending = match read_images(&self.layout, path, &mut leftovers) {
            Ok(p) => p,
            Err(err) => {
                // Nothing of a refused archive stays.
                let _ = commit(&self.layout, &staging, Vec::new(), leftovers);
                return Err(err);
            }
        };
        let records = commit(&self.layout, &staging, pending, leftovers)?;
        tracing::info!(
            path = %path.display(),
            images = records.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded images"
        );
        Ok(records.iter().map(info).collect())
    }

    /// Every image, in the order stored.
    pub fn list(&self) -> Result<Vec<ImageInfo>> {
        Ok(Index::read(&self.layout)?.images.iter().map(info).collect())
    }

    /// The image `name` refers to: a name (normalised as Docker does), a
    /// `name@sha256:…` digest reference, an id (`sha256:<hex>`) or a
    /// unique prefix of at least 12 hex digits of it.
    pub fn resolve(&self, name: &str) -> Result<Option<ImageInfo>> {
        Ok(self.find(&Index::read(&self.layout)?, name)?.map(info))
    }

    pub(crate) fn find<'a>(&self, index: &'a Index, name: &str) -> Result<Option<&'a ImageRecord>> {
        if let Some(found) = find_by_id(index, name) {
            return Ok(Some(found));
        }
        let normal = normalize(name)?;
        let reference = crate::reference::Reference::parse(name)?;
        Ok(index.images.iter().find(|i| {
            i.repo_tags.contains(&normal)
                || reference.digest.as_ref().is_some_and(|d| {
                    i.repo_digests
                        .contains(&format!("{}@{d}", reference.repository()))
                        || i.manifest.as_deref() == Some(d.as_str())
                })
        }))
    }

    /// Remove `name`: by tag, the tag (and the image when it was its last
    /// name); by id or digest, the image with all its names. Blobs and
    /// unpacked layers no other image uses are deleted, unless a root
    /// filesystem still uses the layer.
    pub fn remove(&self, name: &str) -> Result<()> {
        let lock = IndexLock::acquire(&self.layout)?;
        let mut index = Index::read(&self.layout)?;
        let record = self
            .find(&index, name)?
            .cloned()
            .ok_or_else(|| ImageError::NotFound(name.to_string()))?;
        let by_tag = find_by_id(&index, name).is_none()
            && normalize(name).is_ok_and(|n| record.repo_tags.contains(&n));
        if by_tag && record.repo_tags.len() > 1 {
            let normal = normalize(name)?;
            if let Some(image) = index.images.iter_mut().find(|i| i.id == record.id) {
                image.repo_tags.retain(|t| *t != normal);
            }
            index.write(&self.layout, &lock)?;
            return Ok(());
        }
        index.images.retain(|i| i.id != record.id);
        index.write(&self.layout, &lock)?;
        self.delete_unused(&index, &record);
        tracing::info!(id = %record.id, tags = ?record.repo_tags, "removed image");
        Ok(())
    }

    /// Delete the blobs and layers of `removed` that `index` does not use.
    pub(crate) fn delete_unused(&self, index: &Index, removed: &ImageRecord) {
        let in_snapshots = self.layers_in_snapshots();
        let mut blobs = vec![removed.id.clone()];
        blobs.extend(removed.manifest.clone());
        blobs.extend(removed.layers.iter().map(|l| l.blob.clone()));
        for blob in blobs {
            if !index.uses_blob(&blob) {
                if let Ok(d) = crate::digest::Digest::parse(&blob) {
                    let _ = std::fs::remove_file(self.layout.blob(&d));
                }
            }
        }
        for layer in &removed.layers {
            if index.uses_layer(&layer.diff_id) || in_snapshots.contains(&layer.diff_id) {
                continue;
            }
            if let Ok(d) = crate::digest::Digest::parse(&layer.diff_id) {
                let dir = self.layout.layer(&d);
                if let Err(err) = std::fs::remove_dir_all(&dir) {
                    tracing::warn!(dir = %dir.display(), %err, "cannot remove layer");
                }
            }
        }
    }
}

fn find_by_id<'a>(index: &'a Index, name: &str) -> Option<&'a ImageRecord> {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    if hex.len() < 12 || hex.len() > 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut found = index.images.iter().filter(|i| i.id[7..].starts_with(hex));
    match (found.next(), found.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// The CRI view of a record.
pub(crate) fn info(record: &ImageRecord) -> ImageInfo {
    ImageInfo {
        id: record.id.clone(),
        repo_tags: record.repo_tags.clone(),
        repo_digests: record.repo_digests.clone(),
        size: record.size(),
        entrypoint: record.entrypoint.clone(),
        cmd: record.cmd.clone(),
        env: record.env.clone(),
        working_dir: record.working_dir.clone(),
        user: record.user.clone(),
        loaded: record.loaded,
    }
}
