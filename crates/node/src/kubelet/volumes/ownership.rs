//! `fsGroup` ownership: the volume's files and directories owned by the
//! group, directories setgid so new files inherit it.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nix::unistd::{chown, Gid};

/// Give `path` (not following a symlink's target) to group `gid`.
pub fn chown_group(path: &Path, gid: u32) -> io::Result<()> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        return Ok(());
    }
    chown(path, None, Some(Gid::from_raw(gid))).map_err(io::Error::from)
}

/// A writable volume's directory tree (emptyDir) to `gid`: group rw on
/// everything, setgid on directories, as the kubelet's
/// `SetVolumeOwnership`.
pub fn set_volume_ownership(root: &Path, gid: u32) -> io::Result<()> {
    let meta = fs::symlink_metadata(root)?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    chown_group(root, gid)?;
    let mode = meta.permissions().mode() & 0o7777;
    if meta.is_dir() {
        fs::set_permissions(root, fs::Permissions::from_mode(mode | 0o2770))?;
        for entry in fs::read_dir(root)? {
            set_volume_ownership(&entry?.path(), gid)?;
        }
    } else {
        fs::set_permissions(root, fs::Permissions::from_mode(mode | 0o660))?;
    }
    Ok(())
}
