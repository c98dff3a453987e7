//! Unpacking one layer tar into a fresh directory, safely, in the format
//! overlayfs reads: a whiteout (`.wh.NAME`) becomes a character device 0:0
//! named NAME, an opaque directory (`.wh..wh..opq`) gets the xattr
//! `trusted.overlay.opaque=y`.
//!
//! Refused (the whole layer, with [`ImageError::Hostile`]): absolute
//! paths, `..`, writing through a symlink (which could lead out of the
//! rootfs), hard links to anything outside the layer, device nodes. Free
//! space is checked before each file.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{makedev, mknod, Mode, SFlag};

use crate::error::{ImageError, Result};
use crate::space::SpaceCheck;

/// Prefix of a whiteout entry's name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// Name of the entry that makes its directory opaque.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The xattr overlayfs reads for an opaque directory.
pub const OPAQUE_XATTR: &str = "trusted.overlay.opaque";

/// Unpack the layer tar read from `reader` into `dest` (an empty
/// directory).
pub fn unpack_layer(reader: impl Read, dest: &Path, space: &SpaceCheck) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| ImageError::format(format!("reading layer: {e}")))?;
    let mut buf = vec![0u8; 256 << 10];
    for entry in entries {
        let mut entry = entry.map_err(|e| ImageError::format(format!("reading layer: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let display = String::from_utf8_lossy(&raw).into_owned();
        let rel = clean_path(&raw, &display)?;
        let Some(rel) = rel else { continue };
        unpack_entry(&mut entry, &rel, &display, dest, space, &mut buf)?;
    }
    Ok(())
}

/// The entry's path relative to the layer root, or None for the root
/// itself. Absolute paths and `..` are refused.
fn clean_path(raw: &[u8], display: &str) -> Result<Option<PathBuf>> {
    let path = Path::new(OsStr::from_bytes(raw));
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(ImageError::hostile(display, "absolute path"));
            }
            Component::ParentDir => {
                return Err(ImageError::hostile(display, "path contains \"..\""));
            }
        }
    }
    Ok(if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    })
}

/// Create (as directories) the parents of `rel` under `dest`, refusing any
/// that is a symlink: a file written through one could land outside.
fn ensure_parents(dest: &Path, rel: &Path, display: &str) -> Result<PathBuf> {
    let mut dir = dest.to_path_buf();
    if let Some(parent) = rel.parent() {
        for part in parent.components() {
            dir.push(part);
            match fs::symlink_metadata(&dir) {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(ImageError::hostile(
                        display,
                        format!(
                            "its parent {} is a symlink",
                            part.as_os_str().to_string_lossy()
                        ),
                    ));
                }
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(ImageError::format(format!(
                        "layer entry {display:?}: a parent is not a directory"
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&dir).map_err(ImageError::io("mkdir", &dir))?;
                }
                Err(e) => return Err(ImageError::io("stat", &dir)(e)),
            }
        }
    }
    Ok(dest.join(rel))
}

/// Remove whatever is at `path` (from an earlier entry of this layer).
fn clear(path: &Path, keep_dir: bool) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => {
            if !keep_dir {
                fs::remove_dir_all(path).map_err(ImageError::io("remove", path))?;
            }
        }
        Ok(_) => fs::remove_file(path).map_err(ImageError::io("remove", path))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(ImageError::io("stat", path)(e)),
    }
    Ok(())
}

