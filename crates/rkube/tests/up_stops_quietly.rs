//! A clean stop is quiet: Ctrl-C on a busy `rkube up` stops the
//! controllers, the scheduler and the simulated nodes before the store
//! closes, so nothing warns that the store is closed and the exit code is 0.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{free_addr, rkube, Running};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const WORK_TIMEOUT: Duration = Duration::from_secs(60);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// `kubectl ARGS` against the cluster in `data_dir`; stdout, or a panic
/// with what kubectl said. kubectl 1.37 is required (scripts/setup.sh).
fn kubectl(data_dir: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(data_dir.join("kubeconfig"))
        .args(args)
        .output()
        .expect("kubectl must be installed (scripts/setup.sh installs it)");
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The log lines at WARN or ERROR level.
fn warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains(" WARN ") || l.contains(" ERROR "))
        .collect()
}

#[test]
fn sigint_stops_a_busy_up_without_warnings() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let addr = free_addr();
    let mut cmd = rkube();
    cmd.arg("up")
        .arg("--data-dir")
        .arg(&data_dir)
        .args(["--sim-nodes", "3", "--listen"])
        .arg(addr.to_string());
    let mut up = Running::start(cmd, addr, tmp.path());
    up.wait_for("/readyz", "ok", READY_TIMEOUT);

    // Work in progress when the signal comes: a Deployment whose pods the
    // controllers create, the scheduler binds and the nodes start.
    kubectl(
        &data_dir,
        &[
            "create",
            "deployment",
            "web",
            "--image=registry.k8s.io/pause:3.10",
            "--replicas=30",
        ],
    );
    let deadline = Instant::now() + WORK_TIMEOUT;
    loop {
        let phases = kubectl(
            &data_dir,
            &[
                "get",
                "pods",
                "-o",
                "jsonpath={range .items[*]}{.status.phase}{\"\\n\"}{end}",
            ],
        );
        if phases.lines().any(|p| p == "Running") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no pod of the Deployment ran within {WORK_TIMEOUT:?}; log:\n{}",
            up.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = up.log();
    for started in [
        "controllers started",
        "scheduler started",
        "simulated nodes registered",
    ] {
        assert!(log.contains(started), "no {started:?} in the log:\n{log}");
    }

    up.signal("INT");
    let status = up.wait_exit(EXIT_TIMEOUT);
    let log = up.log();
    assert_eq!(status.code(), Some(0), "exit after SIGINT; log:\n{log}");
    assert!(
        log.contains("store closed; stopped"),
        "the store was not closed:\n{log}"
    );
    assert_eq!(
        warnings(&log),
        Vec::<&str>::new(),
        "a clean stop logged warnings or errors; log:\n{log}"
    );
}
