//! Test images made from Debian's `busybox-static` (`/bin/busybox`), so no
//! test ever pulls an image from the internet: a root filesystem with
//! busybox and a link for each of its applets, `/etc/passwd` with root and
//! `nobody` (65534), written as a `docker save` tarball (the legacy
//! layout: `manifest.json`, a config, one `layer.tar`) with the `tar` and
//! `sha256sum` tools.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The image name every real-node test uses: registry `localhost`, so an
/// accidental pull could only reach this machine, and a tag other than
/// `latest`, so `imagePullPolicy` defaults to IfNotPresent.
pub const BUSYBOX: &str = "localhost/e2e/busybox:1";

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn sha256(path: &Path) -> String {
    let out = run(Command::new("sha256sum").arg(path));
    out.split_whitespace()
        .next()
        .expect("sha256sum prints a digest")
        .to_string()
}

/// Write a busybox image named `name` as a `docker save` tarball in `dir`
/// and return its path. Fails (does not skip) without busybox-static.
pub fn busybox_image(dir: &Path, name: &str) -> PathBuf {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: install Debian's busybox-static (scripts/setup.sh does)"
    );
    let work = dir.join(format!("image-{}", name.replace(['/', ':'], "_")));
    let rootfs = work.join("rootfs");
    for d in [
        "bin",
        "etc",
        "tmp",
        "root",
        "home/nobody",
        "proc",
        "sys",
        "dev",
    ] {
        std::fs::create_dir_all(rootfs.join(d)).expect("mkdir");
    }
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("copy busybox");
    let applets = run(Command::new(busybox).arg("--list"));
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty()) {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                .expect("applet link");
        }
    }
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home/nobody:/bin/sh\n",
    )
    .expect("passwd");
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("group");
    let out = work.join("out");
    std::fs::create_dir_all(out.join("layer")).expect("mkdir");
    let layer = out.join("layer/layer.tar");
    run(Command::new("tar")
        .arg("--numeric-owner")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&layer)
        .arg("."));
    let diff_id = sha256(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Cmd": ["sh"],
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        },
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let config_path = out.join("config.json");
    std::fs::write(&config_path, config.to_string()).expect("config");
    let config_digest = sha256(&config_path);
    std::fs::rename(&config_path, out.join(format!("{config_digest}.json"))).expect("rename");
    std::fs::rename(out.join("layer"), out.join(&diff_id)).expect("rename");
    let manifest = serde_json::json!([{
        "Config": format!("{config_digest}.json"),
        "RepoTags": [name],
        "Layers": [format!("{diff_id}/layer.tar")],
    }]);
    std::fs::write(out.join("manifest.json"), manifest.to_string()).expect("manifest");
    let tarball = dir.join(format!("{}.tar", name.replace(['/', ':'], "_")));
    run(Command::new("tar")
        .arg("-C")
        .arg(&out)
        .arg("-cf")
        .arg(&tarball)
        .arg("."));
    let _ = std::fs::remove_dir_all(&work);
    tarball
}
