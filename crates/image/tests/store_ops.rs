//! List, resolve, remove, garbage collection, the import directory, and
//! the load time of a 100 MiB image.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::{tree, Fixture, Tmpfs};
use rkube_image::test_support::{
    busybox_image, layer_tar, write_archive, Compress, Entry, Format, TestImage,
};
use rkube_image::ImageStore;

/// Bytes that do not compress, different for each `seed`.
fn noise(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2654435761) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn noise_image(name: &str, mib: usize, seed: u32) -> TestImage {
    TestImage::new(
        name,
        vec![layer_tar(&[Entry::File(
            "data".into(),
            noise(mib << 20, seed),
            0o644,
        )])],
    )
}

#[test]
fn list_resolve_and_remove() {
    let fx = Fixture::new();
    let path = fx.path("bb.tar");
    let image = busybox_image("busybox").unwrap();
    write_archive(
        std::slice::from_ref(&image),
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    let info = fx.store.load_file(&path).unwrap().remove(0);
    assert_eq!(info.repo_tags, vec!["docker.io/library/busybox:latest"]);
    assert!(info.size > 1 << 20);
    // Every spelling of the name, the id and its 12-digit prefix.
    for name in [
        "busybox",
        "busybox:latest",
        "docker.io/library/busybox",
        &info.id,
        &info.id[7..19],
    ] {
        assert_eq!(
            fx.store.resolve(name).unwrap().unwrap().id,
            info.id,
            "{name}"
        );
    }
    assert!(fx.store.resolve("busybox:other").unwrap().is_none());

    // A second name; removing one name keeps the image.
    let tagged = TestImage {
        name: "localhost:5000/bb:v2".into(),
        ..image
    };
    write_archive(
        &[tagged],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    fx.store.load_file(&path).unwrap();
    let listed = fx.store.list().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].repo_tags.len(), 2);
    fx.store.remove("busybox").unwrap();
    assert_eq!(
        fx.store.list().unwrap()[0].repo_tags,
        vec!["localhost:5000/bb:v2"]
    );
    fx.store.remove("localhost:5000/bb:v2").unwrap();
    assert!(fx.store.list().unwrap().is_empty());
    assert!(tree(&fx.store.dir().join("blobs/sha256")).is_empty());
    assert!(tree(&fx.store.dir().join("layers")).is_empty());
    let err = fx.store.remove("busybox").unwrap_err().to_string();
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn removing_an_image_keeps_the_layers_a_rootfs_uses() {
    let fx = Fixture::new();
    let path = fx.path("bb.tar");
    write_archive(
        &[busybox_image("bb:1").unwrap()],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    fx.store.load_file(&path).unwrap();
    let rootfs = fx.store.prepare_rootfs("running", "bb:1").unwrap();
    fx.store.remove("bb:1").unwrap();
    assert!(common::run_in(&rootfs, &["/bin/echo", "still"]).contains("still"));
    fx.store.remove_rootfs("running").unwrap();
}

#[test]
fn gc_removes_unused_images_oldest_first_down_to_the_low_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("fs");
    let _tmpfs = Tmpfs::mount(&mnt, 24);
    let store = ImageStore::open(mnt.join("images")).unwrap();
    let mut ids = Vec::new();
    for (i, name) in ["old:1", "mid:1", "new:1"].iter().enumerate() {
        let path = dir.path().join(format!("{i}.tar"));
        write_archive(
            &[noise_image(name, 3, i as u32 + 1)],
            Format::DockerLegacy,
            Compress::None,
            Compress::None,
            &path,
        )
        .unwrap();
        ids.push(store.load_file(&path).unwrap().remove(0).id);
    }
    // 3 images of 3 MiB blob + 3 MiB unpacked on 24 MiB: about 75 %.
    assert!(
        store.gc(85, 80, &[]).unwrap().is_empty(),
        "below the high threshold"
    );
    let removed = store.gc(50, 30, std::slice::from_ref(&ids[0])).unwrap();
    // "old" is in use: "mid" goes first, then "new", until below 30 %.
    assert_eq!(removed, vec![ids[1].clone(), ids[2].clone()]);
    let left: Vec<_> = store.list().unwrap().into_iter().map(|i| i.id).collect();
    assert_eq!(left, vec![ids[0].clone()]);
}

#[test]
fn import_directory_loads_each_new_file_once() {
    let fx = Fixture::new();
    let import = fx.store.import_dir_path();
    write_archive(
        &[busybox_image("imported:1").unwrap()],
        Format::Oci,
        Compress::Gzip,
        Compress::Zstd,
        &import.join("a.tar.zst"),
    )
    .unwrap();
    std::fs::write(import.join("broken.tar"), b"junk").unwrap();
    let first = fx.store.import_dir(&import).unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.iter().any(|i| i.result.is_err()));
    assert!(fx.store.resolve("imported:1").unwrap().unwrap().loaded);
    assert!(
        fx.store.import_dir(&import).unwrap().is_empty(),
        "nothing new"
    );
    // Replaced by another file: imported again.
    write_archive(
        &[busybox_image("imported:2").unwrap()],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &import.join("a.tar.zst"),
    )
    .unwrap();
    assert_eq!(fx.store.import_dir(&import).unwrap().len(), 1);
    assert!(fx.store.resolve("imported:2").unwrap().is_some());
}

