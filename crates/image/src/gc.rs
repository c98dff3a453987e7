//! Image garbage collection at the kubelet's thresholds: when the store's
//! filesystem is more than `high_percent` used, remove images no container
//! uses, least recently used first, until it is below `low_percent`.

use crate::error::Result;
use crate::index::{Index, IndexLock};
use crate::space::usage;
use crate::store::ImageStore;

/// The kubelet's default `imageGCHighThresholdPercent`.
pub const DEFAULT_HIGH_PERCENT: u8 = 85;
/// The kubelet's default `imageGCLowThresholdPercent`.
pub const DEFAULT_LOW_PERCENT: u8 = 80;

impl ImageStore {
    /// Collect garbage; `in_use` are the ids (`sha256:…`) of images that
    /// containers use (images of prepared root filesystems count as used
    /// too). Returns the ids removed.
    pub fn gc(&self, high_percent: u8, low_percent: u8, in_use: &[String]) -> Result<Vec<String>> {
        let before = usage(self.dir())?;
        if before.used_percent() <= f64::from(high_percent) {
            return Ok(Vec::new());
        }
        let lock = IndexLock::acquire(&self.layout)?;
        let mut index = Index::read(&self.layout)?;
        let mut used: Vec<String> = in_use.to_vec();
        used.extend(self.images_in_snapshots());
        let mut candidates: Vec<_> = index
            .images
            .iter()
            .filter(|i| !used.contains(&i.id))
            .cloned()
            .collect();
        candidates.sort_by_key(|i| (i.last_used, i.stored_at));
        let mut removed = Vec::new();
        for image in candidates {
            if usage(self.dir())?.used_percent() < f64::from(low_percent) {
                break;
            }
            index.images.retain(|i| i.id != image.id);
            index.write(&self.layout, &lock)?;
            self.delete_unused(&index, &image);
            tracing::info!(id = %image.id, tags = ?image.repo_tags, "image garbage collected");
            removed.push(image.id);
        }
        Ok(removed)
    }
}
