//! `rkube up` as a user runs it: it serves health and metrics once the
//! store is open, and a signal stops it cleanly with exit code 0.

mod common;

use std::time::Duration;

use common::{admin_get, free_addr, http_get, rkube, Running};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);

#[test]
fn up_is_ready_serves_metrics_and_stops_on_sigterm() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("data");
    let addr = free_addr();
    let mut cmd = rkube();
    cmd.args(["up", "--no-real-node"])
        .arg("--data-dir")
        .arg(&data_dir)
        .arg("--listen")
        .arg(addr.to_string());
    let mut up = Running::start(cmd, addr, tmp.path());
    let server_addr = up.addr;

    up.wait_for("/readyz", "ok", READY_TIMEOUT);
    for path in ["/livez", "/healthz"] {
        assert_eq!(
            http_get(server_addr, path).expect(path),
            (200, "ok".to_string()),
            "{path}"
        );
    }
    // Anonymous clients may only check health; metrics need credentials.
    assert_eq!(http_get(server_addr, "/metrics").expect("/metrics").0, 401);
    let (status, metrics) = admin_get(server_addr, &data_dir, "/metrics").expect("/metrics");
    assert_eq!(status, 200);
    assert!(
        metrics.lines().any(|l| l.starts_with("rkube_store_")),
        "no rkube_store_ lines in /metrics:\n{metrics}"
    );
    // The API's own metrics, by the names Kubernetes users query. The
    // controllers list namespaces too, so the count goes up by at least
    // our one list.
    let namespace_lists = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("apiserver_request_total{")
                    && l.contains(r#"verb="LIST""#)
                    && l.contains(r#"resource="namespaces""#)
                    && l.contains(r#"code="200""#)
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (_, before) = admin_get(server_addr, &data_dir, "/metrics").expect("/metrics");
    assert_eq!(
        admin_get(server_addr, &data_dir, "/api/v1/namespaces")
            .expect("list")
            .0,
        200
    );
    let (_, metrics) = admin_get(server_addr, &data_dir, "/metrics").expect("/metrics");
    assert!(
        namespace_lists(&metrics) > namespace_lists(&before),
        "no apiserver_request_total for the list:\n{metrics}"
    );
    assert!(
        metrics.contains("apiserver_request_duration_seconds_bucket{"),
        "{metrics}"
    );
    assert!(
        metrics
            .lines()
            .any(|l| l == r#"apiserver_storage_objects{resource="namespaces"} 4"#),
        "the four initial namespaces are counted:\n{metrics}"
    );
    assert!(
        metrics.contains("# EOF"),
        "metrics are not complete OpenMetrics text"
    );
    assert_eq!(
        admin_get(server_addr, &data_dir, "/nope").expect("/nope").0,
        404
    );
    assert!(
        data_dir.join("kubeconfig").is_file(),
        "no DATA_DIR/kubeconfig"
    );
    assert!(
        data_dir.join("store").is_dir(),
        "the store was not created in DATA_DIR/store"
    );

    up.signal("TERM");
    let status = up.wait_exit(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        up.log()
    );
    let log = up.log();
    assert!(
        log.contains("shutting down"),
        "no shutdown in the log:\n{log}"
    );
    assert!(
        log.contains("store closed"),
        "the store was not closed:\n{log}"
    );
}

#[test]
fn up_takes_the_data_dir_from_the_environment_and_stops_on_sigint() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let data_dir = tmp.path().join("from-env");
    let addr = free_addr();
    // Twice on the same data directory: the store reopens what it wrote.
    for round in 0..2 {
        let mut cmd = rkube();
        cmd.env("RKUBE_DATA_DIR", &data_dir)
            .args(["up", "--sim-nodes", "3", "--listen"])
            .arg(addr.to_string());
        let mut up = Running::start(cmd, addr, tmp.path());
        up.wait_for("/readyz", "ok", READY_TIMEOUT);
        assert!(
            data_dir.join("store").is_dir(),
            "RKUBE_DATA_DIR was not used"
        );
        if round == 0 {
            let mut registered = false;
            for _ in 0..100 {
                if up.log().contains("simulated nodes registered") {
                    registered = true;
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            assert!(
                registered && up.log().contains("nodes=3"),
                "the 3 simulated nodes were not registered:\n{}",
                up.log()
            );
        }
        up.signal("INT");
        let status = up.wait_exit(EXIT_TIMEOUT);
        assert_eq!(
            status.code(),
            Some(0),
            "round {round}, exit after SIGINT; log:\n{}",
            up.log()
        );
    }
}

#[test]
fn up_with_a_bad_listen_value_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for bad in ["nonsense", "localhost:6443", "127.0.0.1", "127.0.0.1:70000"] {
        let out = rkube()
            .arg("up")
            .arg("--data-dir")
            .arg(tmp.path())
            .args(["--listen", bad])
            .output()
            .expect("run rkube");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "--listen {bad} should fail");
        assert!(
            stderr.contains("--listen") && stderr.contains("ADDR:PORT"),
            "unclear error for --listen {bad}:\n{stderr}"
        );
    }
}

#[test]
fn up_on_a_busy_port_fails_clearly() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = busy.local_addr().expect("addr");
    let out = rkube()
        .arg("up")
        .arg("--data-dir")
        .arg(tmp.path())
        .args(["--listen", &addr.to_string()])
        .output()
        .expect("run rkube");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "unclear error:\n{stderr}"
    );
}
