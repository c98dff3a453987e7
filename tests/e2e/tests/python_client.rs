//! The official Python `kubernetes` client (from PyPI, installed by
//! `scripts/setup.sh`) drives `rkube up`: create, AlreadyExists, paging,
//! stale replace → Conflict, watch from a resourceVersion, delete, NotFound.
//! The flows are in `scripts/python_core_flows.py`.

use std::process::Command;

use rkube_e2e::Cluster;

#[test]
fn python_client_core_flows() {
    let has_client = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_client,
        "python3 -c 'import kubernetes' failed: this test needs the Python kubernetes client \
         (scripts/setup.sh installs it)"
    );
    let c = Cluster::up();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/python_core_flows.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(c.dir.path().join("data/kubeconfig"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python client flows failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}

/// The statuses kube-apiserver returns though nobody wrote them, as the
/// Python client reads them (`scripts/python_statuses.py`): a Service's
/// `status` is truthy with `load_balancer` set. The client must be
/// installed.
#[test]
fn python_client_sees_always_present_statuses() {
    let has_client = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_client,
        "python3 -c 'import kubernetes' failed; run scripts/setup.sh"
    );
    let c = Cluster::up_with(&["--disable-controller-manager", "--disable-scheduler"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/python_statuses.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(c.dir.path().join("data/kubeconfig"))
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python statuses failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}
