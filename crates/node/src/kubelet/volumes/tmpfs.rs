//! Memory-backed volumes: a tmpfs mounted on the volume's directory (kept
//! across restarts of the node agent: mounted only if not mounted yet),
//! and unmounting every mount under a pod's directory on teardown.

use std::io;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};

/// Undo the octal escapes of `/proc/self/mountinfo` (`\040` for a space).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points of this mount namespace.
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|p| PathBuf::from(unescape(p))))
        .collect()
}

/// Whether `path` is a mount point.
pub fn is_mount_point(path: &Path) -> bool {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mount_points().contains(&path)
}

/// Mount a tmpfs of `size` bytes (0: the kernel's default) on `dir`
/// unless one is there already.
pub fn ensure_tmpfs(dir: &Path, size: u64) -> io::Result<()> {
    if is_mount_point(dir) {
        return Ok(());
    }
    let opts = if size > 0 {
        format!("mode=0777,size={size}")
    } else {
        "mode=0777".to_string()
    };
    mount(
        Some("tmpfs"),
        dir,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(opts.as_str()),
    )
    .map_err(io::Error::from)
}

/// Unmount every mount at or under `root`, deepest first.
pub fn unmount_under(root: &Path) -> io::Result<()> {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut under: Vec<PathBuf> = mount_points()
        .into_iter()
        .filter(|m| m.starts_with(&root))
        .collect();
    under.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    under.dedup();
    for m in under {
        // Mounted several times over: undo each.
        while is_mount_point(&m) {
            umount2(&m, MntFlags::MNT_DETACH).map_err(io::Error::from)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescapes_mountinfo() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }

    /// Needs root (tests run as root here).
    #[test]
    fn mounts_once_and_unmounts() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("mem");
        std::fs::create_dir(&dir).expect("mkdir");
        ensure_tmpfs(&dir, 1 << 20).expect("mount tmpfs (tests must run as root)");
        ensure_tmpfs(&dir, 1 << 20).expect("again");
        assert!(is_mount_point(&dir));
        let count = mount_points()
            .iter()
            .filter(|m| **m == dir.canonicalize().expect("c"))
            .count();
        assert_eq!(count, 1);
        unmount_under(tmp.path()).expect("unmount");
        assert!(!is_mount_point(&dir));
    }
}
