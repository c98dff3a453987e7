//! The official Python client's `stream()` exec and `portforward` against
//! a real node (`scripts/python_streams.py`): stdout, stderr, stdin, the
//! exit code, and HTTP through a forwarded port to busybox `httpd`.

use std::process::Command;
use std::time::Duration;

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;

#[test]
fn python_client_exec_and_portforward() {
    let has_client = Command::new("python3")
        .args(["-c", "import kubernetes, websocket"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_client,
        "python3 -c 'import kubernetes, websocket' failed: this test needs the Python kubernetes \
         client (scripts/setup.sh installs it)"
    );
    let c = RealCluster::up();
    for (name, script) in [
        ("shell", "sleep 3600"),
        (
            "httpd",
            "mkdir -p /www && echo served-by-busybox > /www/index.html && httpd -f -p 8080 -h /www",
        ),
    ] {
        c.apply(
            name,
            &format!(
                r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
"#
            ),
        );
        c.wait_for(
            &["pod", name],
            "{.status.phase}",
            "Running",
            Duration::from_secs(60),
        );
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/python_streams.py");
    let out = Command::new("python3")
        .arg(script)
        .arg(c.cluster.kubeconfig())
        .args(["default", "shell", "httpd"])
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python streams failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.cluster.log()
    );
}
