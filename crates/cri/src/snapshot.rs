//! [`Snapshotter`]: root filesystems made from images, one per container
//! (containerd's snapshotter).

use std::path::PathBuf;

use async_trait::async_trait;

use crate::error::CriError;

/// A container's root filesystem, ready for runc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rootfs {
    /// The directory runc uses as `root.path`.
    pub path: PathBuf,
}

/// Root filesystems for containers: an overlay of the image's unpacked
/// layers with a writable upper directory where the kernel allows it, a
/// copy otherwise.
#[async_trait]
pub trait Snapshotter: Send + Sync {
    /// A writable root filesystem for container `key` from image
    /// `image_id` (`ImageInfo::id`). Preparing the same key twice returns
    /// the existing one (adoption after a restart).
    async fn prepare(&self, key: &str, image_id: &str) -> Result<Rootfs, CriError>;
    /// Unmount and delete the root filesystem of `key`; nothing if absent.
    async fn remove(&self, key: &str) -> Result<(), CriError>;
}
