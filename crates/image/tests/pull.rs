//! Pulls from Debian's `docker-registry` on a loopback port, filled with
//! `skopeo copy`: a single-platform image, a multi-platform index, a
//! registry behind htpasswd basic auth, a missing tag, a pinned digest.
#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_in, Fixture};
use rkube_cri::{ImageService, RegistryAuth};
use rkube_image::test_support::{busybox_image, write_dir, write_oci_index_dir, Compress, Format};

/// A bcrypt hash of "rkube-secret" (user "rkube").
const HTPASSWD: &str = "rkube:$2b$04$ssYEW9diVXcN102sHYsRguyeoVBjsxAcKsPrVtfS2vxxlB4LARwou\n";

/// A registry process, stopped by pid on Drop.
struct Registry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Registry {
    fn start(htpasswd: bool) -> Registry {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let auth = if htpasswd {
            std::fs::write(dir.path().join("htpasswd"), HTPASSWD).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: rkube-test\n    path: {}\n",
                dir.path().join("htpasswd").display()
            )
        } else {
            String::new()
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
            dir.path().join("data").display()
        );
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("/usr/bin/docker-registry (install the Debian package docker-registry)");
        let registry = Registry {
            child,
            port,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `skopeo copy` from an OCI layout to this registry.
    fn push(&self, layout: &Path, tag_in_layout: &str, dest: &str, extra: &[&str]) {
        let out = Command::new("skopeo")
            .args(["copy", "--dest-tls-verify=false"])
            .args(extra)
            .arg(format!("oci:{}:{tag_in_layout}", layout.display()))
            .arg(format!("docker://{}/{dest}", self.host()))
            .output()
            .expect("skopeo (install the Debian package skopeo)");
        assert!(
            out.status.success(),
            "skopeo: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pulls_an_image_and_runs_it() {
    let registry = Registry::start(false);
    let fx = Fixture::new();
    let image = busybox_image("busybox:v1").unwrap();
    let layout = fx.path("layout");
    write_dir(
        std::slice::from_ref(&image),
        Format::OciTagOnly,
        Compress::Gzip,
        &layout,
    )
    .unwrap();
    registry.push(&layout, "v1", "busybox:v1", &[]);

    let name = format!("{}/busybox:v1", registry.host());
    let info = fx.store.pull_image(&name, &[]).await.unwrap();
    assert_eq!(info.id, image.id());
    assert_eq!(info.repo_tags, vec![name.clone()]);
    assert!(!info.loaded);
    assert_eq!(info.repo_digests.len(), 1);
    assert!(info.repo_digests[0].starts_with(&format!("{}/busybox@sha256:", registry.host())));
    let status = fx.store.image_status(&name).await.unwrap().unwrap();
    assert_eq!(status.id, info.id);
    let rootfs = fx.store.prepare_rootfs("pulled", &info.id).unwrap();
    assert_eq!(run_in(&rootfs, &["/bin/echo", "pulled"]), "pulled\n");

    // By digest, and again (already present: same image).
    let by_digest = info.repo_digests[0].clone();
    assert_eq!(
        fx.store.pull_image(&by_digest, &[]).await.unwrap().id,
        info.id
    );
    assert_eq!(fx.store.resolve(&by_digest).unwrap().unwrap().id, info.id);

    // A tag that does not exist: ErrImagePull with the reason.
    let err = fx
        .store
        .pull_image(&format!("{}/busybox:nope", registry.host()), &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not found"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn picks_this_platform_from_a_multi_platform_index() {
    let registry = Registry::start(false);
    let fx = Fixture::new();
    let native = busybox_image("busybox:multi").unwrap();
    let mut other = native.clone();
    other.architecture = if native.architecture == "arm64" {
        "amd64".into()
    } else {
        "arm64".into()
    };
    let layout = fx.path("multi");
    write_oci_index_dir(&[other.clone(), native.clone()], "multi", &layout).unwrap();
    registry.push(&layout, "multi", "busybox:multi", &["--all"]);

    let info = fx
        .store
        .pull_image(&format!("{}/busybox:multi", registry.host()), &[])
        .await
        .unwrap();
    assert_eq!(info.id, native.id());
    assert_ne!(info.id, other.id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_registry_needs_the_credentials() {
    let registry = Registry::start(true);
    let fx = Fixture::new();
    let image = busybox_image("private:v1").unwrap();
    let layout = fx.path("layout");
    write_dir(
        std::slice::from_ref(&image),
        Format::OciTagOnly,
        Compress::Gzip,
        &layout,
    )
    .unwrap();
    registry.push(
        &layout,
        "v1",
        "private:v1",
        &["--dest-creds", "rkube:rkube-secret"],
    );

    let name = format!("{}/private:v1", registry.host());
    let err = fx
        .store
        .pull_image(&name, &[])
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("username and password"), "{err}");
    let wrong = RegistryAuth {
        username: "rkube".into(),
        password: "wrong".into(),
        registry_token: String::new(),
    };
    let err = fx
        .store
        .pull_image(&name, std::slice::from_ref(&wrong))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("authentication failed"), "{err}");
    let right = RegistryAuth {
        password: "rkube-secret".into(),
        ..wrong.clone()
    };
    let info = fx.store.pull_image(&name, &[wrong, right]).await.unwrap();
    assert_eq!(info.id, image.id());
}
