//! The runc runtime (`rkube_node::runc::RuncRuntime`) against real runc, as
//! root: containers run from a busybox root filesystem, under `rkube shim`
//! (this package's binary), in sandboxes with their own namespaces.
//!
//! Needs runc (Debian `runc`), busybox (`busybox-static`), `ip`
//! (`iproute2`) and `unshare` (`util-linux`). Every test has its own runc
//! root, state directory, cgroup root and network-namespace prefix, and
//! its guard removes all of them (containers, shims, mounts, namespaces,
//! cgroups) even when the test fails.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rkube_cri::{
    Capabilities, ContainerConfig, ContainerState, ContainerStatus, CriError, DnsConfig,
    NetworkAttachment, NetworkPlugin, PodAddress, PodSandboxConfig, Resources, Rootfs,
    RuntimeService, SandboxState, Seccomp, SecurityConfig, Snapshotter,
};
use rkube_node::runc::{RuncConfig, RuncRuntime};

// ---------------------------------------------------------------- tools

fn require_tools() {
    for (program, arg, package) in [
        ("runc", "--version", "runc"),
        ("/bin/busybox", "true", "busybox-static"),
        ("ip", "-V", "iproute2"),
        ("unshare", "--version", "util-linux"),
    ] {
        let ok = Command::new(program)
            .arg(arg)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        assert!(
            ok,
            "{program} is missing: install the Debian package `{package}`"
        );
    }
    assert!(
        nix_is_root(),
        "these tests run containers and must run as root"
    );
}

fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn unique() -> String {
    format!(
        "{:x}{:06x}",
        std::process::id(),
        rand::random::<u32>() & 0xff_ffff
    )
}

// ---------------------------------------------------------- snapshotter

/// Root filesystems made of Debian's static busybox: `/bin/busybox`, a
/// symlink per applet, `/etc/passwd` and `/etc/group` with root and `app`
/// (1000:1000).
struct BusyboxSnapshotter {
    dir: PathBuf,
    prepared: Mutex<Vec<String>>,
    /// Root filesystems made in advance, taken by `prepare` (a rename, as
    /// cheap as an overlay mount): for the benchmark.
    pool: Mutex<Vec<PathBuf>>,
}

fn applets() -> &'static Vec<String> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let out = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list (Debian package busybox-static)");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    })
}

#[async_trait]
impl Snapshotter for BusyboxSnapshotter {
    async fn prepare(&self, key: &str, _image_id: &str) -> Result<Rootfs, CriError> {
        let root = self.dir.join(key);
        let pooled = self.pool.lock().expect("test").pop();
        if let Some(made) = pooled {
            std::fs::create_dir_all(&self.dir).map_err(CriError::io("rootfs directory"))?;
            std::fs::rename(made, &root).map_err(CriError::io("taking a pooled rootfs"))?;
        }
        let task_root = root.clone();
        tokio::task::spawn_blocking(move || make_rootfs(&task_root))
            .await
            .expect("rootfs task")?;
        self.prepared.lock().expect("test").push(key.to_string());
        Ok(Rootfs { path: root })
    }

    async fn remove(&self, key: &str) -> Result<(), CriError> {
        let root = self.dir.join(key);
        match std::fs::remove_dir_all(&root) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(CriError::io("removing a rootfs")(e)),
        }
    }
}

/// A busybox root filesystem at `root` (kept if it exists).
fn make_rootfs(root: &Path) -> Result<(), CriError> {
    if root.exists() {
        return Ok(());
    }

    let io = |e| CriError::io("busybox rootfs")(e);
    for d in [
        "bin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app",
    ] {
        std::fs::create_dir_all(root.join(d)).map_err(io)?;
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).map_err(io)?;
    for applet in applets() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).map_err(io)?;
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .map_err(io)?;
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\napp:x:1000:\nextra:x:2000:app\n",
    )
    .map_err(io)?;
    Ok(())
}

// -------------------------------------------------------------- network

/// A network plugin that configures nothing (the namespace keeps only its
/// loopback) and records its calls.
#[derive(Default)]
struct FakeNetwork {
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl NetworkPlugin for FakeNetwork {
    async fn add(&self, attachment: &NetworkAttachment) -> Result<PodAddress, CriError> {
        assert!(
            attachment.netns_path.exists(),
            "the namespace exists when the plugin is called"
        );
        self.calls
            .lock()
            .expect("test")
            .push(format!("add {}", attachment.sandbox_id));
        Ok(PodAddress {
            ip: IpAddr::V4(Ipv4Addr::new(10, 200, 77, 2)),
            gateway: IpAddr::V4(Ipv4Addr::new(10, 200, 77, 1)),
            prefix_len: 24,
        })
    }

    async fn del(&self, sandbox_id: &str) -> Result<(), CriError> {
        self.calls
            .lock()
            .expect("test")
            .push(format!("del {sandbox_id}"));
        Ok(())
    }

    async fn gc(&self, _live: &[String]) -> Result<(), CriError> {
        Ok(())
    }
}

// -------------------------------------------------------------- harness

/// Tests share this process's descriptor table: the test that counts
/// descriptors runs alone ([`Alone`]); every other harness is counted
/// here while it lives: (harnesses, a lone test waiting or running).
static FD_COUNTING: Mutex<(usize, bool)> = Mutex::new((0, false));
static FD_COUNTING_CHANGED: std::sync::Condvar = std::sync::Condvar::new();

/// The right to run alone, while held.
struct Alone;

impl Alone {
    fn take() -> Alone {
        let mut state = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
        while state.1 {
            state = FD_COUNTING_CHANGED
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        state.1 = true;
        while state.0 > 0 {
            state = FD_COUNTING_CHANGED
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        Alone
    }
}

impl Drop for Alone {
    fn drop(&mut self) {
        FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner()).1 = false;
        FD_COUNTING_CHANGED.notify_all();
    }
}

/// One test's runtime and everything it may leave behind.
struct Harness {
    /// Counted in [`FD_COUNTING`].
    shared: bool,
    dir: tempfile::TempDir,
    config: RuncConfig,
    runtime: Option<Arc<RuncRuntime>>,
    snapshotter: Arc<BusyboxSnapshotter>,
    network: Arc<FakeNetwork>,
}

impl Harness {
    fn new() -> Harness {
        {
            let mut state = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
            while state.1 {
                state = FD_COUNTING_CHANGED
                    .wait(state)
                    .unwrap_or_else(|e| e.into_inner());
            }
            state.0 += 1;
        }
        let mut h = Harness::alone();
        h.shared = true;
        h
    }

