//! How much disk a directory uses (allocated blocks, not following
//! symlinks or crossing into other file systems): emptyDir and log usage
//! for ephemeral-storage eviction.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Bytes allocated under `path`; 0 if it does not exist.
pub fn disk_usage(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else {
        return 0;
    };
    let mut total = meta.blocks() * 512;
    if meta.is_dir() {
        let dev = meta.dev();
        for entry in fs::read_dir(path).into_iter().flatten().flatten() {
            let p = entry.path();
            match fs::symlink_metadata(&p) {
                Ok(m) if m.is_dir() && m.dev() != dev => {}
                Ok(_) => total += disk_usage(&p),
                Err(_) => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_files() {
        let tmp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(tmp.path().join("d")).expect("mkdir");
        fs::write(tmp.path().join("d/f"), vec![1u8; 100_000]).expect("write");
        assert!(disk_usage(tmp.path()) >= 100_000);
        assert_eq!(disk_usage(&tmp.path().join("none")), 0);
    }
}
