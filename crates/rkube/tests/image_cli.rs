//! `rkube image load|ls|rm` through the built binary.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Output};

use rkube_image::test_support::{busybox_image, write_archive, write_dir, Compress, Format};

fn rkube(data_dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rkube"))
        .arg("image")
        .args(args)
        .env("RKUBE_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn load_list_and_remove_images() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let image = busybox_image("busybox").unwrap();
    let tar = dir.path().join("busybox.tar.gz");
    write_archive(
        std::slice::from_ref(&image),
        Format::DockerLegacy,
        Compress::None,
        Compress::Gzip,
        &tar,
    )
    .unwrap();
    let mut other = busybox_image("localhost:5000/app:v1").unwrap();
    other.cmd = vec!["echo".into()];
    let layout = dir.path().join("layout");
    write_dir(
        std::slice::from_ref(&other),
        Format::Oci,
        Compress::Zstd,
        &layout,
    )
    .unwrap();

    let out = stdout(&rkube(
        &data,
        &["load", tar.to_str().unwrap(), layout.to_str().unwrap()],
    ));
    let short = &image.id()[7..19];
    assert_eq!(
        out,
        format!(
            "Loaded image: docker.io/library/busybox:latest ({short})\nLoaded image: localhost:5000/app:v1 ({})\n",
            &other.id()[7..19]
        )
    );

    let out = stdout(&rkube(&data, &["ls"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(header, ["IMAGE", "ID", "SIZE"]);
    let row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(row[0], "docker.io/library/busybox:latest");
    assert_eq!(row[1], short);
    assert!(row[2].ends_with("MB"), "{out}");
    assert!(lines[2].starts_with("localhost:5000/app:v1"), "{out}");

    // --data-dir overrides the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_rkube"))
        .args(["image", "ls", "--data-dir"])
        .arg(dir.path().join("empty"))
        .output()
        .unwrap();
    assert_eq!(stdout(&out).lines().count(), 1);

    assert_eq!(
        stdout(&rkube(&data, &["rm", "busybox"])),
        "Deleted: busybox\n"
    );
    let out = stdout(&rkube(&data, &["ls"]));
    assert!(!out.contains("busybox"), "{out}");
}

#[test]
fn errors_exit_non_zero_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = rkube(&data, &["rm", "nothing-here"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot remove nothing-here") && err.contains("not found"),
        "{err}"
    );

    let junk = dir.path().join("junk.tar");
    std::fs::write(&junk, b"junk").unwrap();
    let out = rkube(&data, &["load", junk.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot load") && err.contains("not an image archive"),
        "{err}"
    );

    let out = rkube(&data, &["load"]);
    assert!(!out.status.success());
}
