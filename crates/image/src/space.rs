//! [`SpaceCheck`]: refuse to write what the store's filesystem cannot hold
//! (statvfs before each file and every few MiB of a blob).

use std::path::{Path, PathBuf};

use crate::error::{ImageError, Result};

/// Free-space checks against one filesystem.
#[derive(Clone, Debug)]
pub struct SpaceCheck {
    dir: PathBuf,
}

/// Filesystem usage, from statvfs.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    pub total: u64,
    pub free: u64,
}

impl Usage {
    /// Used bytes in percent of the total (0 when the total is unknown).
    pub fn used_percent(&self) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        (self.total - self.free.min(self.total)) as f64 * 100.0 / self.total as f64
    }
}

/// The usage of the filesystem holding `dir`.
pub fn usage(dir: &Path) -> Result<Usage> {
    let st = nix::sys::statvfs::statvfs(dir).map_err(|errno| ImageError::Io {
        what: "statvfs",
        path: dir.to_path_buf(),
        source: std::io::Error::from(errno),
    })?;
    let frsize = st.fragment_size();
    Ok(Usage {
        total: st.blocks() * frsize,
        free: st.blocks_available() * frsize,
    })
}

impl SpaceCheck {
    pub fn new(dir: &Path) -> SpaceCheck {
        SpaceCheck {
            dir: dir.to_path_buf(),
        }
    }

    /// Fail with [`ImageError::NoSpace`] unless `needed` bytes fit.
    pub fn ensure(&self, needed: u64) -> Result<()> {
        let free = usage(&self.dir)?.free;
        if needed > free {
            return Err(ImageError::NoSpace {
                path: self.dir.clone(),
                needed,
                free,
            });
        }
        Ok(())
    }

    /// An `io::Error` from a write, as [`ImageError::NoSpace`] when the disk
    /// is full.
    pub fn write_error(&self, what: &'static str, path: &Path, err: std::io::Error) -> ImageError {
        if err.raw_os_error() == Some(nix::libc::ENOSPC) {
            let free = usage(&self.dir).map(|u| u.free).unwrap_or(0);
            return ImageError::NoSpace {
                path: self.dir.clone(),
                needed: 0,
                free,
            };
        }
        ImageError::io(what, path)(err)
    }
}