#[tokio::test]
async fn the_import_loop_picks_up_files_dropped_while_running() {
    let fx = Fixture::new();
    let import = fx.store.import_dir_path();
    let task = tokio::spawn(rkube_image::watch_import_dir(
        fx.store.clone(),
        import.clone(),
        Duration::from_millis(200),
    ));
    write_archive(
        &[busybox_image("dropped:1").unwrap()],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &fx.path("x.tar"),
    )
    .unwrap();
    std::fs::rename(fx.path("x.tar"), import.join("x.tar")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while fx.store.resolve("dropped:1").unwrap().is_none() {
        assert!(Instant::now() < deadline, "not imported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    task.abort();
}

#[test]
fn a_100_mib_image_loads_whole() {
    let fx = Fixture::new();
    let layers = (0..4)
        .map(|i| layer_tar(&[Entry::File(format!("f{i}"), noise(25 << 20, i + 7), 0o644)]))
        .collect();
    let path = fx.path("big.tar");
    write_archive(
        &[TestImage::new("big:1", layers)],
        Format::DockerLegacy,
        Compress::None,
        Compress::None,
        &path,
    )
    .unwrap();
    // How fast: `rkube bench node` measures it (target ≤ 2 s).
    fx.store.load_file(&path).unwrap();
    let info = fx.store.resolve("big:1").unwrap().expect("big:1 is loaded");
    // Four layers of 25 MiB of noise (incompressible) are all on disk.
    assert!(info.size >= 100 << 20, "only {} bytes on disk", info.size);
}

#[test]
fn loads_from_several_processes_at_once_lose_nothing() {
    let fx = Fixture::new();
    let mut paths = Vec::new();
    for i in 0..4u32 {
        let path = fx.path(&format!("{i}.tar"));
        write_archive(
            &[noise_image(&format!("p{i}:1"), 1, i + 100)],
            Format::DockerLegacy,
            Compress::None,
            Compress::None,
            &path,
        )
        .unwrap();
        paths.push(path);
    }
    // Each thread opens the store on its own, as another process would:
    // only the index lock and renames keep them apart.
    let dir = fx.store.dir().to_path_buf();
    let threads: Vec<_> = paths
        .into_iter()
        .map(|path| {
            let dir = dir.clone();
            std::thread::spawn(move || ImageStore::open(dir).unwrap().load_file(&path).unwrap())
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut names: Vec<_> = fx
        .store
        .list()
        .unwrap()
        .into_iter()
        .flat_map(|i| i.repo_tags)
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "docker.io/library/p0:1",
            "docker.io/library/p1:1",
            "docker.io/library/p2:1",
            "docker.io/library/p3:1"
        ]
    );
}
