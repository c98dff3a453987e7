//! The index (`index.json`): every image the store has, its names, layers
//! and what its config says. Readers read the file as it is (it is only
//! ever replaced by a rename); writers hold [`IndexLock`], an flock on
//! `DIR/lock`, so `rkube image load` in another process and the node agent
//! never lose each other's changes.

use std::fs::File;
use std::io::Write;

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::layout::Layout;

/// One layer of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The blob as stored (compressed or not): `sha256:<hex>`.
    pub blob: String,
    /// Digest of the uncompressed tar: names the unpacked directory.
    pub diff_id: String,
    /// Bytes of the blob.
    pub size: u64,
}

/// One image.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The config's digest: the image id.
    pub id: String,
    /// The manifest's digest, when known.
    #[serde(default)]
    pub manifest: Option<String>,
    pub repo_tags: Vec<String>,
    #[serde(default)]
    pub repo_digests: Vec<String>,
    pub layers: Vec<LayerRecord>,
    pub config_size: u64,
    pub loaded: bool,
    /// Unix seconds when the image was stored.
    pub stored_at: u64,
    /// Unix seconds when a root filesystem was last prepared from it.
    pub last_used: u64,
    #[serde(default)]
    pub entrypoint: Vec<String>,
    #[serde(default)]
    pub cmd: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub user: String,
}

impl ImageRecord {
    /// Compressed layers plus config, as `status.images` counts.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum::<u64>() + self.config_size
    }
}

/// The whole index.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Index {
    pub images: Vec<ImageRecord>,
}

impl Index {
    /// The index as on disk (empty when there is none yet).
    pub fn read(layout: &Layout) -> Result<Index> {
        let path = layout.index();
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ImageError::format(format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(ImageError::io("read", path)(e)),
        }
    }

    /// Replace the index on disk (write a temporary file, then rename).
    /// Only under [`IndexLock`].
    pub fn write(&self, layout: &Layout, _lock: &IndexLock) -> Result<()> {
        let tmp = layout.tmp_path("index");
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| ImageError::format(format!("encoding the index: {e}")))?;
        let mut file = File::create(&tmp).map_err(ImageError::io("create", &tmp))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(ImageError::io("write", &tmp))?;
        let dest = layout.index();
        std::fs::rename(&tmp, &dest).map_err(ImageError::io("rename", &dest))
    }

    /// Whether any image uses the blob with this digest.
    pub fn uses_blob(&self, digest: &str) -> bool {
        self.images.iter().any(|i| {
            i.id == digest
                || i.manifest.as_deref() == Some(digest)
                || i.layers.iter().any(|l| l.blob == digest)
        })
    }

    /// Whether any image has the layer with this diff id.
    pub fn uses_layer(&self, diff_id: &str) -> bool {
        self.images
            .iter()
            .any(|i| i.layers.iter().any(|l| l.diff_id == diff_id))
    }
}

/// The exclusive lock of the index's writers, held until dropped.
pub struct IndexLock {
    _lock: Flock<File>,
}

impl IndexLock {
    /// Wait for and take the lock.
    pub fn acquire(layout: &Layout) -> Result<IndexLock> {
        let path = layout.lock();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::io("open", &path))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| ImageError::io("flock", &path)(std::io::Error::from(errno)))?;
        Ok(IndexLock { _lock: lock })
    }
}

/// Held (shared) by every load and pull while it stages blobs, so that
/// a failed one deletes the blobs it wrote only when no other is staging
/// (the other may be about to use the same blob).
pub struct StagingLock {
    lock: Flock<File>,
}

impl StagingLock {
    /// Take the shared lock.
    pub fn acquire(layout: &Layout) -> Result<StagingLock> {
        let path = layout.staging_lock();
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(ImageError::io("open", &path))?;
        let lock = Flock::lock(file, FlockArg::LockShared)
            .map_err(|(_, errno)| ImageError::io("flock", &path)(std::io::Error::from(errno)))?;
        Ok(StagingLock { lock })
    }

    /// Whether no other load or pull is staging: the lock becomes
    /// exclusive when it is so.
    pub fn alone(&self) -> bool {
        self.lock.relock(FlockArg::LockExclusiveNonblock).is_ok()
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
