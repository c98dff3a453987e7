//! [`Layout`]: where everything lives under the store's directory.
//!
//! ```text
//! DIR/index.json              names → images (replaced by rename)
//! DIR/lock                    flock'ed by every writer of the index
//! DIR/staging.lock            flock'ed (shared) by loads and pulls
//! DIR/blobs/sha256/<hex>      manifests, configs, layers as stored
//! DIR/layers/<diff hex>/      a layer unpacked (overlay whiteout format)
//! DIR/snapshots/<key>/        rootfs, upper, work, snapshot.json
//! DIR/tmp/                    files and dirs being written
//! DIR/import/                 dropped archives, imported automatically
//! ```

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::digest::Digest;

static TMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Paths of one store.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: PathBuf) -> Layout {
        Layout { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn index(&self) -> PathBuf {
        self.root.join("index.json")
    }

    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Shared by loads and pulls while they stage blobs.
    pub fn staging_lock(&self) -> PathBuf {
        self.root.join("staging.lock")
    }

    pub fn blobs(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.blobs().join(digest.hex())
    }

    pub fn layers(&self) -> PathBuf {
        self.root.join("layers")
    }

    /// The unpacked layer with this diff id.
    pub fn layer(&self, diff_id: &Digest) -> PathBuf {
        self.layers().join(diff_id.hex())
    }

    pub fn snapshots(&self) -> PathBuf {
        self.root.join("snapshots")
    }

    pub fn snapshot(&self, key: &str) -> PathBuf {
        self.snapshots().join(key)
    }

    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The default import directory.
    pub fn import(&self) -> PathBuf {
        self.root.join("import")
    }

    /// Where the import directory's state is kept.
    pub fn import_state(&self) -> PathBuf {
        self.root.join("imported.json")
    }

    /// A fresh path in `tmp/` (unique within and across processes).
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        let n = TMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let r: u32 = rand::random();
        self.tmp()
            .join(format!("{what}-{}-{n}-{r:08x}", std::process::id()))
    }

    /// Every directory the store needs.
    pub fn dirs(&self) -> [PathBuf; 5] {
        [
            self.blobs(),
            self.layers(),
            self.snapshots(),
            self.tmp(),
            self.import(),
        ]
    }
}
