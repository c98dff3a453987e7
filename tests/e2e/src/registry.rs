//! An OCI registry on loopback for pull tests: Debian's `docker-registry`
//! on a free 127.0.0.1 port with its storage in the test's directory,
//! filled with `skopeo copy`, and stopped by pid when dropped.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `docker-registry`.
pub struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    /// Start a registry with its storage and log under `dir`.
    pub fn start(dir: &Path) -> Registry {
        let bin = Path::new("/usr/bin/docker-registry");
        assert!(
            bin.is_file(),
            "/usr/bin/docker-registry is missing: install Debian's docker-registry (scripts/setup.sh does)"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let storage = dir.join("registry");
        std::fs::create_dir_all(&storage).expect("mkdir");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .expect("registry config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("registry log");
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let r = Registry { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        r
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Push a `docker save` tarball as `target` (`127.0.0.1:<port>/name:tag`).
    pub fn push_docker_archive(&self, tarball: &Path, target: &str) {
        let out = Command::new("skopeo")
            .args(["copy", "--insecure-policy", "--dest-tls-verify=false"])
            .arg(format!("docker-archive:{}", tarball.display()))
            .arg(format!("docker://{target}"))
            .output()
            .expect("skopeo runs (install Debian's skopeo; scripts/setup.sh does)");
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
