//! `subPath` mounts made safe, as the kubelet's `hostutil`/`subpath`
//! packages do: the sub-path is created if missing one directory at a
//! time (`mkdirat` under a directory opened without following symlinks —
//! the kubelet's `doSafeMakeDir`), the existing part may hold symlinks
//! only if they resolve inside the volume, and what the container gets is
//! a bind mount of the file descriptor opened without following any
//! symlink (`/proc/self/fd/N`) onto
//! `pods/<uid>/volume-subpaths/<volume>/<container>/<index>`. A symlink
//! swapped in by a container between the check and the mount cannot make
//! the mount leave the volume, and nothing outside the volume's directory
//! is created or changed.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{open, openat, OFlag};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{fchmod, fstat, mkdirat, Mode, SFlag};

use crate::kubelet::volumes::tmpfs::is_mount_point;

/// Why a sub-path cannot be mounted.
#[derive(Debug, thiserror::Error)]
pub enum SubPathError {
    #[error("subpath {0:?} must be a relative path within the volume (no '..', not absolute)")]
    Invalid(String),
    #[error("subpath {path:?} not within volume path {volume:?}")]
    Escapes { path: PathBuf, volume: PathBuf },
    #[error("subpath {path:?}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(Errno) -> SubPathError + '_ {
    move |e| SubPathError::Io {
        path: path.to_path_buf(),
        source: io::Error::from(e),
    }
}

/// A `subPath` (or an expanded `subPathExpr`) stays inside its volume: not
/// absolute, no `..`.
pub fn valid(sub: &str) -> bool {
    let p = Path::new(sub);
    !sub.is_empty()
        && !p.is_absolute()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

fn normal_components(p: &Path) -> Vec<&OsStr> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n),
            _ => None,
        })
        .collect()
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Checks `sub` (relative, no `..`) and resolves the volume's directory:
/// the canonical volume path and `sub` joined to it.
fn resolve_base(volume: &Path, sub: &str) -> Result<(PathBuf, PathBuf), SubPathError> {
    if !valid(sub) {
        return Err(SubPathError::Invalid(sub.to_string()));
    }
    let base = fs::canonicalize(volume).map_err(|source| SubPathError::Io {
        path: volume.to_path_buf(),
        source,
    })?;
    let full = base.join(sub);
    Ok((base, full))
}

/// Create `sub` under `volume` if it is missing, one directory at a time,
/// each with the volume directory's mode (as the kubelet's `SafeMakeDir`),
/// never following a symlink out of the volume.
pub fn safe_make_dir(volume: &Path, sub: &str) -> Result<(), SubPathError> {
    let (base, full) = resolve_base(volume, sub)?;
    // The longest part that exists (following symlinks, as the kubelet's
    // `findExistingPrefix`), resolved, must be inside the volume.
    let comps = normal_components(Path::new(sub));
    let mut existing = 0;
    let mut probe = base.clone();
    for c in &comps {
        probe.push(c);
        if fs::symlink_metadata(&probe).is_err() {
            break;
        }
        existing += 1;
    }
    let mut prefix = base.clone();
    prefix.extend(&comps[..existing]);
    let resolved = fs::canonicalize(&prefix).map_err(|source| SubPathError::Io {
        path: prefix.clone(),
        source,
    })?;
    if !resolved.starts_with(&base) {
        return Err(SubPathError::Escapes {
            path: full,
            volume: base,
        });
    }
    if existing == comps.len() {
        return Ok(());
    }
    let perm = fs::metadata(&base)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o755);
    let rel = resolved.strip_prefix(&base).unwrap_or(Path::new(""));
    let mut dir = open_dir_at(&base, rel)?;
    let mut at = resolved.clone();
    for c in &comps[existing..] {
        at.push(c);
        match mkdirat(dir.as_fd(), *c, Mode::from_bits_truncate(perm)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(io_err(&at)(e)),
        }
        let child = openat(dir.as_fd(), *c, DIR_FLAGS, Mode::empty()).map_err(io_err(&at))?;
        // mkdirat is subject to the umask.
        fchmod(child.as_fd(), Mode::from_bits_truncate(perm)).map_err(io_err(&at))?;
        dir = child;
    }
    Ok(())
}

/// Open the directory `rel` under `base` one component at a time, none of
/// them a symlink.
fn open_dir_at(base: &Path, rel: &Path) -> Result<OwnedFd, SubPathError> {
    let mut fd = open(base, DIR_FLAGS, Mode::empty()).map_err(io_err(base))?;
    let mut at = base.to_path_buf();
    for c in normal_components(rel) {
        at.push(c);
        fd = openat(fd.as_fd(), c, DIR_FLAGS, Mode::empty()).map_err(io_err(&at))?;
    }
    Ok(fd)
}