    /// A harness for a test that holds [`Alone`] (not counted).
    fn alone() -> Harness {
        require_tools();
        let dir = tempfile::Builder::new()
            .prefix("rkube-runc-test")
            .tempdir()
            .expect("test");
        let id = unique();
        let mut config = RuncConfig::new(dir.path());
        config.shim_program = PathBuf::from(env!("CARGO_BIN_EXE_rkube"));
        config.cgroup_root = format!("rkube-test-{id}");
        config.netns_prefix = format!("rkt{id}-");
        let snapshotter = Arc::new(BusyboxSnapshotter {
            dir: dir.path().join("rootfs"),
            prepared: Mutex::new(Vec::new()),
            pool: Mutex::new(Vec::new()),
        });
        let network = Arc::new(FakeNetwork::default());
        let mut h = Harness {
            shared: false,
            dir,
            config,
            runtime: None,
            snapshotter,
            network,
        };
        h.restart();
        h
    }

    /// A new runtime on the same directories (the old one is dropped).
    fn restart(&mut self) {
        self.runtime = None;
        self.runtime = Some(Arc::new(
            RuncRuntime::new(
                self.config.clone(),
                self.snapshotter.clone(),
                self.network.clone(),
            )
            .expect("runtime"),
        ));
    }

    fn rt(&self) -> &RuncRuntime {
        self.runtime.as_ref().expect("test")
    }

    fn sandbox_config(&self, name: &str) -> PodSandboxConfig {
        let uid = format!("uid-{}", unique());
        PodSandboxConfig {
            pod_uid: uid.clone(),
            pod_name: name.to_string(),
            pod_namespace: "default".to_string(),
            hostname: name.to_string(),
            dns: DnsConfig {
                servers: vec!["10.96.0.10".into()],
                searches: vec!["default.svc.cluster.local".into()],
                options: vec!["ndots:5".into()],
            },
            cgroup_parent: format!("kubepods/besteffort/pod{uid}"),
            log_directory: self.dir.path().join(format!("logs/default_{name}_{uid}")),
            ..Default::default()
        }
    }

    fn container_config(
        &self,
        sandbox: &PodSandboxConfig,
        name: &str,
        script: &str,
    ) -> ContainerConfig {
        ContainerConfig {
            name: name.to_string(),
            image: "busybox".into(),
            image_id: "sha256:busybox".into(),
            argv: vec!["sh".into(), "-c".into(), script.into()],
            log_path: sandbox.log_directory.join(name).join("0.log"),
            termination_message_path: "/dev/termination-log".into(),
            ..Default::default()
        }
    }

    /// A ready sandbox.
    async fn sandbox(&self, name: &str) -> (String, PodSandboxConfig) {
        let config = self.sandbox_config(name);
        let info = self.rt().run_pod_sandbox(&config).await.expect("sandbox");
        assert_eq!(info.state, SandboxState::Ready);
        (info.id, config)
    }

    /// Create and start a container.
    async fn run(&self, sandbox_id: &str, config: &ContainerConfig) -> String {
        let id = self
            .rt()
            .create_container(sandbox_id, config)
            .await
            .expect("create");
        self.rt().start_container(&id).await.expect("start");
        id
    }

