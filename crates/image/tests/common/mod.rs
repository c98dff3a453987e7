//! Shared fixtures: a store in a temporary directory whose root
//! filesystems are unmounted when the test ends, and small tmpfs mounts.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use rkube_image::ImageStore;

/// A store in a fresh temporary directory; Drop removes every rootfs it
/// prepared (unmounting overlays) before the directory goes.
pub struct Fixture {
    pub store: ImageStore,
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open(dir.path().join("images")).unwrap();
        Fixture { store, dir }
    }

    /// A place for test files, outside the store.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        remove_snapshots(&self.store);
    }
}

pub fn remove_snapshots(store: &ImageStore) {
    if let Ok(entries) = std::fs::read_dir(store.dir().join("snapshots")) {
        for e in entries.flatten() {
            let key = e.file_name().to_string_lossy().into_owned();
            let _ = store.remove_rootfs(&key);
        }
    }
}

/// A tmpfs of `size_mib` MiB mounted on `dir`, unmounted on Drop.
pub struct Tmpfs(pub PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, size_mib: u64) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        nix::mount::mount(
            Some("tmpfs"),
            dir,
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size_mib}m").as_str()),
        )
        .expect("mount tmpfs (tests run as root)");
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// Run `cmd` in the rootfs with chroot; its stdout.
pub fn run_in(rootfs: &Path, cmd: &[&str]) -> String {
    let out = Command::new("chroot")
        .arg(rootfs)
        .args(cmd)
        .output()
        .expect("chroot (coreutils)");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every path under `dir`, relative, sorted.
pub fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        if let Ok(entries) = std::fs::read_dir(dir) {
            for e in entries.flatten() {
                let p = e.path();
                out.push(p.strip_prefix(base).unwrap().display().to_string());
                if e.file_type().unwrap().is_dir() {
                    walk(base, &p, out);
                }
            }
        }
    }
    walk(dir, dir, &mut out);
    out.sort();
    out
}
