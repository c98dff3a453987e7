//! `kubectl logs`, `exec`, `debug` and discovery of the pod subresources
//! with kubectl 1.37 against `rkube up --sim-nodes 1`: a simulated node's
//! log is synthetic, exec says the node is simulated (and fails), an
//! ephemeral container added by `kubectl debug` shows in the pod.

use std::time::Duration;

use rkube_e2e::Cluster;

#[test]
fn logs_exec_and_debug_on_a_simulated_node() {
    let c = Cluster::up_with(&["--sim-nodes", "1"]);
    c.wait_until("a node", Duration::from_secs(20), || {
        c.ok(&["get", "nodes", "-o", "name"]).lines().count() == 1
    });
    let yaml = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers: [{name: app, image: busybox}]\n";
    c.ok(&[
        "apply",
        "-f",
        c.file("web.yaml", yaml).to_str().expect("path"),
    ]);
    c.wait_until("web runs", Duration::from_secs(20), || {
        c.ok(&["get", "pod", "web", "-o", "jsonpath={.status.phase}"]) == "Running"
    });

    // Discovery lists the subresources kubectl needs.
    let raw = c.ok(&["get", "--raw", "/api/v1"]);
    for sub in [
        "\"pods/log\"",
        "\"pods/exec\"",
        "\"pods/attach\"",
        "\"pods/portforward\"",
        "\"pods/proxy\"",
        "\"pods/ephemeralcontainers\"",
        "\"services/proxy\"",
        "\"nodes/proxy\"",
    ] {
        assert!(raw.contains(sub), "{sub} not in {raw}");
    }

    let log = c.ok(&["logs", "web"]);
    assert!(log.contains("container app of pod default/web"), "{log}");
    let tail = c.ok(&["logs", "web", "--tail", "1", "--timestamps"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");

    let err = c.fails(&["exec", "web", "--", "ls"]);
    assert!(err.contains("simulated"), "{err}");

    c.ok(&[
        "debug",
        "web",
        "--image",
        "busybox",
        "--container",
        "debugger",
        "--target",
        "app",
        "--",
        "sh",
    ]);
    let yaml = c.ok(&["get", "pod", "web", "-o", "yaml"]);
    assert!(yaml.contains("ephemeralContainers:"), "{yaml}");
    assert!(yaml.contains("name: debugger"), "{yaml}");
    assert!(yaml.contains("targetContainerName: app"), "{yaml}");
}
