//! `rkube server` serves on either store: the embedded one, or a real etcd
//! that the test starts; an unreachable etcd is a clear startup error.

mod common;

use std::time::Duration;

use common::{admin_get, free_addr, rkube, Running};
use rkube_store::testing::EtcdServer;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

fn serve_until_sigterm(extra: &[String]) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let addr = free_addr();
    let mut cmd = rkube();
    cmd.arg("server")
        .arg("--data-dir")
        .arg(tmp.path().join("data"))
        .args(["--listen", &addr.to_string()])
        .args(extra);
    let mut server = Running::start(cmd, addr, tmp.path());
    let server_addr = server.addr;
    server.wait_for("/readyz", "ok", READY_TIMEOUT);
    let (status, metrics) =
        admin_get(server_addr, &tmp.path().join("data"), "/metrics").expect("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("rkube_store_"),
        "no store metrics:\n{metrics}"
    );
    server.signal("TERM");
    let status = server.wait_exit(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        server.log()
    );
}

#[test]
fn server_on_the_embedded_store() {
    serve_until_sigterm(&[]);
}

#[test]
fn server_on_etcd() {
    let etcd = EtcdServer::start().expect("start etcd (scripts/setup.sh installs it)");
    serve_until_sigterm(&[
        "--store".into(),
        "etcd".into(),
        "--etcd-endpoints".into(),
        etcd.endpoints().join(","),
        "--etcd-prefix".into(),
        "/rkube-test".into(),
    ]);
}

#[test]
fn server_with_unreachable_etcd_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // A port that nothing listens on.
    let dead = free_addr();
    let out = rkube()
        .arg("server")
        .arg("--data-dir")
        .arg(tmp.path())
        .args([
            "--listen",
            &free_addr().to_string(),
            "--store",
            "etcd",
            "--etcd-endpoints",
        ])
        .arg(format!("http://{dead}"))
        .output()
        .expect("run rkube");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("cannot use etcd at"),
        "unclear error:\n{stderr}"
    );
}