    async fn wait_exited(&self, id: &str, timeout: Duration) -> ContainerStatus {
        let deadline = Instant::now() + timeout;
        loop {
            let status = self.rt().container_status(id).await.expect("status");
            if status.state == ContainerState::Exited {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "container did not exit: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the log has a line containing `text`.
    async fn wait_log(&self, path: &Path, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::fs::read_to_string(path)
                .unwrap_or_default()
                .contains(text)
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no {text:?} in {}",
                path.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn runc(&self) -> Command {
        let mut cmd = Command::new("runc");
        cmd.arg("--root").arg(&self.config.runc_root);
        cmd
    }
}

/// `(stream, tag, content)` of each CRI log line.
fn log_entries(path: &Path) -> Vec<(String, String, String)> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|line| {
            let mut parts = line.splitn(4, ' ');
            let ts = parts.next().unwrap_or_default();
            assert!(
                ts.len() == 30 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
                "RFC 3339 timestamp with nanoseconds: {line:?}"
            );
            (
                parts.next().unwrap_or_default().to_string(),
                parts.next().unwrap_or_default().to_string(),
                parts.next().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn stdout_lines(path: &Path) -> Vec<String> {
    log_entries(path)
        .into_iter()
        .filter(|(s, _, _)| s == "stdout")
        .map(|(_, _, c)| c)
        .collect()
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.runtime = None;
        let state = self.config.state_dir.clone();
        // Containers: runc's own list, then their shims.
        if let Ok(out) = self.runc().args(["list", "-q"]).output() {
            for id in String::from_utf8_lossy(&out.stdout).lines() {
                let _ = self.runc().args(["delete", "--force", id]).output();
            }
        }
        let shims: Vec<i32> = std::fs::read_dir(state.join("containers"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| std::fs::read_to_string(e.path().join("shim.json")).ok())
            .filter_map(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .filter_map(|v| v["shim_pid"].as_i64())
            .map(|p| p as i32)
            .collect();
        let deadline = Instant::now() + Duration::from_secs(3);
        while shims.iter().any(|p| pid_alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in shims.iter().filter(|p| pid_alive(**p)) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).output();
        }
        // Sandboxes: namespace mounts and network namespaces.
        for entry in std::fs::read_dir(state.join("sandboxes"))
            .into_iter()
            .flatten()
            .flatten()
        {
            for ns in ["ipc", "uts"] {
                let file = entry.path().join("ns").join(ns);
                if file.exists() {
                    let _ = Command::new("umount").arg("-l").arg(&file).output();
                }
            }
        }
        for entry in std::fs::read_dir("/var/run/netns")
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&self.config.netns_prefix) {
                let _ = Command::new("ip").args(["netns", "delete", &name]).output();
            }
        }
        // Cgroups under this test's root, deepest first, in every hierarchy.
        let mut roots = vec![PathBuf::from("/sys/fs/cgroup").join(&self.config.cgroup_root)];
        for entry in std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            roots.push(entry.path().join(&self.config.cgroup_root));
        }
        for root in roots.into_iter().filter(|r| r.is_dir()) {
            remove_cgroup_tree(&root);
        }
        if self.shared {
            let mut state = FD_COUNTING.lock().unwrap_or_else(|e| e.into_inner());
            state.0 -= 1;
            drop(state);
            FD_COUNTING_CHANGED.notify_all();
        }
    }
}

fn remove_cgroup_tree(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            remove_cgroup_tree(&entry.path());
        }
    }
    let _ = std::fs::remove_dir(dir);
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_reasons_logs_and_termination_message() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("exits").await;

    let failing = h.container_config(&pod, "failing", "echo to-out; echo to-err >&2; exit 3");
    let id = h.run(&sandbox, &failing).await;
    let status = h.wait_exited(&id, Duration::from_secs(20)).await;
    assert_eq!((status.exit_code, status.reason.as_str()), (3, "Error"));
    assert!(status.started_at.is_some() && status.finished_at.is_some());
    assert_eq!(status.log_path, failing.log_path);
    let entries = log_entries(&failing.log_path);
    assert!(
        entries.contains(&("stdout".into(), "F".into(), "to-out".into())),
        "{entries:?}"
    );
    assert!(
        entries.contains(&("stderr".into(), "F".into(), "to-err".into())),
        "{entries:?}"
    );

    let ok = h.container_config(&pod, "ok", "printf bye > /dev/termination-log; exit 0");
    let id = h.run(&sandbox, &ok).await;
    let status = h.wait_exited(&id, Duration::from_secs(20)).await;
    assert_eq!((status.exit_code, status.reason.as_str()), (0, "Completed"));
    assert_eq!(status.message, "bye");

    // Removal keeps the log file; the container is gone from the list.
    h.rt().remove_container(&id).await.expect("test");
    assert!(ok.log_path.exists());
    let listed: Vec<String> = h
        .rt()
        .list_containers()
        .await
        .expect("test")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert!(!listed.contains(&id));
    assert!(h
        .rt()
        .version()
        .await
        .expect("test")
        .starts_with("runc://1."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_sends_sigterm_then_sigkill_after_the_timeout() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("stops").await;
    let graceful = h.container_config(
        &pod,
        "graceful",
        "trap 'echo got-TERM; exit 0' TERM; echo ready; while true; do sleep 0.1; done",
    );
    let stubborn = h.container_config(
        &pod,
        "stubborn",
        "trap '' TERM; echo ready; while true; do sleep 0.1; done",
    );
    let g = h.run(&sandbox, &graceful).await;
    let s = h.run(&sandbox, &stubborn).await;
    h.wait_log(&graceful.log_path, "ready").await;
    h.wait_log(&stubborn.log_path, "ready").await;
    assert_eq!(
        h.rt().container_status(&g).await.expect("test").state,
        ContainerState::Running
    );

    let t0 = Instant::now();
    h.rt()
        .stop_container(&g, Duration::from_secs(20))
        .await
        .expect("test");
    assert!(
        t0.elapsed() < Duration::from_secs(10),
        "the trap ended it: {:?}",
        t0.elapsed()
    );
    let status = h.rt().container_status(&g).await.expect("test");
    assert_eq!(
        (status.state, status.exit_code),
        (ContainerState::Exited, 0)
    );
    assert!(stdout_lines(&graceful.log_path).contains(&"got-TERM".to_string()));

    let t0 = Instant::now();
    h.rt()
        .stop_container(&s, Duration::from_secs(1))
        .await
        .expect("test");
    assert!(
        t0.elapsed() >= Duration::from_secs(1),
        "waited for the timeout"
    );
    let status = h.rt().container_status(&s).await.expect("test");
    assert_eq!((status.exit_code, status.reason.as_str()), (137, "Error"));

    // Stopping the sandbox detaches the network; removing it deletes the namespace.
    h.rt().stop_pod_sandbox(&sandbox).await.expect("test");
    let listed = h.rt().list_pod_sandboxes().await.expect("test");
    assert_eq!(listed[0].state, SandboxState::NotReady);
    h.rt().remove_pod_sandbox(&sandbox).await.expect("test");
    assert!(h.rt().list_pod_sandboxes().await.expect("test").is_empty());
    assert!(h.rt().list_containers().await.expect("test").is_empty());
    assert!(!Path::new("/var/run/netns")
        .join(format!("{}{sandbox}", h.config.netns_prefix))
        .exists());
    let calls = h.network.calls.lock().expect("test").clone();
    assert_eq!(calls.first(), Some(&format!("add {sandbox}")));
    assert!(calls.contains(&format!("del {sandbox}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_hog_is_oom_killed() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("hog").await;
    let mut hog = h.container_config(
        &pod,
        "hog",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done",
    );
    hog.resources = Resources {
        memory_limit: 32 * 1024 * 1024,
        cpu_shares: 256,
        cpu_quota: 50_000,
        cpu_period: 100_000,
        ..Default::default()
    };
    let id = h.run(&sandbox, &hog).await;
    let status = h.wait_exited(&id, Duration::from_secs(60)).await;
    assert_eq!(
        (status.reason.as_str(), status.exit_code),
        ("OOMKilled", 137),
        "{status:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_sync_returns_output_and_exit_code() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("exec").await;
    let id = h
        .run(
            &sandbox,
            &h.container_config(&pod, "sleeper", "exec sleep 1000"),
        )
        .await;
    let cmd: Vec<String> = ["sh", "-c", "echo hi; echo oops >&2; exit 4"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let result = h
        .rt()
        .exec_sync(&id, &cmd, Duration::from_secs(20))
        .await
        .expect("test");
    assert_eq!(result.exit_code, 4);
    assert_eq!(result.stdout, b"hi\n");
    assert_eq!(result.stderr, b"oops\n");
    let slow: Vec<String> = ["sleep", "30"].iter().map(|s| s.to_string()).collect();
    let t0 = Instant::now();
    let err = h
        .rt()
        .exec_sync(&id, &slow, Duration::from_millis(500))
        .await
        .expect_err("expected an error");
    assert!(matches!(err, CriError::Timeout(_)), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_runs_as_configured() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("shaped").await;
    let script = r#"echo "env=$FOO"; echo "args=$0 $1"; echo "pwd=$(pwd)"; echo "ids=$(id -u) $(id -g) $(id -G)";
touch /probe 2>/dev/null && echo rootfs=rw || echo rootfs=ro; grep CapBnd /proc/self/status;
grep Seccomp: /proc/self/status; echo "host=$(hostname)"; cat /etc/resolv.conf; cat /etc/hostname"#;
    let mut config = h.container_config(&pod, "shaped", script);
    config
        .argv
        .extend(["first".to_string(), "second".to_string()]);
    config.env = vec![("FOO".into(), "bar".into())];
    config.working_dir = "/home/app".into();
    config.security = SecurityConfig {
        run_as_user: Some(1000),
        run_as_group: Some(1000),
        supplemental_groups: vec![1234],
        readonly_rootfs: true,
        capabilities: Capabilities {
            add: vec!["NET_BIND_SERVICE".into()],
            drop: vec!["ALL".into()],
        },
        no_new_privs: true,
        seccomp: Seccomp::RuntimeDefault,
        ..Default::default()
    };
    let id = h.run(&sandbox, &config).await;
    let status = h.wait_exited(&id, Duration::from_secs(20)).await;
    let out = stdout_lines(&config.log_path);
    assert_eq!(status.exit_code, 0, "{out:?}");
    for expected in [
        "env=bar",
        "args=first second",
        "pwd=/home/app",
        "ids=1000 1000 1000 1234 2000",
        "rootfs=ro",
        "CapBnd:\t0000000000000400",
        "Seccomp:\t2",
        "host=shaped",
        "nameserver 10.96.0.10",
        "search default.svc.cluster.local",
        "options ndots:5",
        "shaped",
    ] {
        assert!(
            out.iter().any(|l| l == expected),
            "missing {expected:?} in {out:?}"
        );
    }

    // The image's user by name, and a privileged container's full set.
    let mut by_name = h.container_config(&pod, "by-name", "id -u; grep CapBnd /proc/self/status");
    by_name.image_user = "app".into();
    by_name.security.seccomp = Seccomp::Unconfined;
    let id = h.run(&sandbox, &by_name).await;
    h.wait_exited(&id, Duration::from_secs(20)).await;
    let out = stdout_lines(&by_name.log_path);
    assert_eq!(out[0], "1000");
    assert_eq!(
        out[1], "CapBnd:\t00000000a80425fb",
        "containerd's 14 defaults"
    );

    let mut privileged =
        h.container_config(&pod, "privileged", "grep CapBnd /proc/self/status; ls /dev");
    privileged.security.privileged = true;
    let id = h.run(&sandbox, &privileged).await;
    h.wait_exited(&id, Duration::from_secs(20)).await;
    let out = stdout_lines(&privileged.log_path);
    assert_ne!(out[0], "CapBnd:\t00000000a80425fb", "{out:?}");
    assert!(
        out[0].starts_with("CapBnd:\t000001ff") || out[0].starts_with("CapBnd:\t000000ff"),
        "{out:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_as_non_root_refuses_a_root_image() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("nonroot").await;
    let mut config = h.container_config(&pod, "root", "true");
    config.security.run_as_non_root = true;
    let err = h
        .rt()
        .create_container(&sandbox, &config)
        .await
        .expect_err("expected an error");
    assert!(matches!(err, CriError::InvalidConfig(_)));
    assert_eq!(
        err.to_string(),
        "container has runAsNonRoot and image will run as root"
    );
    assert!(h.rt().list_containers().await.expect("test").is_empty());
    assert!(
        h.snapshotter.dir.read_dir().map(|d| d.count()).unwrap_or(0) == 0,
        "rootfs removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_runtime_adopts_running_and_exited_containers() {
    let mut h = Harness::new();
    let (sandbox, pod) = h.sandbox("adopt").await;
    let long = h.container_config(&pod, "long", "echo started; exec sleep 1000");
    let short = h.container_config(&pod, "short", "sleep 1; exit 7");
    let long_id = h.run(&sandbox, &long).await;
    let short_id = h.run(&sandbox, &short).await;
    h.wait_log(&long.log_path, "started").await;

    // A second sandbox loses its network namespace (as in a reboot).
    let (gone, _) = h.sandbox("gone").await;
    let gone_netns = format!("{}{gone}", h.config.netns_prefix);

    // The agent goes away; the short container ends while none runs.
    h.runtime = None;
    let deleted = Command::new("ip")
        .args(["netns", "delete", &gone_netns])
        .status()
        .expect("test");
    assert!(deleted.success());
    tokio::time::sleep(Duration::from_secs(2)).await;
    h.restart();

    let mut sandboxes = h.rt().list_pod_sandboxes().await.expect("test");
    assert_eq!(sandboxes.len(), 2);
    let lost = sandboxes.iter().position(|s| s.id == gone).expect("test");
    assert_eq!(sandboxes.remove(lost).state, SandboxState::NotReady);
    assert_eq!(
        (sandboxes[0].id.as_str(), sandboxes[0].state),
        (sandbox.as_str(), SandboxState::Ready)
    );
    let containers = h.rt().list_containers().await.expect("test");
    assert_eq!(containers.len(), 2, "{containers:?}");
    let long_status = containers.iter().find(|c| c.id == long_id).expect("test");
    assert_eq!(long_status.state, ContainerState::Running);
    let short_status = h.wait_exited(&short_id, Duration::from_secs(20)).await;
    assert_eq!(
        (short_status.exit_code, short_status.reason.as_str()),
        (7, "Error")
    );
    let out = h.runc().args(["list", "-q"]).output().expect("test");
    let running: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(running.iter().filter(|id| **id == long_id).count(), 1);

    // The adopted container still stops and logs.
    let status = {
        h.rt()
            .stop_container(&long_id, Duration::from_secs(5))
            .await
            .expect("test");
        h.rt().container_status(&long_id).await.expect("test")
    };
    assert_eq!(status.state, ContainerState::Exited);
    let entries = stdout_lines(&long.log_path);
    assert_eq!(entries.iter().filter(|l| *l == "started").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_shim_is_noticed() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("shimless").await;
    let id = h
        .run(&sandbox, &h.container_config(&pod, "c", "exec sleep 1000"))
        .await;
    let shim: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            h.config
                .state_dir
                .join("containers")
                .join(&id)
                .join("shim.json"),
        )
        .expect("test"),
    )
    .expect("test");
    let shim_pid = shim["shim_pid"].as_i64().expect("test");
    let init_pid = shim["init_pid"].as_i64().expect("test") as i32;
    assert!(pid_alive(init_pid));
    let killed = Command::new("kill")
        .args(["-9", &shim_pid.to_string()])
        .status()
        .expect("test");
    assert!(killed.success());
    let status = h.wait_exited(&id, Duration::from_secs(20)).await;
    assert_eq!((status.exit_code, status.reason.as_str()), (255, "Unknown"));
    assert!(status.message.contains("shim"), "{}", status.message);
    // Nobody waits for the orphaned container any more: it is ended.
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_alive(init_pid) {
        assert!(
            Instant::now() < deadline,
            "the container's process still runs"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_network_pod_uses_the_host_namespaces() {
    let h = Harness::new();
    let mut pod = h.sandbox_config("hostnet");
    pod.host_network = true;
    let info = h.rt().run_pod_sandbox(&pod).await.expect("test");
    assert_eq!(info.ip, None);
    let config = h.container_config(&pod, "c", "hostname; readlink /proc/self/ns/net");
    let id = h.run(&info.id, &config).await;
    h.wait_exited(&id, Duration::from_secs(20)).await;
    let out = stdout_lines(&config.log_path);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("test");
    assert_eq!(out[0], host.trim());
    let host_net = std::fs::read_link("/proc/self/ns/net").expect("test");
    assert_eq!(out[1], host_net.to_string_lossy());
    assert!(
        h.network.calls.lock().expect("test").is_empty(),
        "no plugin call for hostNetwork"
    );
    h.rt().stop_pod_sandbox(&info.id).await.expect("test");
    h.rt().remove_pod_sandbox(&info.id).await.expect("test");
}

/// 100 containers created and started at once, against 100 bare
/// `runc run -d` of the same bundle (the floor). Prints both; the
/// target is a p50 within twice the bare one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run with --ignored --nocapture"]
async fn hundred_containers_at_once_against_bare_runc() {
    const N: usize = 100;
    let h = Arc::new(Harness::new());
    let (sandbox, pod) = h.sandbox("bench").await;
    for i in 0..N {
        let made = h.dir.path().join(format!("pool-{i}"));
        make_rootfs(&made).expect("test");
        h.snapshotter.pool.lock().expect("test").push(made);
    }
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..N {
        let h = h.clone();
        let sandbox = sandbox.clone();
        let config = h.container_config(&pod, &format!("c{i}"), "exec sleep 1000");
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let id = h
                .rt()
                .create_container(&sandbox, &config)
                .await
                .expect("create");
            let created = start.elapsed();
            h.rt().start_container(&id).await.expect("start");
            (start.elapsed(), created)
        }));
    }
    let mut ours = Vec::new();
    let mut creates = Vec::new();
    for t in tasks {
        let (total, created) = t.await.expect("test");
        ours.push(total);
        creates.push(created);
    }
    let ours_all = t0.elapsed();
    ours.sort();
    creates.sort();
    println!(
        "of which create: p50 {:?}, p99 {:?}",
        creates[N / 2],
        creates[N * 99 / 100]
    );

    // Bare runc: the same spec (taken from the first bundle), `runc run -d`.
    let first = h.rt().list_containers().await.expect("test")[0].id.clone();
    let bundle_spec = std::fs::read_to_string(
        h.config
            .state_dir
            .join("containers")
            .join(&first)
            .join("bundle/config.json"),
    )
    .expect("test");
    let bare_root = h.dir.path().join("bare-runc");
    let mut bare_tasks = Vec::new();
    let prep = BusyboxSnapshotter {
        dir: h.dir.path().join("bare-rootfs"),
        prepared: Mutex::new(Vec::new()),
        pool: Mutex::new(Vec::new()),
    };
    let mut bundles = Vec::new();
    for i in 0..N {
        let rootfs = prep.prepare(&format!("b{i}"), "").await.expect("test");
        let bundle = h.dir.path().join(format!("bare-bundle-{i}"));
        std::fs::create_dir_all(&bundle).expect("test");
        let mut spec: serde_json::Value = serde_json::from_str(&bundle_spec).expect("test");
        spec["root"]["path"] = rootfs.path.to_string_lossy().into_owned().into();
        spec["linux"]["cgroupsPath"] = format!("/{}/bare/b{i}", h.config.cgroup_root).into();
        spec["mounts"] = serde_json::Value::Array(
            spec["mounts"]
                .as_array()
                .expect("test")
                .iter()
                .filter(|m| m["type"] != "bind")
                .cloned()
                .collect(),
        );
        std::fs::write(bundle.join("config.json"), spec.to_string()).expect("test");
        bundles.push(bundle);
    }
    let t0 = Instant::now();
    for (i, bundle) in bundles.into_iter().enumerate() {
        let root = bare_root.clone();
        bare_tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let out = tokio::process::Command::new("runc")
                .arg("--root")
                .arg(&root)
                .args(["run", "-d", "--bundle"])
                .arg(&bundle)
                .arg(format!("bare{i}"))
                .stdin(std::process::Stdio::null())
                // The container inherits runc's stdio: pipes would never end.
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status()
                .await
                .expect("test");
            assert!(out.success(), "runc run -d failed");
            start.elapsed()
        }));
    }
    let mut bare = Vec::new();
    for t in bare_tasks {
        bare.push(t.await.expect("test"));
    }
    let bare_all = t0.elapsed();
    bare.sort();
    for i in 0..N {
        let _ = Command::new("runc")
            .arg("--root")
            .arg(&bare_root)
            .args(["delete", "--force", &format!("bare{i}")])
            .output();
    }
    println!(
        "rkube runc runtime: all {N} in {:?}, p50 {:?}, p99 {:?}",
        ours_all,
        ours[N / 2],
        ours[N * 99 / 100]
    );
    println!(
        "bare runc run -d:   all {N} in {:?}, p50 {:?}, p99 {:?}",
        bare_all,
        bare[N / 2],
        bare[N * 99 / 100]
    );
    let t0 = Instant::now();
    let running = h.rt().list_containers().await.expect("test");
    println!("list_containers of {N}: {:?}", t0.elapsed());
    assert_eq!(
        running
            .iter()
            .filter(|c| c.state == ContainerState::Running)
            .count(),
        N
    );
}

// ------------------------------------------------- streams and usage

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Everything `reader` gives until its end, at most `timeout`.
async fn read_to_end(
    reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
    timeout: Duration,
) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    tokio::time::timeout(timeout, reader.read_to_end(&mut out))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "stream did not end; got {:?}",
                String::from_utf8_lossy(&out)
            )
        })
        .expect("read");
    out
}

/// Read until `needle` has been seen, at most `timeout`; what was read.
async fn read_until(
    reader: &mut (dyn tokio::io::AsyncRead + Send + Unpin),
    needle: &str,
    timeout: Duration,
) -> String {
    use tokio::io::AsyncReadExt;
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&out).contains(needle) {
        let left = deadline.saturating_duration_since(Instant::now());
        let n = tokio::time::timeout(left, reader.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("no {needle:?} in {:?}", String::from_utf8_lossy(&out)))
            .expect("read");
        assert!(
            n > 0,
            "stream ended without {needle:?}: {:?}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn exit_of(io: rkube_cri::StreamIo) -> i32 {
    tokio::time::timeout(Duration::from_secs(20), io.exit)
        .await
        .expect("the exit resolves")
        .expect("exit code")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").expect("fds").count()
}

/// What each open descriptor is (for a leak's message).
fn fd_targets() -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("fds")
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            format!(
                "{} -> {}",
                e.file_name().to_string_lossy(),
                target.display()
            )
        })
        .collect()
}

fn exec_request(id: &str, cmd: &[&str]) -> rkube_cri::ExecRequest {
    rkube_cri::ExecRequest {
        container_id: id.to_string(),
        cmd: strings(cmd),
        tty: false,
        stdin: false,
        stdout: true,
        stderr: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_streams_output_stdin_and_exit_code_and_leaks_nothing() {
    use tokio::io::AsyncWriteExt;
    let _alone = Alone::take();
    let h = Harness::alone();
    let (sandbox, pod) = h.sandbox("streams").await;
    let id = h
        .run(
            &sandbox,
            &ContainerConfig {
                env: vec![("GREETING".into(), "from-the-pod".into())],
                working_dir: "/tmp".into(),
                ..h.container_config(&pod, "sleeper", "exec sleep 1000")
            },
        )
        .await;
    // Warm up (the runtime's first calls open what they keep open).
    let io = h
        .rt()
        .exec(&exec_request(&id, &["true"]))
        .await
        .expect("exec");
    assert_eq!(exit_of(io).await, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_before = open_fds();
    let targets_before = fd_targets();

    // Separate stdout and stderr, the container's environment and working
    // directory, the exit code.
    let mut io = h
        .rt()
        .exec(&exec_request(
            &id,
            &[
                "sh",
                "-c",
                "echo out $GREETING $(pwd); echo err >&2; exit 3",
            ],
        ))
        .await
        .expect("exec");
    assert!(io.stdin.is_none() && io.resize.is_none());
    let mut stdout = io.stdout.take().expect("stdout");
    let mut stderr = io.stderr.take().expect("stderr");
    let out = read_to_end(stdout.as_mut(), Duration::from_secs(20)).await;
    let err = read_to_end(stderr.as_mut(), Duration::from_secs(20)).await;
    assert_eq!(String::from_utf8_lossy(&out), "out from-the-pod /tmp\n");
    assert_eq!(String::from_utf8_lossy(&err), "err\n");
    assert_eq!(exit_of(io).await, 3);
    drop((stdout, stderr));

    // Stdin piped through, its end seen by the command.
    let mut io = h
        .rt()
        .exec(&rkube_cri::ExecRequest {
            stdin: true,
            ..exec_request(&id, &["sh", "-c", "tr a-z A-Z; echo done"])
        })
        .await
        .expect("exec");
    let mut stdin = io.stdin.take().expect("stdin");
    stdin.write_all(b"hello\n").await.expect("write");
    drop(stdin);
    let mut stdout = io.stdout.take().expect("stdout");
    let out = read_to_end(stdout.as_mut(), Duration::from_secs(20)).await;
    assert_eq!(String::from_utf8_lossy(&out), "HELLO\ndone\n");
    assert_eq!(exit_of(io).await, 0);
    drop(stdout);

    // Clients that go away: the command is not left behind (here it ends
    // on its own), nor are descriptors.
    let io = h
        .rt()
        .exec(&exec_request(&id, &["sh", "-c", "sleep 0.3; echo late"]))
        .await
        .expect("exec");
    drop(io);
    // An attach to the quiet container, then gone.
    let io = h
        .rt()
        .attach(&rkube_cri::AttachRequest {
            container_id: id.clone(),
            stdin: false,
            stdout: true,
            stderr: true,
        })
        .await
        .expect("attach");
    drop(io);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while open_fds() > fds_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if open_fds() != fds_before {
        let now = fd_targets();
        let new: Vec<String> = now
            .iter()
            .filter(|t| !targets_before.contains(t))
            .filter_map(|t| t.split(" -> ").nth(1).map(String::from))
            .collect();
        let mut holders = Vec::new();
        for p in std::fs::read_dir("/proc").expect("proc").flatten() {
            for fd in std::fs::read_dir(p.path().join("fd"))
                .into_iter()
                .flatten()
                .flatten()
            {
                let t = std::fs::read_link(fd.path()).unwrap_or_default();
                if new.contains(&t.display().to_string()) {
                    let cmd = std::fs::read_to_string(p.path().join("cmdline")).unwrap_or_default();
                    holders.push(format!(
                        "{} {} {cmd:?}",
                        p.file_name().to_string_lossy(),
                        t.display()
                    ));
                }
            }
        }
        panic!("descriptors leaked by exec: before {targets_before:?}, now {now:?}, holders {holders:?}");
    }
    let procs = h
        .rt()
        .exec_sync(&id, &strings(&["ps"]), Duration::from_secs(10))
        .await
        .expect("ps");
    let ps = String::from_utf8_lossy(&procs.stdout);
    assert!(!ps.contains("sleep 0.3"), "{ps}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_with_a_terminal_follows_resizes() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("tty").await;
    let id = h
        .run(
            &sandbox,
            &h.container_config(&pod, "sleeper", "exec sleep 1000"),
        )
        .await;
    let mut io = h
        .rt()
        .exec(&rkube_cri::ExecRequest {
            tty: true,
            stdin: true,
            stderr: false,
            ..exec_request(
                &id,
                &[
                    "sh",
                    "-c",
                    "[ -t 0 ] && echo is-a-tty; stty size; read line; stty size; echo bye >&2; exit 4",
                ],
            )
        })
        .await
        .expect("exec");
    assert!(io.stderr.is_none(), "one stream with a terminal");
    let resize = io.resize.take().expect("resize");
    let mut stdout = io.stdout.take().expect("stdout");
    let first = read_until(stdout.as_mut(), "is-a-tty", Duration::from_secs(20)).await;
    assert!(first.contains("is-a-tty"), "{first:?}");
    resize
        .send(rkube_cri::TermSize {
            width: 123,
            height: 45,
        })
        .await
        .expect("resize");
    // runc applies the size when it gets SIGWINCH.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut stdin = io.stdin.take().expect("stdin");
    stdin.write_all(b"go\r").await.expect("write");
    let rest = read_to_end(stdout.as_mut(), Duration::from_secs(20)).await;
    let rest = String::from_utf8_lossy(&rest);
    assert!(rest.contains("45 123"), "{rest:?}");
    assert!(rest.contains("bye"), "stderr on the terminal: {rest:?}");
    drop(stdin);
    drop(resize);
    assert_eq!(exit_of(io).await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_into_an_unknown_or_stopped_container_fails() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("stopped").await;
    let err = h
        .rt()
        .exec(&exec_request("no-such-container", &["true"]))
        .await
        .expect_err("unknown");
    assert!(matches!(err, CriError::NotFound(_)), "{err}");
    let id = h
        .run(&sandbox, &h.container_config(&pod, "quick", "exit 0"))
        .await;
    h.wait_exited(&id, Duration::from_secs(20)).await;
    let err = h
        .rt()
        .exec(&exec_request(&id, &["true"]))
        .await
        .expect_err("stopped");
    assert!(
        matches!(&err, CriError::Runtime(m) if m.contains("not running")),
        "{err}"
    );
    let err = h
        .rt()
        .attach(&rkube_cri::AttachRequest {
            container_id: id.clone(),
            stdout: true,
            ..Default::default()
        })
        .await
        .expect_err("stopped");
    assert!(
        matches!(&err, CriError::Runtime(m) if m.contains("not running")),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_to_a_plain_container_after_an_agent_restart() {
    let mut h = Harness::new();
    let (sandbox, pod) = h.sandbox("attach").await;
    let config = h.container_config(
        &pod,
        "ticker",
        "i=0; while [ $i -lt 100000 ]; do echo tick $i; echo tock $i >&2; i=$((i+1)); sleep 0.1; done",
    );
    let id = h.run(&sandbox, &config).await;
    h.wait_log(&config.log_path, "tick 1").await;
    // A new agent: the shim serves attach on its own.
    h.restart();
    let mut io = h
        .rt()
        .attach(&rkube_cri::AttachRequest {
            container_id: id.clone(),
            stdin: false,
            stdout: true,
            stderr: true,
        })
        .await
        .expect("attach");
    assert!(io.stdin.is_none() && io.resize.is_none());
    let mut stdout = io.stdout.take().expect("stdout");
    let mut stderr = io.stderr.take().expect("stderr");
    let out = read_until(stdout.as_mut(), "tick", Duration::from_secs(10)).await;
    assert!(!out.contains("tock"), "{out:?}");
    let err = read_until(stderr.as_mut(), "tock", Duration::from_secs(10)).await;
    assert!(!err.contains("tick"), "{err:?}");
    // Output from now on: not the first lines.
    assert!(!out.contains("tick 0\n"), "{out:?}");
    h.rt()
        .stop_container(&id, Duration::from_millis(300))
        .await
        .expect("stop");
    assert_eq!(exit_of(io).await, 137);
    // Both streams end with the container.
    read_to_end(stdout.as_mut(), Duration::from_secs(10)).await;
    read_to_end(stderr.as_mut(), Duration::from_secs(10)).await;
    // The log was written all along.
    assert!(stdout_lines(&config.log_path).len() > 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_to_a_terminal_container_with_stdin() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("tty").await;
    let config = ContainerConfig {
        tty: true,
        stdin: true,
        ..h.container_config(
            &pod,
            "shell",
            "echo ready; read line; echo got $line; stty size; read again; exit 5",
        )
    };
    let id = h.run(&sandbox, &config).await;
    h.wait_log(&config.log_path, "ready").await;
    let mut io = h
        .rt()
        .attach(&rkube_cri::AttachRequest {
            container_id: id.clone(),
            stdin: true,
            stdout: true,
            stderr: true,
        })
        .await
        .expect("attach");
    assert!(io.stderr.is_none(), "one stream with a terminal");
    let resize = io.resize.take().expect("resize with a terminal");
    resize
        .send(rkube_cri::TermSize {
            width: 77,
            height: 33,
        })
        .await
        .expect("resize");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut stdin = io.stdin.take().expect("stdin");
    let mut stdout = io.stdout.take().expect("stdout");
    stdin.write_all(b"hello\r").await.expect("write");
    let out = read_until(stdout.as_mut(), "33 77", Duration::from_secs(10)).await;
    assert!(out.contains("got hello"), "{out:?}");
    stdin.write_all(b"bye\r").await.expect("write");
    assert_eq!(exit_of(io).await, 5);
    read_to_end(stdout.as_mut(), Duration::from_secs(10)).await;
    // With a terminal everything is logged as stdout.
    h.wait_log(&config.log_path, "33 77").await;
    let entries = log_entries(&config.log_path);
    assert!(entries.iter().all(|(s, _, _)| s == "stdout"), "{entries:?}");
    assert!(entries.iter().any(|(_, _, c)| c.contains("got hello")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_once_closes_the_container_stdin_after_the_first_attach() {
    use tokio::io::AsyncWriteExt;
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("once").await;
    let config = ContainerConfig {
        stdin: true,
        stdin_once: true,
        ..h.container_config(&pod, "cat", "echo ready; cat; echo stdin-ended; exit 0")
    };
    let id = h.run(&sandbox, &config).await;
    h.wait_log(&config.log_path, "ready").await;
    let mut io = h
        .rt()
        .attach(&rkube_cri::AttachRequest {
            container_id: id.clone(),
            stdin: true,
            stdout: true,
            stderr: false,
        })
        .await
        .expect("attach");
    let mut stdin = io.stdin.take().expect("stdin");
    let mut stdout = io.stdout.take().expect("stdout");
    stdin.write_all(b"typed\n").await.expect("write");
    let echoed = read_until(stdout.as_mut(), "typed", Duration::from_secs(10)).await;
    assert!(echoed.contains("typed"));
    drop(stdin);
    let rest = read_until(stdout.as_mut(), "stdin-ended", Duration::from_secs(10)).await;
    assert!(rest.contains("stdin-ended"));
    assert_eq!(exit_of(io).await, 0);
    let status = h.wait_exited(&id, Duration::from_secs(10)).await;
    assert_eq!(status.exit_code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_forward_reaches_the_pod_loopback_only() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("pf").await;
    h.run(
        &sandbox,
        &h.container_config(
            &pod,
            "web",
            "mkdir -p /www && echo hello-from-the-pod > /www/index.html && exec httpd -f -p 127.0.0.1:18080 -h /www",
        ),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut stream = loop {
        match h.rt().port_forward(&sandbox, 18080).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "never listening: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    stream
        .write_all(b"GET /index.html HTTP/1.0\r\n\r\n")
        .await
        .expect("write");
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("answer")
        .expect("read");
    assert!(answer.contains("hello-from-the-pod"), "{answer}");
    // The host's loopback is not the pod's.
    assert!(std::net::TcpStream::connect(("127.0.0.1", 18080)).is_err());

    let err = h
        .rt()
        .port_forward(&sandbox, 18081)
        .await
        .expect_err("refused");
    assert!(
        matches!(&err, CriError::Runtime(m) if m.contains("18081")),
        "{err}"
    );
    let err = h
        .rt()
        .port_forward("no-such-sandbox", 80)
        .await
        .expect_err("unknown");
    assert!(matches!(err, CriError::NotFound(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_grow_with_cpu_and_memory_use() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("stats").await;
    let config = h.container_config(
        &pod,
        "burner",
        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40 2>/dev/null; echo filled; while :; do :; done",
    );
    let id = h.run(&sandbox, &config).await;
    h.wait_log(&config.log_path, "filled").await;
    let find = |stats: Vec<rkube_cri::ContainerStats>| {
        stats
            .into_iter()
            .find(|s| s.container_id == id)
            .expect("stats of the running container")
    };
    let first = find(h.rt().list_container_stats().await.expect("stats"));
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let second = find(h.rt().list_container_stats().await.expect("stats"));
    // A busy loop for a second (on a loaded host: at least 50 ms of it).
    assert!(
        second.cpu_usage_core_nanoseconds >= first.cpu_usage_core_nanoseconds + 50_000_000,
        "{first:?} {second:?}"
    );
    assert!(
        second.memory_working_set_bytes >= 40 << 20,
        "40 MiB in /dev/shm: {second:?}"
    );
    assert!(second.memory_usage_bytes >= second.memory_working_set_bytes);

    // The pod: its cgroup holds the container's; bytes sent on an
    // interface of its namespace are counted (a veth pair inside it, the
    // peer without an address: the ARP requests go unanswered).
    let netns = format!("{}{sandbox}", h.config.netns_prefix);
    for args in [
        vec!["link", "add", "v0", "type", "veth", "peer", "name", "v1"],
        vec!["addr", "add", "10.250.77.1/24", "dev", "v0"],
        vec!["link", "set", "v0", "up"],
        vec!["link", "set", "v1", "up"],
    ] {
        let ok = Command::new("ip")
            .arg("-n")
            .arg(&netns)
            .args(&args)
            .status()
            .expect("ip");
        assert!(ok.success(), "ip {args:?}");
    }
    let _ = Command::new("ip")
        .args([
            "netns",
            "exec",
            &netns,
            "/bin/busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "1",
        ])
        .arg("10.250.77.2")
        .output()
        .expect("busybox ping");
    let pods = h.rt().list_pod_sandbox_stats().await.expect("pod stats");
    let pod_stats = pods
        .iter()
        .find(|s| s.sandbox_id == sandbox)
        .expect("stats of the ready sandbox");
    assert!(
        pod_stats.cpu_usage_core_nanoseconds >= second.cpu_usage_core_nanoseconds,
        "{pod_stats:?}"
    );
    assert!(
        pod_stats.memory_working_set_bytes >= 40 << 20,
        "{pod_stats:?}"
    );
    assert!(pod_stats.network_tx_bytes > 0, "{pod_stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_targeted_container_sees_the_target_processes() {
    let h = Harness::new();
    let (sandbox, pod) = h.sandbox("debug").await;
    let target = h
        .run(
            &sandbox,
            &h.container_config(&pod, "app", "exec sleep 4321"),
        )
        .await;
    let debug = ContainerConfig {
        target_container_id: Some(target.clone()),
        ..h.container_config(&pod, "debugger", "ps")
    };
    let id = h.run(&sandbox, &debug).await;
    h.wait_exited(&id, Duration::from_secs(20)).await;
    let lines = stdout_lines(&debug.log_path).join("\n");
    assert!(lines.contains("sleep 4321"), "{lines}");
    // Without a target: its own namespace.
    let plain = h.container_config(&pod, "plain", "ps");
    let id = h.run(&sandbox, &plain).await;
    h.wait_exited(&id, Duration::from_secs(20)).await;
    let lines = stdout_lines(&plain.log_path).join("\n");
    assert!(!lines.contains("sleep 4321"), "{lines}");
}
