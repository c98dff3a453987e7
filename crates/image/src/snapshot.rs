//! Root filesystems for containers (`snapshots/<key>/rootfs`): an overlay
//! mount of the image's unpacked layers with an upper and a work directory
//! per key, or — where overlayfs is refused — a copy of the layers applied
//! in order, whiteouts and opaque directories honoured.
//!
//! `snapshots/<key>/snapshot.json` records what was made, so preparing a
//! key again (after an agent restart too) gives back the same rootfs,
//! mounting the overlay again if it was unmounted (a reboot).

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use serde::{Deserialize, Serialize};

use crate::error::{ImageError, Result};
use crate::index::{now, Index, IndexLock};
use crate::store::ImageStore;
use crate::unpack::OPAQUE_XATTR;

/// How a rootfs was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotKind {
    Overlay,
    Copy,
}

/// `snapshot.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub image_id: String,
    /// Diff ids, bottom layer first.
    pub layers: Vec<String>,
    pub kind: SnapshotKind,
}

impl ImageStore {
    /// A writable rootfs for container `key` from image `image` (an id or
    /// a name); the existing one when `key` was prepared before.
    pub fn prepare_rootfs(&self, key: &str, image: &str) -> Result<PathBuf> {
        check_key(key)?;
        let dir = self.layout.snapshot(key);
        let rootfs = dir.join("rootfs");
        if let Some(meta) = read_meta(&dir) {
            match meta.kind {
                SnapshotKind::Copy => return Ok(rootfs),
                SnapshotKind::Overlay => {
                    if is_mounted(&rootfs) {
                        return Ok(rootfs);
                    }
                    let lowers = self.lower_dirs(&meta.layers, &dir)?;
                    mount_overlay(&dir, &lowers)?;
                    return Ok(rootfs);
                }
            }
        }
        // Nothing, or a copy that never finished: start again.
        self.remove_rootfs(key)?;
        let index = Index::read(&self.layout)?;
        let record = self
            .find(&index, image)?
            .ok_or_else(|| ImageError::NotFound(image.to_string()))?
            .clone();
        let layers: Vec<String> = record.layers.iter().map(|l| l.diff_id.clone()).collect();
        fs::create_dir_all(&rootfs).map_err(ImageError::io("create", &rootfs))?;
        let lowers = self.lower_dirs(&layers, &dir)?;
        let mounted = if self.overlay {
            mount_overlay(&dir, &lowers)
        } else {
            Err(ImageError::format("overlay turned off"))
        };
        let kind = match mounted {
            Ok(()) => SnapshotKind::Overlay,
            Err(err) => {
                tracing::info!(key, %err, "overlay refused; copying the layers instead");
                copy_layers(&lowers, &rootfs)?;
                SnapshotKind::Copy
            }
        };
        let meta = SnapshotMeta {
            image_id: record.id.clone(),
            layers,
            kind,
        };
        write_meta(&dir, &meta)?;
        self.touch(&record.id);
        tracing::debug!(key, image = %record.id, ?kind, "prepared rootfs");
        Ok(rootfs)
    }

    /// Unmount and delete the rootfs of `key`; nothing if absent.
    pub fn remove_rootfs(&self, key: &str) -> Result<()> {
        check_key(key)?;
        let dir = self.layout.snapshot(key);
        let rootfs = dir.join("rootfs");
        if is_mounted(&rootfs) {
            umount2(&rootfs, MntFlags::MNT_DETACH).map_err(|source| ImageError::Mount {
                what: "unmount",
                path: rootfs.clone(),
                source,
            })?;
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(ImageError::io("remove", &dir)(e)),
        }
    }

    /// Diff ids of the layers used by any rootfs.
    pub(crate) fn layers_in_snapshots(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.layout.snapshots()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| read_meta(&e.path()))
            .flat_map(|m| m.layers)
            .collect()
    }

    /// Image ids used by any rootfs.
    pub(crate) fn images_in_snapshots(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.layout.snapshots()) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| read_meta(&e.path()))
            .map(|m| m.image_id)
            .collect()
    }

    /// The unpacked layer directories, top layer first (overlay's
    /// `lowerdir` order); an empty directory for an image without layers.
    fn lower_dirs(&self, layers: &[String], dir: &Path) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        for diff in layers.iter().rev() {
            let d = crate::digest::Digest::parse(diff)?;
            let path = self.layout.layer(&d);
            if !path.is_dir() {
                return Err(ImageError::format(format!(
                    "layer {diff} is not unpacked in the store"
                )));
            }
            out.push(path);
        }
        if out.is_empty() {
            let empty = dir.join("empty");
            fs::create_dir_all(&empty).map_err(ImageError::io("create", &empty))?;
            out.push(empty);
        }
        Ok(out)
    }

    /// Record that the image was just used (garbage collection removes the
    /// least recently used first).
    fn touch(&self, id: &str) {
        let result = IndexLock::acquire(&self.layout).and_then(|lock| {
            let mut index = Index::read(&self.layout)?;
            if let Some(image) = index.images.iter_mut().find(|i| i.id == id) {
                image.last_used = now();
                index.write(&self.layout, &lock)?;
            }
            Ok(())
        });
        if let Err(err) = result {
            tracing::warn!(id, %err, "cannot record the image's last use");
        }
    }
}

fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 200
        && key != "."
        && key != ".."
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ImageError::format(format!("invalid snapshot key {key:?}")))
    }
}

fn read_meta(dir: &Path) -> Option<SnapshotMeta> {
    let bytes = fs::read(dir.join("snapshot.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn write_meta(dir: &Path, meta: &SnapshotMeta) -> Result<()> {
    let tmp = dir.join("snapshot.json.tmp");
    let dest = dir.join("snapshot.json");
    let bytes = serde_json::to_vec(meta).map_err(|e| ImageError::format(e.to_string()))?;
    fs::write(&tmp, bytes).map_err(ImageError::io("write", &tmp))?;
    fs::rename(&tmp, &dest).map_err(ImageError::io("rename", &dest))
}

fn mount_overlay(dir: &Path, lowers: &[PathBuf]) -> Result<()> {
    let rootfs = dir.join("rootfs");
    let upper = dir.join("upper");
    let work = dir.join("work");
    for d in [&rootfs, &upper, &work] {
        fs::create_dir_all(d).map_err(ImageError::io("create", d))?;
    }
    let lower = lowers
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let options = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        upper.display(),
        work.display()
    );
    mount(
        Some("overlay"),
        &rootfs,
        Some("overlay"),
        MsFlags::empty(),
        Some(options.as_str()),
    )
    .map_err(|source| ImageError::Mount {
        what: "mount overlay on",
        path: rootfs.clone(),
        source,
    })
}

/// Whether `path` is a mount point (per /proc/self/mountinfo).
pub fn is_mounted(path: &Path) -> bool {
    let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = path.display().to_string();
    info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|mp| unescape(mp) == want)
    })
}

fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Apply the layers (top first, as given) bottom-up into `rootfs`.
pub fn copy_layers(lowers_top_first: &[PathBuf], rootfs: &Path) -> Result<()> {
    for layer in lowers_top_first.iter().rev() {
        apply_dir(layer, rootfs)?;
    }
    Ok(())
}

fn is_whiteout(meta: &fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).map_err(ImageError::io("remove", path)),
        Ok(_) => fs::remove_file(path).map_err(ImageError::io("remove", path)),
        Err(_) => Ok(()),
    }
}

/// Copy the contents of layer directory `src` over `dest`.
fn apply_dir(src: &Path, dest: &Path) -> Result<()> {
    let entries = fs::read_dir(src).map_err(ImageError::io("read", src))?;
    for entry in entries {
        let entry = entry.map_err(ImageError::io("read", src))?;
        let from = entry.path();
        let to = dest.join(entry.file_name());
        let meta = fs::symlink_metadata(&from).map_err(ImageError::io("stat", &from))?;
        let kind = meta.file_type();
        if is_whiteout(&meta) {
            remove_any(&to)?;
            continue;
        }
        if kind.is_dir() {
            let opaque = xattr::get(&from, OPAQUE_XATTR).ok().flatten().as_deref() == Some(b"y");
            let existing = fs::symlink_metadata(&to).ok();
            match existing {
                Some(m) if m.is_dir() && opaque => {
                    remove_any(&to)?;
                    fs::create_dir(&to).map_err(ImageError::io("mkdir", &to))?;
                }
                Some(m) if m.is_dir() => {}
                Some(_) => {
                    remove_any(&to)?;
                    fs::create_dir(&to).map_err(ImageError::io("mkdir", &to))?;
                }
                None => fs::create_dir(&to).map_err(ImageError::io("mkdir", &to))?,
            }
            apply_dir(&from, &to)?;
            std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()))
                .map_err(ImageError::io("chown", &to))?;
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(ImageError::io("chmod", &to))?;
            continue;
        }
        remove_any(&to)?;
        if kind.is_symlink() {
            let target = fs::read_link(&from).map_err(ImageError::io("readlink", &from))?;
            std::os::unix::fs::symlink(&target, &to).map_err(ImageError::io("symlink", &to))?;
        } else if kind.is_fifo() {
            nix::unistd::mkfifo(
                &to,
                nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777),
            )
            .map_err(|e| ImageError::io("mkfifo", &to)(io::Error::from(e)))?;
        } else if kind.is_file() {
            fs::copy(&from, &to).map_err(ImageError::io("copy", &to))?;
        } else {
            continue;
        }
        std::os::unix::fs::lchown(&to, Some(meta.uid()), Some(meta.gid()))
            .map_err(ImageError::io("chown", &to))?;
        if kind.is_file() {
            fs::set_permissions(&to, fs::Permissions::from_mode(meta.mode() & 0o7777))
                .map_err(ImageError::io("chmod", &to))?;
        }
    }
    Ok(())
}