fn unpack_entry<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    rel: &Path,
    display: &str,
    dest: &Path,
    space: &SpaceCheck,
    buf: &mut [u8],
) -> Result<()> {
    let name = rel
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    if name == OPAQUE_MARKER.as_bytes() {
        let dir = ensure_parents(dest, rel, display)?;
        let parent = dir.parent().unwrap_or(dest);
        xattr::set(parent, OPAQUE_XATTR, b"y")
            .map_err(ImageError::io("set opaque xattr on", parent))?;
        return Ok(());
    }
    if let Some(hidden) = name.strip_prefix(WHITEOUT_PREFIX.as_bytes()) {
        let path = ensure_parents(dest, rel, display)?;
        let target = path.with_file_name(OsStr::from_bytes(hidden));
        clear(&target, false)?;
        mknod(&target, SFlag::S_IFCHR, Mode::empty(), makedev(0, 0))
            .map_err(|errno| ImageError::io("create whiteout", &target)(io::Error::from(errno)))?;
        return Ok(());
    }

    let header = entry.header().clone();
    let kind = header.entry_type();
    let mode = header.mode().unwrap_or(0o644) & 0o7777;
    let uid = header.uid().ok().and_then(|u| u32::try_from(u).ok());
    let gid = header.gid().ok().and_then(|g| u32::try_from(g).ok());
    let path = ensure_parents(dest, rel, display)?;
    match kind {
        tar::EntryType::Directory => {
            if fs::symlink_metadata(&path).is_ok_and(|m| !m.is_dir()) {
                clear(&path, false)?;
            }
            if !path.exists() {
                fs::create_dir(&path).map_err(ImageError::io("mkdir", &path))?;
            }
            owner(&path, uid, gid)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(ImageError::io("chmod", &path))?;
        }
        tar::EntryType::Regular | tar::EntryType::Continuous => {
            let size = entry.size();
            space.ensure(size)?;
            clear(&path, false)?;
            let mut file = File::options()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(ImageError::io("create", &path))?;
            loop {
                let n = match entry.read(buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        return Err(ImageError::format(format!(
                            "reading layer entry {display:?}: {e}"
                        )))
                    }
                };
                file.write_all(&buf[..n])
                    .map_err(|e| space.write_error("write", &path, e))?;
            }
            if let Ok(mtime) = header.mtime() {
                let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(mtime);
                let _ = file.set_modified(when);
            }
            drop(file);
            owner(&path, uid, gid)?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(ImageError::io("chmod", &path))?;
            set_xattrs(entry, &path);
        }
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .ok_or_else(|| ImageError::format(format!("symlink {display:?} without a target")))?
                .into_owned();
            clear(&path, false)?;
            std::os::unix::fs::symlink(OsStr::from_bytes(&target), &path)
                .map_err(ImageError::io("symlink", &path))?;
            if uid.is_some() || gid.is_some() {
                std::os::unix::fs::lchown(&path, uid, gid)
                    .map_err(ImageError::io("lchown", &path))?;
            }
        }
        tar::EntryType::Link => {
            let raw = entry
                .link_name_bytes()
                .ok_or_else(|| {
                    ImageError::format(format!("hard link {display:?} without a target"))
                })?
                .into_owned();
            let target_display = String::from_utf8_lossy(&raw).into_owned();
            let out = |why: &str| {
                ImageError::hostile(display, format!("hard link to {target_display:?} {why}"))
            };
            let rel_target = match clean_path(&raw, &target_display) {
                Ok(Some(t)) => t,
                _ => return Err(out("leads out of the layer")),
            };
            let target = match ensure_parents(dest, &rel_target, display) {
                Ok(t) => t,
                Err(_) => return Err(out("goes through a symlink")),
            };
            match fs::symlink_metadata(&target) {
                Ok(m) if m.is_file() || m.file_type().is_symlink() => {}
                Ok(_) => return Err(out("is not a file")),
                Err(_) => return Err(out("names no earlier file of the layer")),
            }
            clear(&path, false)?;
            fs::hard_link(&target, &path).map_err(ImageError::io("link", &path))?;
        }
        tar::EntryType::Fifo => {
            clear(&path, false)?;
            nix::unistd::mkfifo(&path, Mode::from_bits_truncate(mode))
                .map_err(|errno| ImageError::io("mkfifo", &path)(io::Error::from(errno)))?;
            owner(&path, uid, gid)?;
        }
        tar::EntryType::Char | tar::EntryType::Block => {
            return Err(ImageError::hostile(
                display,
                "device nodes are not allowed in images",
            ));
        }
        // PAX and GNU long-name headers are read by the tar crate; anything
        // else (sparse files, volume labels) is not part of an image.
        other => {
            return Err(ImageError::format(format!(
                "layer entry {display:?}: unsupported entry type {other:?}"
            )));
        }
    }
    Ok(())
}

fn owner(path: &Path, uid: Option<u32>, gid: Option<u32>) -> Result<()> {
    std::os::unix::fs::lchown(path, uid, gid).map_err(ImageError::io("chown", path))
}

/// Extended attributes from PAX headers (`SCHILY.xattr.NAME`), such as
/// file capabilities; best effort, as a filesystem may not hold them.
fn set_xattrs<R: Read>(entry: &mut tar::Entry<'_, R>, path: &Path) {
    let Ok(Some(exts)) = entry.pax_extensions() else {
        return;
    };
    for ext in exts.flatten() {
        let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") else {
            continue;
        };
        let name = OsStr::from_bytes(name);
        if let Err(err) = xattr::set(path, name, ext.value_bytes()) {
            tracing::debug!(path = %path.display(), ?name, %err, "xattr not kept");
        }
    }
}
