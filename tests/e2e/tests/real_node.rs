//! A real node through kubectl 1.37: `rkube up --real-node` runs pods in
//! runc containers from a busybox image the test built and loaded with
//! `rkube image load` (or pushed to a registry it started on loopback).
//!
//! Until `kubectl logs` and `exec` exist (issue 16), containers report what
//! they saw through their termination message (`/dev/termination-log`),
//! which the kubelet puts in `state.terminated.message`.

use std::process::Command;
use std::time::{Duration, Instant};

use rkube_e2e::image::{busybox_image, BUSYBOX};
use rkube_e2e::real_node::RealCluster;
use serde_json::Value;

const T: Duration = Duration::from_secs(60);

fn pod(name: &str, restart: &str, script: &str, extra_container: &str, extra_spec: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  restartPolicy: {restart}
  terminationGracePeriodSeconds: 5
{extra_spec}  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
{extra_container}"#
    )
}

fn json(c: &RealCluster, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&c.cluster.ok(&a)).expect("kubectl printed JSON")
}

/// The main container's terminated state, once it has one.
fn terminated(c: &RealCluster, pod: &str) -> Value {
    let mut state = Value::Null;
    c.cluster.wait_until(&format!("{pod} terminated"), T, || {
        let p = json(c, &["get", "pod", pod]);
        state = p["status"]["containerStatuses"][0]["state"]["terminated"].clone();
        !state.is_null()
    });
    state
}

#[test]
fn jobs_complete_and_fail_with_their_exit_codes() {
    let c = RealCluster::up();
    for (name, code) in [("ok", 0), ("three", 3)] {
        c.apply(
            name,
            &format!(
                r#"apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: {BUSYBOX}
        command: ["sh", "-c", "echo working; exit {code}"]
"#
            ),
        );
    }
    c.wait_for(
        &["job", "ok"],
        "{.status.conditions[?(@.type==\"Complete\")].status}",
        "True",
        T,
    );
    c.wait_for(
        &["job", "three"],
        "{.status.conditions[?(@.type==\"Failed\")].status}",
        "True",
        T,
    );
    let pods = json(&c, &["get", "pods", "-l", "job-name=three"]);
    let pod = &pods["items"][0];
    assert_eq!(pod["status"]["phase"], "Failed");
    let t = &pod["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(t["exitCode"], 3, "{pod}");
    assert_eq!(t["reason"], "Error");
    assert!(
        t["containerID"]
            .as_str()
            .unwrap_or("")
            .starts_with("runc://"),
        "{t}"
    );
    let ok = json(&c, &["get", "pods", "-l", "job-name=ok"]);
    let t = &ok["items"][0]["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(
        (t["exitCode"].clone(), t["reason"].clone()),
        (0.into(), "Completed".into())
    );
}

#[test]
fn crashes_back_off_and_probes_restart_and_gate_readiness() {
    let c = RealCluster::up();
    c.apply("crash", &pod("crash", "Always", "exit 1", "", ""));
    // Liveness: healthy for 3 s, then not.
    c.apply(
        "live",
        &pod(
            "live",
            "Always",
            "touch /tmp/alive; sleep 3; rm /tmp/alive; sleep 600",
            "    livenessProbe:\n      exec: {command: [test, -f, /tmp/alive]}\n      periodSeconds: 1\n      failureThreshold: 1\n",
            "",
        ),
    );
    // Readiness: ready after 4 s.
    c.apply(
        "ready",
        &format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: ready
spec:
  replicas: 1
  selector: {{matchLabels: {{app: ready}}}}
  template:
    metadata: {{labels: {{app: ready}}}}
    spec:
      containers:
      - name: main
        image: {BUSYBOX}
        command: ["sh", "-c", "sleep 4; touch /tmp/ready; sleep 600"]
        readinessProbe:
          exec: {{command: [test, -f, /tmp/ready]}}
          periodSeconds: 1
"#
        ),
    );
    c.wait_for(
        &["pods", "-l", "app=ready"],
        "{.items[0].status.phase}",
        "Running",
        T,
    );
    let p = json(&c, &["get", "pods", "-l", "app=ready"]);
    assert_eq!(
        p["items"][0]["status"]["containerStatuses"][0]["ready"], false,
        "not ready before its probe passes"
    );
    assert_eq!(
        json(&c, &["get", "deploy", "ready"])["status"]["availableReplicas"],
        Value::Null
    );
    c.wait_for(&["deploy", "ready"], "{.status.availableReplicas}", "1", T);

    c.wait_for(
        &["pod", "crash"],
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CrashLoopBackOff",
        T,
    );
    let mut restarts = 0;
    c.cluster.wait_until("crash restarts again", T, || {
        restarts = json(&c, &["get", "pod", "crash"])["status"]["containerStatuses"][0]
            ["restartCount"]
            .as_u64()
            .unwrap_or(0);
        restarts >= 2
    });
    let p = json(&c, &["get", "pod", "crash"]);
    let last = &p["status"]["containerStatuses"][0]["lastState"]["terminated"];
    assert_eq!(last["exitCode"], 1, "{p}");

    c.cluster
        .wait_until("live restarted by its liveness probe", T, || {
            json(&c, &["get", "pod", "live"])["status"]["containerStatuses"][0]["restartCount"]
                .as_u64()
                .unwrap_or(0)
                >= 1
        });
    let events = c.cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=live",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(
        events.contains("Unhealthy") && events.contains("Killing"),
        "{events}"
    );
}