/// Open `sub` under `volume` for the bind mount: symlinks in it may only
/// resolve inside the volume, and the resolved path is then opened without
/// following any symlink (`O_PATH|O_NOFOLLOW` for the last part, which may
/// be a file). Returns the descriptor and whether it is a directory.
pub fn safe_open(volume: &Path, sub: &str) -> Result<(OwnedFd, bool), SubPathError> {
    let (base, full) = resolve_base(volume, sub)?;
    let resolved = fs::canonicalize(&full).map_err(|source| SubPathError::Io {
        path: full.clone(),
        source,
    })?;
    if !resolved.starts_with(&base) {
        return Err(SubPathError::Escapes {
            path: full,
            volume: base,
        });
    }
    let rel = resolved.strip_prefix(&base).unwrap_or(Path::new(""));
    let comps = normal_components(rel);
    let Some((last, dirs)) = comps.split_last() else {
        // The volume itself.
        let fd = open(&base, DIR_FLAGS, Mode::empty()).map_err(io_err(&base))?;
        return Ok((fd, true));
    };
    let parent: PathBuf = dirs.iter().collect();
    let dir = open_dir_at(&base, &parent)?;
    let fd = openat(
        dir.as_fd(),
        *last,
        OFlag::O_PATH | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(io_err(&resolved))?;
    let st = fstat(fd.as_fd()).map_err(io_err(&resolved))?;
    let kind = SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT;
    if kind == SFlag::S_IFLNK {
        return Err(SubPathError::Escapes {
            path: full,
            volume: base,
        });
    }
    Ok((fd, kind == SFlag::S_IFDIR))
}

/// `pods/<uid>/volume-subpaths/<volume>/<container>/<index>` under the
/// pod's directory.
pub fn target(pod_dir: &Path, volume: &str, container: &str, index: usize) -> PathBuf {
    pod_dir
        .join("volume-subpaths")
        .join(volume)
        .join(container)
        .join(index.to_string())
}

/// Make `sub` of `volume` (creating it as a directory if missing) and bind
/// it onto `target`, replacing an earlier bind there.
pub fn prepare(volume: &Path, sub: &str, target: &Path) -> Result<(), SubPathError> {
    safe_make_dir(volume, sub)?;
    let (fd, is_dir) = safe_open(volume, sub)?;
    let tio = |source| SubPathError::Io {
        path: target.to_path_buf(),
        source,
    };
    while is_mount_point(target) {
        umount2(target, MntFlags::MNT_DETACH).map_err(io_err(target))?;
    }
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(tio)?;
    }
    match (fs::symlink_metadata(target), is_dir) {
        (Ok(m), true) if m.is_dir() => {}
        (Ok(m), false) if m.is_file() => {}
        (Ok(m), _) => {
            if m.is_dir() {
                fs::remove_dir(target).map_err(tio)?;
            } else {
                fs::remove_file(target).map_err(tio)?;
            }
            make_target(target, is_dir).map_err(tio)?;
        }
        (Err(_), _) => make_target(target, is_dir).map_err(tio)?,
    }
    let source = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    mount(
        Some(source.as_path()),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(io_err(target))?;
    Ok(())
}

fn make_target(target: &Path, is_dir: bool) -> io::Result<()> {
    if is_dir {
        fs::create_dir(target)
    } else {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn valid_sub_paths() {
        assert!(valid("a/b"));
        assert!(valid("./a"));
        assert!(!valid("../a"));
        assert!(!valid("a/../../b"));
        assert!(!valid("/etc"));
        assert!(!valid(""));
    }

    #[test]
    fn makes_missing_directories_with_the_volume_mode() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vol = tmp.path().join("vol");
        fs::create_dir(&vol).expect("mkdir");
        fs::set_permissions(&vol, fs::Permissions::from_mode(0o777)).expect("chmod");
        safe_make_dir(&vol, "a/b/c").expect("made");
        let m = fs::metadata(vol.join("a/b/c")).expect("made");
        assert!(m.is_dir());
        assert_eq!(m.permissions().mode() & 0o777, 0o777);
        // An inner symlink that stays inside is followed.
        symlink("a/b", vol.join("inner")).expect("symlink");
        safe_make_dir(&vol, "inner/d").expect("made");
        assert!(vol.join("a/b/d").is_dir());
        let (_, is_dir) = safe_open(&vol, "inner/d").expect("opened");
        assert!(is_dir);
    }

    #[test]
    fn symlinks_out_of_the_volume_are_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vol = tmp.path().join("vol");
        let outside = tmp.path().join("outside");
        fs::create_dir(&vol).expect("mkdir");
        fs::create_dir(&outside).expect("mkdir");
        fs::write(outside.join("secret"), "s").expect("write");
        symlink(&outside, vol.join("out")).expect("symlink");
        symlink("../outside/secret", vol.join("file")).expect("symlink");
        assert!(matches!(
            safe_make_dir(&vol, "out/new"),
            Err(SubPathError::Escapes { .. })
        ));
        assert!(!outside.join("new").exists(), "nothing made outside");
        assert!(matches!(
            safe_open(&vol, "out"),
            Err(SubPathError::Escapes { .. })
        ));
        assert!(matches!(
            safe_open(&vol, "file"),
            Err(SubPathError::Escapes { .. })
        ));
        assert!(matches!(
            safe_make_dir(&vol, "../outside"),
            Err(SubPathError::Invalid(_))
        ));
        assert!(matches!(
            safe_open(&vol, "/etc"),
            Err(SubPathError::Invalid(_))
        ));
    }

    #[test]
    fn bind_mounts_the_opened_path() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let vol = tmp.path().join("vol");
        fs::create_dir(&vol).expect("mkdir");
        fs::write(vol.join("f"), "hello").expect("write");
        let pod = tmp.path().join("pod");
        let t = target(&pod, "data", "c", 0);
        prepare(&vol, "sub", &t).expect("dir bind");
        fs::write(t.join("x"), "1").expect("write through the bind");
        assert_eq!(fs::read_to_string(vol.join("sub/x")).expect("read"), "1");
        // Again: the earlier bind replaced, not stacked.
        prepare(&vol, "sub", &t).expect("dir bind again");
        let tf = target(&pod, "data", "c", 1);
        prepare(&vol, "f", &tf).expect("file bind");
        assert_eq!(fs::read_to_string(&tf).expect("read"), "hello");
        crate::kubelet::volumes::tmpfs::unmount_under(&pod).expect("unmount");
        assert!(!is_mount_point(&t) && !is_mount_point(&tf));
    }
}
