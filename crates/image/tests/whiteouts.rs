//! A two-layer image with a whiteout and an opaque directory, seen through
//! an overlay rootfs and a copied one: both show the same tree.
#![allow(clippy::unwrap_used)]

mod common;

use common::{tree, Fixture};
use rkube_image::test_support::{layer_tar, write_archive, Compress, Entry, Format, TestImage};

fn image() -> TestImage {
    let lower = layer_tar(&[
        Entry::Dir("etc/".into(), 0o755),
        Entry::File("etc/keep".into(), b"keep".to_vec(), 0o644),
        Entry::File("etc/gone".into(), b"gone".to_vec(), 0o644),
        Entry::Dir("data/".into(), 0o755),
        Entry::File("data/old1".into(), b"1".to_vec(), 0o644),
        Entry::Dir("data/sub/".into(), 0o755),
        Entry::File("data/sub/old2".into(), b"2".to_vec(), 0o644),
        Entry::Dir("dir/".into(), 0o755),
        Entry::File("dir/inner".into(), b"i".to_vec(), 0o644),
        Entry::File("replaced".into(), b"v1".to_vec(), 0o644),
    ]);
    let upper = layer_tar(&[
        Entry::whiteout("etc", "gone"),
        Entry::Dir("data/".into(), 0o755),
        Entry::opaque("data"),
        Entry::File("data/new".into(), b"n".to_vec(), 0o644),
        Entry::whiteout("", "dir"),
        Entry::File("replaced".into(), b"v2".to_vec(), 0o600),
    ]);
    TestImage::new("layered:1", vec![lower, upper])
}

const WANT: &[&str] = &["data", "data/new", "etc", "etc/keep", "replaced"];

fn check(copy: bool) {
    let fx = Fixture::new();
    let store = if copy {
        fx.store.clone().without_overlay()
    } else {
        fx.store.clone()
    };
    let path = fx.path("layered.tar");
    write_archive(
        &[image()],
        Format::Oci,
        Compress::Gzip,
        Compress::None,
        &path,
    )
    .unwrap();
    store.load_file(&path).unwrap();
    let rootfs = store.prepare_rootfs("w", "layered:1").unwrap();
    assert_eq!(rkube_image::is_mounted(&rootfs), !copy);
    assert_eq!(tree(&rootfs), WANT, "copy: {copy}");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("replaced")).unwrap(),
        "v2"
    );
    // The unpacked layers stay as they were: shared, never written to.
    std::fs::write(rootfs.join("etc/keep"), "changed").unwrap();
    let layers = fx.store.dir().join("layers");
    let keep: Vec<_> = std::fs::read_dir(&layers)
        .unwrap()
        .flatten()
        .map(|e| e.path().join("etc/keep"))
        .filter(|p| p.exists())
        .collect();
    assert_eq!(keep.len(), 1);
    assert_eq!(std::fs::read_to_string(&keep[0]).unwrap(), "keep");
}

#[test]
fn overlay_rootfs_honours_whiteouts_and_opaque_dirs() {
    check(false);
}

#[test]
fn copied_rootfs_honours_whiteouts_and_opaque_dirs() {
    check(true);
}
