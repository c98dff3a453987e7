//! How the API decodes and checks what clients send, through the official
//! Python client (flows in `scripts/python_api_semantics.py`) and kubectl
//! 1.37: `fieldValidation` (Strict → 400, Warn → `Warning` header, Ignore),
//! wrong types → 400, YAML bodies, `ListOptions` validation → 422, a
//! too-new resourceVersion → 504, and periodic watch bookmarks.

use std::process::Command;

use rkube_e2e::Cluster;

/// Fails the test unless the Python kubernetes client can be imported.
fn require_python_client() {
    let ok = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "python3 -c 'import kubernetes' failed: this test needs the Python kubernetes client \
         (scripts/setup.sh installs it)"
    );
}

#[test]
fn python_client_sees_decoding_and_list_rules() {
    require_python_client();
    let c = Cluster::up_with(&["--watch-bookmark-interval", "1s"]);
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/python_api_semantics.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(c.kubeconfig())
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "python flows failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}

#[test]
fn kubectl_prints_warnings_for_dropped_fields() {
    let c = Cluster::up();
    let manifest = c.file(
        "w.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: w\ndata:\n  a: b\n",
    );
    c.ok(&["create", "-f", manifest.to_str().expect("utf-8 path")]);
    let out = c.kubectl(&[
        "patch",
        "configmap",
        "w",
        "--type=merge",
        "-p",
        r#"{"colour":"red","data":{"c":"d"}}"#,
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "patch failed: {stderr}");
    assert!(
        stderr.contains(r#"Warning: unknown field "colour""#),
        "kubectl should print the server's warning, got: {stderr}"
    );
    let stored = c.ok(&["get", "configmap", "w", "-o", "json"]);
    let stored: serde_json::Value = serde_json::from_str(&stored).expect("json");
    assert!(stored.get("colour").is_none(), "dropped: {stored}");
    assert_eq!(stored["data"]["c"], "d");

    // A type error in a patch is refused, and nothing changes.
    let err = c.fails(&[
        "patch",
        "configmap",
        "w",
        "--type=merge",
        "-p",
        r#"{"data":{"e":7}}"#,
    ]);
    assert!(
        err.contains(r#"ConfigMap in version "v1" cannot be handled as a ConfigMap"#),
        "{err}"
    );
    let data = c.ok(&["get", "configmap", "w", "-o", "jsonpath={.data}"]);
    assert_eq!(data, r#"{"a":"b","c":"d"}"#);
}
