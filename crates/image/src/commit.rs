//! Making staged images part of the store: under the index lock, move
//! their unpacked layers to `layers/<diff id>` (kept if there already),
//! record them in the index, move names from images that had them, and
//! drop what the load wrote but no image uses.

use std::path::PathBuf;

use crate::blobs::write_bytes;
use crate::digest::Digest;
use crate::error::{ImageError, Result};
use crate::index::{now, ImageRecord, Index, IndexLock, LayerRecord, StagingLock};
use crate::ingest::{remove_dir, StagedLayer};
use crate::layout::Layout;
use crate::manifest::{self, ImageConfig};

/// Everything a load wrote that may be left over: staging directories and
/// blobs (removed unless an image uses them).
#[derive(Default)]
pub struct Leftovers {
    pub dirs: Vec<PathBuf>,
    pub blobs: Vec<Digest>,
}

/// An image read and staged, not yet in the index.
#[derive(Debug)]
pub struct Pending {
    /// Normalised names.
    pub names: Vec<String>,
    pub repo_digests: Vec<String>,
    pub manifest: Option<Digest>,
    /// The config's bytes (its digest is the image id).
    pub config: Vec<u8>,
    pub layers: Vec<StagedLayer>,
    pub loaded: bool,
}

/// Put `pending` into the store; the records as stored. `staging` is the
/// lock the load or pull took before it wrote anything.
pub fn commit(
    layout: &Layout,
    staging: &StagingLock,
    pending: Vec<Pending>,
    leftovers: Leftovers,
) -> Result<Vec<ImageRecord>> {
    let lock = IndexLock::acquire(layout)?;
    let result = commit_locked(layout, &lock, &pending);
    for layer in &pending {
        for l in &layer.layers {
            remove_dir(&l.dir);
        }
    }
    for dir in &leftovers.dirs {
        remove_dir(dir);
    }
    // Blobs this load wrote that no image uses (a failed load's, or files
    // of the archive that were no part of an image), unless another load
    // or pull is staging: it may be about to use the same blob.
    if !staging.alone() {
        tracing::debug!("another load is staging; unused blobs are kept");
    } else if let Ok(index) = Index::read(layout) {
        for blob in &leftovers.blobs {
            if !index.uses_blob(blob.as_str()) {
                let _ = std::fs::remove_file(layout.blob(blob));
            }
        }
    }
    drop(lock);
    result
}

fn commit_locked(
    layout: &Layout,
    lock: &IndexLock,
    pending: &[Pending],
) -> Result<Vec<ImageRecord>> {
    let mut index = Index::read(layout)?;
    let mut out = Vec::new();
    for image in pending {
        let config: ImageConfig = manifest::parse("image config", &image.config)?;
        let diff_ids = &config.rootfs.diff_ids;
        if diff_ids.len() != image.layers.len() {
            return Err(ImageError::format(format!(
                "the config lists {} layers, the manifest {}",
                diff_ids.len(),
                image.layers.len()
            )));
        }
        for (layer, want) in image.layers.iter().zip(diff_ids) {
            if layer.diff_id.as_str() != want {
                return Err(ImageError::DigestMismatch {
                    what: format!("layer {}", layer.blob),
                    expected: want.clone(),
                    actual: layer.diff_id.to_string(),
                });
            }
        }
        let id = write_bytes(layout, &image.config)?;
        for layer in &image.layers {
            let dest = layout.layer(&layer.diff_id);
            if !dest.exists() && layer.dir.exists() {
                std::fs::rename(&layer.dir, &dest).map_err(ImageError::io("rename", &dest))?;
            }
        }
        let run = config.config.unwrap_or_default();
        let mut record = ImageRecord {
            id: id.to_string(),
            manifest: image.manifest.as_ref().map(|d| d.to_string()),
            repo_tags: image.names.clone(),
            repo_digests: image.repo_digests.clone(),
            layers: image
                .layers
                .iter()
                .map(|l| LayerRecord {
                    blob: l.blob.to_string(),
                    diff_id: l.diff_id.to_string(),
                    size: l.size,
                })
                .collect(),
            config_size: image.config.len() as u64,
            loaded: image.loaded,
            stored_at: now(),
            last_used: now(),
            entrypoint: run.entrypoint.unwrap_or_default(),
            cmd: run.cmd.unwrap_or_default(),
            env: run.env.unwrap_or_default(),
            working_dir: run.working_dir.unwrap_or_default(),
            user: run.user.unwrap_or_default(),
        };
        // A name belongs to one image: it moves to the new one.
        for other in &mut index.images {
            if other.id != record.id {
                other.repo_tags.retain(|t| !record.repo_tags.contains(t));
            }
        }
        match index.images.iter_mut().find(|i| i.id == record.id) {
            Some(existing) => {
                for tag in &record.repo_tags {
                    if !existing.repo_tags.contains(tag) {
                        existing.repo_tags.push(tag.clone());
                    }
                }
                for d in &record.repo_digests {
                    if !existing.repo_digests.contains(d) {
                        existing.repo_digests.push(d.clone());
                    }
                }
                existing.loaded |= record.loaded;
                if existing.manifest.is_none() {
                    existing.manifest = record.manifest.take();
                }
                // The layers of the new copy are the same diffs; keep the
                // blobs the index already names.
                record = existing.clone();
            }
            None => index.images.push(record.clone()),
        }
        out.push(record);
    }
    index.write(layout, lock)?;
    Ok(out)
}
