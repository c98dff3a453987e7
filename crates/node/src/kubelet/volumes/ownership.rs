//! `fsGroup` ownership: the volume's files and directories owned by the
//! group, directories setgid so new files inherit it; with
//! `fsGroupChangePolicy: OnRootMismatch` the walk is skipped when the
//! volume's root already has the group and the permissions (the kubelet's
//! `skipPermissionChange`).

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
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

/// The volume's root already belongs to `gid`, is group-writable and
/// setgid: `OnRootMismatch` leaves the tree as it is.
pub fn root_matches(root: &Path, gid: u32) -> bool {
    fs::symlink_metadata(root).is_ok_and(|m| {
        let mode = m.permissions().mode();
        m.is_dir() && m.gid() == gid && mode & 0o2000 != 0 && mode & 0o060 == 0o060
    })
}

/// Apply `fsGroup` to a claim's volume under `policy` (`Always`, the
/// default, or `OnRootMismatch`).
pub fn apply(root: &Path, gid: u32, policy: &str) -> io::Result<()> {
    if policy == "OnRootMismatch" && root_matches(root, gid) {
        return Ok(());
    }
    set_volume_ownership(root, gid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_root_mismatch_skips_a_matching_root() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().join("v");
        fs::create_dir(&root).expect("mkdir");
        fs::write(root.join("f"), "x").expect("write");
        fs::set_permissions(root.join("f"), fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(!root_matches(&root, 4242));
        apply(&root, 4242, "OnRootMismatch").expect("applied");
        assert!(root_matches(&root, 4242));
        let f = fs::metadata(root.join("f")).expect("f");
        assert_eq!(f.gid(), 4242);
        assert_eq!(f.permissions().mode() & 0o660, 0o660);
        // A new file the walk would fix is left alone once the root matches.
        fs::write(root.join("g"), "y").expect("write");
        nix::unistd::chown(&root.join("g"), None, Some(Gid::from_raw(0))).expect("chown");
        apply(&root, 4242, "OnRootMismatch").expect("skipped");
        assert_eq!(fs::metadata(root.join("g")).expect("g").gid(), 0);
        apply(&root, 4242, "Always").expect("walked");
        assert_eq!(fs::metadata(root.join("g")).expect("g").gid(), 4242);
    }
}
