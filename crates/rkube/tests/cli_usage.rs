//! Every subcommand explains itself with `--help`, and what is not built
//! yet says so.

mod common;

use common::run;

fn help(args: &[&str]) -> String {
    let out = run(args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Usage: rkube"),
        "{args:?} printed no usage:\n{stdout}"
    );
    stdout
}

#[test]
fn top_level_help_lists_the_subcommands() {
    let text = help(&["--help"]);
    for sub in ["up", "server", "node", "bench"] {
        assert!(
            text.contains(&format!("\n  {sub} ")),
            "no {sub} in:\n{text}"
        );
    }
}

#[test]
fn up_help_shows_its_flags() {
    let text = help(&["up", "--help"]);
    for flag in [
        "--data-dir",
        "--listen",
        "--sim-nodes",
        "RKUBE_DATA_DIR",
        "./.rkube",
        "127.0.0.1:6443",
    ] {
        assert!(text.contains(flag), "no {flag} in:\n{text}");
    }
}

#[test]
fn server_help_shows_its_flags() {
    let text = help(&["server", "--help"]);
    for flag in [
        "--data-dir",
        "--listen",
        "--store",
        "--etcd-endpoints",
        "--etcd-prefix",
    ] {
        assert!(text.contains(flag), "no {flag} in:\n{text}");
    }
}

#[test]
fn bench_store_help_shows_its_flags() {
    let text = help(&["bench", "store", "--help"]);
    for flag in [
        "--quick",
        "--duration",
        "--concurrency",
        "--memory-keys",
        "--dir",
    ] {
        assert!(text.contains(flag), "no {flag} in:\n{text}");
    }
    assert!(
        !text.contains("--child"),
        "the internal --child flag should be hidden"
    );
    help(&["bench", "--help"]);
}

#[test]
fn bench_node_help_shows_its_flags() {
    let text = help(&["bench", "node", "--help"]);
    for flag in ["--quick", "--pods", "--dir"] {
        assert!(text.contains(flag), "no {flag} in:\n{text}");
    }
}

#[test]
fn node_has_help_and_needs_a_kubeconfig() {
    let text = help(&["node", "--help"]);
    for flag in [
        "--sim-nodes",
        "--kubeconfig",
        "--server",
        "--sim-pod-start-delay",
        "--real-node",
        "--node-name",
        "--pod-bridge",
        "--cluster-cidr",
        "--eviction-hard",
    ] {
        assert!(text.contains(flag), "no {flag} in:\n{text}");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("no-such-kubeconfig");
    let out = run(&["node", "--kubeconfig", missing.to_str().expect("utf-8")]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot read the kubeconfig") && stderr.contains("no-such-kubeconfig"),
        "unclear error:\n{stderr}"
    );
}

#[test]
fn controller_manager_and_scheduler_have_help() {
    for cmd in ["controller-manager", "scheduler"] {
        let text = help(&[cmd, "--help"]);
        assert!(text.contains("--kubeconfig"), "no --kubeconfig in:\n{text}");
    }
}

#[test]
fn unknown_subcommands_are_rejected() {
    let out = run(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(2));
}
