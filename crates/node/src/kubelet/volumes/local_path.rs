//! The directories of rkube's local-path volumes on the real node
//! (`<data dir>/storage/local-path/<pv-name>`, as k3s's local-path
//! provisioner keeps them): the root made at start (0700: only root walks
//! to the volumes; containers see their volume through the bind mount),
//! a volume's directory made on its first mount (0777, as k3s, so that
//! containers running as any user can write), and removed when its
//! PersistentVolume is deleted — only a real directory strictly under the
//! root, never through a symlink, never across a mount.

use std::fs;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::sys::stat::{fchmod, mkdirat, Mode};

use crate::kubelet::volumes::tmpfs::mount_points;

/// Mode of a volume's directory (k3s's local-path provisioner).
pub const VOLUME_MODE: u32 = 0o777;
/// Mode of the root.
pub const ROOT_MODE: u32 = 0o700;

/// Why a local-path directory was not made or removed.
#[derive(Debug, thiserror::Error)]
pub enum LocalPathError {
    #[error("{path:?} is not a directory directly under the local-path root {root:?}")]
    OutsideRoot { path: PathBuf, root: PathBuf },
    #[error("{0:?} is a symlink: local-path volumes are real directories")]
    Symlink(PathBuf),
    #[error("hostPath type check failed: {0} is not a directory")]
    NotADirectory(String),
    #[error("{0:?} has a file system mounted inside it; not removed")]
    Mounted(PathBuf),
    #[error("{path:?}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> LocalPathError + '_ {
    move |source| LocalPathError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Make the root (absolute) if missing, 0700; returns it absolute.
pub fn ensure_root(root: &Path) -> Result<PathBuf, LocalPathError> {
    let root = std::path::absolute(root).map_err(io_at(root))?;
    if !root.exists() {
        fs::create_dir_all(&root).map_err(io_at(&root))?;
        fs::set_permissions(&root, fs::Permissions::from_mode(ROOT_MODE)).map_err(io_at(&root))?;
    }
    Ok(root)
}

/// The one path component of `path` under `root` when `path` is
/// `<root>/<name>` exactly (no `..`, `.` or deeper).
pub fn volume_name<'a>(path: &'a Path, root: &Path) -> Option<&'a str> {
    let rest = path.strip_prefix(root).ok()?;
    let mut comps = rest.components();
    match (comps.next(), comps.next()) {
        (Some(Component::Normal(n)), None) => n.to_str(),
        _ => None,
    }
}

/// Whether `path` is at or under `root` (as written): a hostPath PV there
/// is a local-path volume.
pub fn is_under_root(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}

/// Make `<root>/<name>` if it is missing (0777), refusing anything that
/// is there but is not a real directory.
pub fn ensure_volume_dir(path: &Path, root: &Path) -> Result<(), LocalPathError> {
    let Some(name) = volume_name(path, root) else {
        return Err(LocalPathError::OutsideRoot {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        });
    };
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => return Err(LocalPathError::Symlink(path.into())),
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(LocalPathError::NotADirectory(path.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_at(path)(e)),
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let errno = |e: Errno| io_at(path)(io::Error::from(e));
    let dir = open(root, flags, Mode::empty()).map_err(errno)?;
    match mkdirat(dir.as_fd(), name, Mode::from_bits_truncate(VOLUME_MODE)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(errno(e)),
    }
    let child =
        openat(dir.as_fd(), name, flags | OFlag::O_NOFOLLOW, Mode::empty()).map_err(errno)?;
    fchmod(child.as_fd(), Mode::from_bits_truncate(VOLUME_MODE)).map_err(errno)?;
    Ok(())
}

/// Remove the volume's directory `<root>/<name>` and all in it: refused
/// unless it is strictly under the root; a symlink there is removed as a
/// link, its target untouched; a directory with a mount inside is kept.
/// Missing is done.
pub fn remove_volume_dir(path: &Path, root: &Path) -> Result<(), LocalPathError> {
    if volume_name(path, root).is_none() {
        return Err(LocalPathError::OutsideRoot {
            path: path.to_path_buf(),
            root: root.to_path_buf(),
        });
    }
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_at(path)(e)),
    };
    if !meta.is_dir() {
        // A symlink or a file in the volume's place: only the entry goes.
        return fs::remove_file(path).map_err(io_at(path));
    }
    let canonical = fs::canonicalize(path).map_err(io_at(path))?;
    if mount_points()
        .iter()
        .any(|m| m.starts_with(&canonical) || m.starts_with(path))
    {
        return Err(LocalPathError::Mounted(path.to_path_buf()));
    }
    // std's remove_dir_all does not follow symlinks inside the tree.
    fs::remove_dir_all(path).map_err(io_at(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn makes_volume_directories() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = ensure_root(&tmp.path().join("storage/local-path")).expect("root");
        assert_eq!(
            fs::metadata(&root).expect("root").permissions().mode() & 0o777,
            ROOT_MODE
        );
        let v = root.join("pvc-1");
        ensure_volume_dir(&v, &root).expect("made");
        assert_eq!(
            fs::metadata(&v).expect("made").permissions().mode() & 0o777,
            0o777
        );
        ensure_volume_dir(&v, &root).expect("again");
        fs::write(root.join("afile"), "x").expect("write");
        assert!(matches!(
            ensure_volume_dir(&root.join("afile"), &root),
            Err(LocalPathError::NotADirectory(_))
        ));
        assert!(matches!(
            ensure_volume_dir(&root.join("a/b"), &root),
            Err(LocalPathError::OutsideRoot { .. })
        ));
        assert!(matches!(
            ensure_volume_dir(&tmp.path().join("x"), &root),
            Err(LocalPathError::OutsideRoot { .. })
        ));
        symlink(tmp.path(), root.join("link")).expect("symlink");
        assert!(matches!(
            ensure_volume_dir(&root.join("link"), &root),
            Err(LocalPathError::Symlink(_))
        ));
    }

    #[test]
    fn cleanup_stays_inside_the_root() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = ensure_root(&tmp.path().join("root")).expect("root");
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("keep"), "k").expect("write");

        // Not under the root, the root itself, `..` and nested paths.
        for p in [
            outside.clone(),
            root.clone(),
            root.join("../outside"),
            root.join("a/b"),
            PathBuf::from("/"),
        ] {
            assert!(
                matches!(
                    remove_volume_dir(&p, &root),
                    Err(LocalPathError::OutsideRoot { .. })
                ),
                "{p:?} refused"
            );
        }
        // A symlink in the volume's place: the link goes, not its target.
        symlink(&outside, root.join("pvc-link")).expect("symlink");
        remove_volume_dir(&root.join("pvc-link"), &root).expect("link removed");
        assert!(outside.join("keep").exists());
        // Symlinks inside the volume are not followed.
        let v = root.join("pvc-2");
        ensure_volume_dir(&v, &root).expect("made");
        fs::write(v.join("data"), "d").expect("write");
        symlink(&outside, v.join("escape")).expect("symlink");
        remove_volume_dir(&v, &root).expect("removed");
        assert!(!v.exists());
        assert!(outside.join("keep").exists(), "outside kept");
        remove_volume_dir(&v, &root).expect("missing is done");
    }
}
