//! The official Python client's `utils.create_from_yaml` of a
//! multi-document file holding a ReplicationController, a Service and a
//! Deployment (`scripts/python_create_from_yaml.py`): each is created
//! through its typed API and reads back as written.

use std::process::Command;

use rkube_e2e::Cluster;

#[test]
fn create_from_yaml_with_a_replication_controller() {
    let has_client = Command::new("python3")
        .args(["-c", "import kubernetes"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_client,
        "python3 with the kubernetes client is required (run scripts/setup.sh)"
    );
    let c = Cluster::up();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/python_create_from_yaml.py"
    );
    let out = Command::new("python3")
        .arg(script)
        .arg(c.kubeconfig())
        .output()
        .expect("run python3");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "create_from_yaml failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        c.log()
    );
}