#[test]
fn init_containers_sidecars_volumes_and_env_are_what_the_spec_says() {
    let c = RealCluster::up();
    c.cluster
        .ok(&["create", "configmap", "cfg", "--from-literal=colour=blue"]);
    c.cluster.ok(&[
        "create",
        "secret",
        "generic",
        "sec",
        "--from-literal=token=s3cret",
    ]);
    c.apply(
        "ordered",
        &format!(
            r#"apiVersion: v1
kind: Pod
metadata:
  name: ordered
  labels: {{tier: web}}
spec:
  restartPolicy: Never
  volumes:
  - name: work
    emptyDir: {{}}
  - name: cfg
    configMap: {{name: cfg}}
  - name: sec
    secret: {{secretName: sec}}
  - name: info
    downwardAPI:
      items:
      - path: labels
        fieldRef: {{fieldPath: metadata.labels}}
  initContainers:
  - name: first
    image: {BUSYBOX}
    command: ["sh", "-c", "echo first >> /work/log"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  - name: sidecar
    image: {BUSYBOX}
    restartPolicy: Always
    command: ["sh", "-c", "echo sidecar >> /work/log; sleep 600"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  - name: second
    image: {BUSYBOX}
    command: ["sh", "-c", "echo second >> /work/log"]
    volumeMounts: [{{name: work, mountPath: /work}}]
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", "echo main >> /work/log; (cat /work/log; cat /cfg/colour; echo; cat /sec/token; echo; cat /info/labels; echo; echo $COLOUR $TOKEN $POD $GREETING) > /dev/termination-log"]
    env:
    - name: COLOUR
      valueFrom: {{configMapKeyRef: {{name: cfg, key: colour}}}}
    - name: TOKEN
      valueFrom: {{secretKeyRef: {{name: sec, key: token}}}}
    - name: POD
      valueFrom: {{fieldRef: {{fieldPath: metadata.name}}}}
    - name: GREETING
      value: "hello $(POD)"
    volumeMounts:
    - {{name: work, mountPath: /work}}
    - {{name: cfg, mountPath: /cfg}}
    - {{name: sec, mountPath: /sec}}
    - {{name: info, mountPath: /info}}
"#
        ),
    );
    let t = terminated(&c, "ordered");
    assert_eq!(t["exitCode"], 0, "{t}");
    let message = t["message"].as_str().unwrap_or("");
    assert_eq!(
        message.lines().collect::<Vec<_>>(),
        vec![
            "first",
            "sidecar",
            "second",
            "main",
            "blue",
            "s3cret",
            "tier=\"web\"",
            "blue s3cret ordered hello ordered"
        ],
        "{t}"
    );
}

#[test]
fn a_memory_hog_is_oom_killed() {
    let c = RealCluster::up();
    c.apply(
        "hog",
        &pod(
            "hog",
            "Never",
            "head -c 200m /dev/zero | tail",
            "    resources:\n      limits: {memory: 32Mi}\n",
            "",
        ),
    );
    let t = terminated(&c, "hog");
    assert_eq!(t["reason"], "OOMKilled", "{t}");
    assert_eq!(t["exitCode"], 137, "{t}");
}

#[test]
fn pods_reach_each_other_by_ip_and_http_probes_work() {
    let c = RealCluster::up();
    c.apply(
        "web",
        &pod(
            "web",
            "Always",
            "mkdir -p /www && echo hello-from-web > /www/index.html && httpd -f -p 8080 -h /www",
            "    ports: [{containerPort: 8080}]\n    readinessProbe:\n      httpGet: {path: /index.html, port: 8080}\n      periodSeconds: 1\n",
            "",
        ),
    );
    c.wait_for(
        &["pod", "web"],
        "{.status.containerStatuses[0].ready}",
        "true",
        T,
    );
    let ip = c
        .cluster
        .ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    let prefix = c.cluster_cidr.trim_end_matches("0/24");
    assert!(
        ip.starts_with(prefix),
        "pod IP {ip} not in {}",
        c.cluster_cidr
    );
    c.apply(
        "client",
        &pod(
            "client",
            "Never",
            &format!("wget -q -O /dev/termination-log http://{ip}:8080/index.html"),
            "",
            "",
        ),
    );
    let t = terminated(&c, "client");
    assert_eq!(t["exitCode"], 0, "{t}");
    assert_eq!(t["message"], "hello-from-web\n");
    let client_ip = c
        .cluster
        .ok(&["get", "pod", "client", "-o", "jsonpath={.status.podIP}"]);
    assert_ne!(client_ip, ip);
}

#[test]
fn pre_stop_runs_before_sigterm_and_the_grace_period_is_honoured() {
    let c = RealCluster::up();
    let out = c.cluster.dir.path().join("out");
    std::fs::create_dir_all(&out).expect("mkdir");
    let volume = format!(
        "  volumes:\n  - name: out\n    hostPath: {{path: {}, type: Directory}}\n",
        out.display()
    );
    c.apply(
        "polite",
        &pod(
            "polite",
            "Always",
            "trap 'echo term >> /out/log; exit 0' TERM; echo started >> /out/log; while true; do sleep 0.2; done",
            "    volumeMounts: [{name: out, mountPath: /out}]\n    lifecycle:\n      preStop:\n        exec: {command: [sh, -c, 'echo prestop >> /out/log']}\n",
            &volume,
        ),
    );
    c.apply(
        "stubborn",
        &pod(
            "stubborn",
            "Always",
            "trap '' TERM; while true; do sleep 0.2; done",
            "",
            "",
        ),
    );
    c.wait_for(&["pod", "polite"], "{.status.phase}", "Running", T);
    c.wait_for(&["pod", "stubborn"], "{.status.phase}", "Running", T);
    c.cluster.ok(&["delete", "pod", "polite", "--wait=true"]);
    let log = std::fs::read_to_string(out.join("log")).expect("the pod wrote its log");
    assert_eq!(log, "started\nprestop\nterm\n");
    let start = Instant::now();
    c.cluster.ok(&[
        "delete",
        "pod",
        "stubborn",
        "--grace-period=3",
        "--wait=true",
    ]);
    let took = start.elapsed();
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(10),
        "deleting a pod that ignores SIGTERM with a 3 s grace period took {took:?}"
    );
}

#[test]
fn kill_9_of_rkube_leaves_exactly_one_copy_of_each_container() {
    let mut c = RealCluster::up();
    c.apply("steady", &pod("steady", "Always", "sleep 3600", "", ""));
    c.wait_for(&["pod", "steady"], "{.status.phase}", "Running", T);
    let before = json(&c, &["get", "pod", "steady"]);
    let id = before["status"]["containerStatuses"][0]["containerID"].clone();
    c.cluster.kill();
    c.cluster.start_again();
    std::thread::sleep(Duration::from_secs(3));
    c.wait_for(&["pod", "steady"], "{.status.phase}", "Running", T);
    let after = json(&c, &["get", "pod", "steady"]);
    let status = &after["status"]["containerStatuses"][0];
    assert_eq!(status["containerID"], id, "the same container, adopted");
    assert_eq!(status["restartCount"], 0);
    let list = Command::new("runc")
        .arg("--root")
        .arg(c.data_dir().join("runc"))
        .args(["list", "-q"])
        .output()
        .expect("runc list");
    let running: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(running.len(), 1, "one container in runc: {running:?}");
}

#[test]
fn images_come_from_a_loopback_registry_and_bad_input_shows_on_the_pod() {
    let c = RealCluster::up();
    // A registry on loopback, filled with skopeo from a second test image.
    let registry = rkube_e2e::registry::Registry::start(c.cluster.dir.path());
    let image = busybox_image(c.cluster.dir.path(), "localhost/e2e/pushed:2");
    let target = format!("{}/e2e/pushed:2", registry.host());
    registry.push_docker_archive(&image, &target);
    c.apply(
        "pulled",
        &pod(
            "pulled",
            "Never",
            "echo pulled > /dev/termination-log",
            "",
            "",
        )
        .replace(BUSYBOX, &target),
    );
    let t = terminated(&c, "pulled");
    assert_eq!(t["message"], "pulled\n", "{t}");
    let events = c.cluster.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=pulled",
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(
        events.contains("Pulling") && events.contains("Pulled"),
        "{events}"
    );

    let missing = format!("{}/e2e/missing:1", registry.host());
    c.apply(
        "missing",
        &pod("missing", "Always", "true", "", "").replace(BUSYBOX, &missing),
    );
    c.cluster
        .wait_until("missing shows an image pull error", T, || {
            let p = json(&c, &["get", "pod", "missing"]);
            let reason = p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].clone();
            reason == "ErrImagePull" || reason == "ImagePullBackOff"
        });
    c.apply(
        "nocmd",
        &pod("nocmd", "Never", "true", "", "").replace(
            r#"command: ["sh", "-c", "true"]"#,
            r#"command: ["/no/such/program"]"#,
        ),
    );
    c.apply(
        "nokey",
        &pod(
            "nokey",
            "Never",
            "true",
            "    env:\n    - name: X\n      valueFrom: {configMapKeyRef: {name: absent, key: k}}\n",
            "",
        ),
    );
    c.wait_for(
        &["pod", "nokey"],
        "{.status.containerStatuses[0].state.waiting.reason}",
        "CreateContainerConfigError",
        T,
    );
    // runc refuses to create it: the kubelet shows why while it retries
    // (with back-off).
    let mut state = Value::Null;
    c.cluster
        .wait_until("nocmd shows that it cannot start", T, || {
            state = json(&c, &["get", "pod", "nocmd"])["status"]["containerStatuses"][0]["state"]
                .clone();
            state["waiting"]["reason"] == "CreateContainerError"
        });
    let message = state["waiting"]["message"].as_str().unwrap_or("");
    assert!(message.contains("/no/such/program"), "{state}");
    // The node goes on serving other pods.
    c.apply(
        "fine",
        &pod("fine", "Never", "echo fine > /dev/termination-log", "", ""),
    );
    assert_eq!(terminated(&c, "fine")["message"], "fine\n");
}
