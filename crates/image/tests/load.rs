//! Loading busybox in every archive format and compression, then running
//! it from a prepared root filesystem.
#![allow(clippy::unwrap_used)]

mod common;

use common::{run_in, Fixture};
use rkube_image::test_support::{busybox_image, write_archive, write_dir, Compress, Format};

fn load_and_run(format: Format, layers: Compress, outer: Compress, as_dir: bool) {
    let fx = Fixture::new();
    let image = busybox_image("busybox:test").unwrap();
    let path = fx.path("archive");
    if as_dir {
        write_dir(std::slice::from_ref(&image), format, layers, &path).unwrap();
    } else {
        write_archive(std::slice::from_ref(&image), format, layers, outer, &path).unwrap();
    }
    let loaded = fx.store.load_file(&path).unwrap();
    let case = format!("{format:?} layers {layers:?} outer {outer:?} dir {as_dir}");
    assert_eq!(loaded.len(), 1, "{case}");
    let info = &loaded[0];
    assert_eq!(info.id, image.id(), "{case}");
    assert!(info.loaded, "{case}");
    assert_eq!(info.cmd, vec!["sh".to_string()]);
    if format != Format::OciTagOnly {
        assert_eq!(
            info.repo_tags,
            vec!["docker.io/library/busybox:test".to_string()],
            "{case}"
        );
        let found = fx.store.resolve("busybox:test").unwrap().unwrap();
        assert_eq!(found.id, info.id);
    }
    let rootfs = fx.store.prepare_rootfs("c1", &info.id).unwrap();
    assert_eq!(
        run_in(&rootfs, &["/bin/echo", "hello"]),
        "hello\n",
        "{case}"
    );
    // The rootfs is writable, and preparing it again gives the same one.
    run_in(&rootfs, &["/bin/sh", "-c", "echo kept > /tmp/f"]);
    let again = fx.store.prepare_rootfs("c1", &info.id).unwrap();
    assert_eq!(again, rootfs);
    assert_eq!(
        std::fs::read_to_string(rootfs.join("tmp/f")).unwrap(),
        "kept\n"
    );
    fx.store.remove_rootfs("c1").unwrap();
    assert!(!rootfs.exists());
    // Nothing is left in the staging area.
    assert!(common::tree(&fx.store.dir().join("tmp")).is_empty());
}

#[test]
fn docker_save_legacy_plain_gzip_zstd() {
    load_and_run(Format::DockerLegacy, Compress::None, Compress::None, false);
    load_and_run(Format::DockerLegacy, Compress::None, Compress::Gzip, false);
    load_and_run(Format::DockerLegacy, Compress::None, Compress::Zstd, false);
    load_and_run(Format::DockerLegacy, Compress::Gzip, Compress::None, false);
}

#[test]
fn docker_save_oci_variant() {
    load_and_run(Format::DockerOci, Compress::None, Compress::None, false);
    load_and_run(Format::DockerOci, Compress::Gzip, Compress::Zstd, false);
}

#[test]
fn oci_layout_tar_and_directory() {
    load_and_run(Format::Oci, Compress::Gzip, Compress::None, false);
    load_and_run(Format::Oci, Compress::Zstd, Compress::Gzip, false);
    load_and_run(Format::Oci, Compress::Gzip, Compress::None, true);
    load_and_run(Format::Oci, Compress::None, Compress::None, true);
    load_and_run(Format::OciTagOnly, Compress::Gzip, Compress::None, true);
}

#[test]
fn copy_snapshot_runs_busybox_too() {
    let fx = Fixture::new();
    let store = fx.store.clone().without_overlay();
    let image = busybox_image("busybox:copy").unwrap();
    let path = fx.path("a.tar");
    write_archive(
        &[image],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    let info = store.load_file(&path).unwrap().remove(0);
    let rootfs = store.prepare_rootfs("copy1", "busybox:copy").unwrap();
    assert!(!rkube_image::is_mounted(&rootfs));
    assert_eq!(run_in(&rootfs, &["/bin/echo", "copied"]), "copied\n");
    // After a restart (a new store value), the same rootfs is returned.
    let reopened = rkube_image::ImageStore::open(store.dir()).unwrap();
    assert_eq!(reopened.prepare_rootfs("copy1", &info.id).unwrap(), rootfs);
    store.remove_rootfs("copy1").unwrap();
}

#[test]
fn overlay_is_mounted_again_after_a_reboot() {
    let fx = Fixture::new();
    let path = fx.path("a.tar");
    write_archive(
        &[busybox_image("busybox:re").unwrap()],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    fx.store.load_file(&path).unwrap();
    let rootfs = fx.store.prepare_rootfs("k", "busybox:re").unwrap();
    assert!(rkube_image::is_mounted(&rootfs));
    std::fs::write(rootfs.join("tmp/state"), "x").unwrap();
    nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH).unwrap();
    let again = fx.store.prepare_rootfs("k", "busybox:re").unwrap();
    assert!(rkube_image::is_mounted(&again));
    assert_eq!(
        std::fs::read_to_string(again.join("tmp/state")).unwrap(),
        "x"
    );
}

#[test]
fn two_images_in_one_archive_share_their_layer() {
    let fx = Fixture::new();
    let a = busybox_image("a:1").unwrap();
    let mut b = busybox_image("localhost:5000/b").unwrap();
    b.cmd = vec!["echo".into(), "b".into()];
    let path = fx.path("two.tar.gz");
    write_archive(
        &[a, b],
        Format::DockerLegacy,
        Compress::None,
        Compress::Gzip,
        &path,
    )
    .unwrap();
    let loaded = fx.store.load_file(&path).unwrap();
    assert_eq!(loaded.len(), 2);
    let names: Vec<_> = fx
        .store
        .list()
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    assert_eq!(
        names,
        vec!["docker.io/library/a:1", "localhost:5000/b:latest"]
    );
    assert_eq!(
        std::fs::read_dir(fx.store.dir().join("layers"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn not_an_archive_is_a_clear_error() {
    let fx = Fixture::new();
    let path = fx.path("junk");
    std::fs::write(&path, b"this is not an image").unwrap();
    let err = fx.store.load_file(&path).unwrap_err().to_string();
    assert!(err.contains("not an image archive"), "{err}");
    let err = fx
        .store
        .load_file(&fx.path("missing"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("No such file"), "{err}");
}
