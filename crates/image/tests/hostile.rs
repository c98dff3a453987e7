//! Hostile archives are refused with a clear error, and nothing is
//! written outside the store — nor kept inside it.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{tree, Fixture, Tmpfs};
use rkube_image::test_support::{layer_tar, write_archive, Compress, Entry, Format, TestImage};

/// Load an image made of `entries` into a fresh store; the error message.
/// Checks that `outside` stayed empty and the store holds nothing.
fn refused(entries: Vec<Entry>, outside: &Path, fx: &Fixture) -> String {
    let image = TestImage::new("hostile:1", vec![layer_tar(&entries)]);
    let path = fx.path("hostile.tar");
    write_archive(
        &[image],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    let err = fx.store.load_file(&path).unwrap_err().to_string();
    assert!(
        tree(outside).is_empty(),
        "written outside: {:?}",
        tree(outside)
    );
    assert!(fx.store.list().unwrap().is_empty());
    for dir in ["layers", "tmp", "blobs/sha256"] {
        assert!(
            tree(&fx.store.dir().join(dir)).is_empty(),
            "{dir} kept: {:?}",
            tree(&fx.store.dir().join(dir))
        );
    }
    err
}

fn fixture() -> (Fixture, std::path::PathBuf) {
    let fx = Fixture::new();
    let outside = fx.path("outside");
    std::fs::create_dir(&outside).unwrap();
    (fx, outside)
}

#[test]
fn absolute_paths_are_refused() {
    let (fx, outside) = fixture();
    let target = format!("{}/abs", outside.display());
    let err = refused(
        vec![Entry::File(target, b"x".to_vec(), 0o644)],
        &outside,
        &fx,
    );
    assert!(err.contains("absolute path"), "{err}");
}

#[test]
fn dot_dot_is_refused() {
    let (fx, outside) = fixture();
    // The store is DIR/images; its staging dirs are DIR/images/tmp/X.
    let err = refused(
        vec![Entry::File(
            "../../../outside/up".into(),
            b"x".to_vec(),
            0o644,
        )],
        &outside,
        &fx,
    );
    assert!(err.contains("\"..\""), "{err}");
}

#[test]
fn writing_through_a_symlink_out_of_the_rootfs_is_refused() {
    let (fx, outside) = fixture();
    let err = refused(
        vec![
            Entry::Symlink("escape".into(), outside.display().to_string()),
            Entry::File("escape/pwned".into(), b"x".to_vec(), 0o644),
        ],
        &outside,
        &fx,
    );
    assert!(err.contains("symlink"), "{err}");
    let err = refused(
        vec![
            Entry::Symlink("rel".into(), "../../../../outside".into()),
            Entry::Dir("rel/sub/".into(), 0o755),
        ],
        &outside,
        &fx,
    );
    assert!(err.contains("symlink"), "{err}");
}

#[test]
fn hard_links_out_of_the_layer_are_refused() {
    let (fx, outside) = fixture();
    std::fs::write(fx.path("secret"), "s").unwrap();
    let secret = fx.path("secret").display().to_string();
    for target in [secret.as_str(), "../../../secret", "not-in-layer"] {
        let err = refused(
            vec![Entry::HardLink("link".into(), target.to_string())],
            &outside,
            &fx,
        );
        assert!(err.contains("hard link"), "{target}: {err}");
    }
    // Through a symlink to the outside.
    let err = refused(
        vec![
            Entry::Symlink("s".into(), fx.path("").display().to_string()),
            Entry::HardLink("link".into(), "s/secret".into()),
        ],
        &outside,
        &fx,
    );
    assert!(err.contains("hard link"), "{err}");
}

#[test]
fn device_nodes_are_refused() {
    let (fx, outside) = fixture();
    let err = refused(
        vec![Entry::CharDevice("dev/mem".into(), 1, 1)],
        &outside,
        &fx,
    );
    assert!(err.contains("device nodes"), "{err}");
}

#[test]
fn a_layer_larger_than_the_free_disk_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    let _tmpfs = Tmpfs::mount(&mnt, 8);
    let store = rkube_image::ImageStore::open(mnt.join("images")).unwrap();
    // 12 MiB of data that does not compress: refused from the blob's size.
    let big: Vec<u8> = (0..12u32 << 20)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let image = TestImage::new(
        "big:1",
        vec![layer_tar(&[Entry::File("big".into(), big.clone(), 0o644)])],
    );
    let path = dir.path().join("big.tar");
    write_archive(
        &[image],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    let err = store.load_file(&path).unwrap_err().to_string();
    assert!(err.contains("not enough disk space"), "{err}");
    // A small compressed layer whose content is larger than the disk:
    // refused while unpacking.
    let zeros = vec![0u8; 12 << 20];
    let image = TestImage::new(
        "bomb:1",
        vec![layer_tar(&[Entry::File("zeros".into(), zeros, 0o644)])],
    );
    write_archive(
        &[image],
        Format::DockerLegacy,
        Compress::Gzip,
        Compress::None,
        &path,
    )
    .unwrap();
    let err = store.load_file(&path).unwrap_err().to_string();
    assert!(err.contains("not enough disk space"), "{err}");
    assert!(store.list().unwrap().is_empty());
    assert!(tree(&mnt.join("images/tmp")).is_empty());
    assert!(tree(&mnt.join("images/layers")).is_empty());
}
