//! Into a running pod with kubectl 1.37, on `rkube up --real-node` with
//! busybox images made by the test: `logs` (follow, previous, the
//! filters), `exec` (stdin, terminal with its size, exit code), `cp` both
//! ways, `port-forward` to busybox `httpd` with 50 connections at once
//! through curl, `debug --target`, and `top`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;

const T: Duration = Duration::from_secs(60);

fn pod(name: &str, script: &str, extra: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels:
    app: {name}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {BUSYBOX}
    command: ["sh", "-c", {script:?}]
    resources:
      requests:
        cpu: 100m
{extra}"#
    )
}

fn running(c: &RealCluster, name: &str) {
    c.wait_for(&["pod", name], "{.status.phase}", "Running", T);
}

/// Wait until `kubectl <args>` prints something containing `want`; return
/// the last output.
fn until_prints(c: &RealCluster, args: &[&str], want: &str) -> String {
    let deadline = Instant::now() + T;
    loop {
        let out = c.cluster.kubectl(args);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl {args:?} never printed {want:?}; last:\n{text}\n{}\nserver log:\n{}",
            String::from_utf8_lossy(&out.stderr),
            c.cluster.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn logs_follow_filter_and_show_the_previous_instance() {
    let c = RealCluster::up();
    c.apply(
        "counter",
        &pod(
            "counter",
            "echo to-stderr >&2; i=0; while [ $i -lt 400 ]; do echo line-$i; i=$((i+1)); sleep 0.05; done; exit 3",
            "",
        ),
    );
    running(&c, "counter");

    // -f prints lines as they are written and ends when the container ends.
    let out_file = c.cluster.dir.path().join("follow.txt");
    let mut follow = c
        .cluster
        .spawn_kubectl(&["logs", "-f", "counter"], &out_file);
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(s) = follow.try_wait().expect("wait kubectl") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl logs -f did not end with the container"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "kubectl logs -f failed");
    let followed = std::fs::read_to_string(&out_file).expect("follow output");
    assert!(followed.contains("to-stderr"), "{followed}");
    assert!(followed.contains("line-0\n"), "{followed}");
    assert!(followed.contains("line-399\n"), "{followed}");

    // The container exited with 3 and was restarted: --previous shows the
    // first instance, in full.
    c.wait_for(
        &["pod", "counter"],
        "{.status.containerStatuses[0].restartCount}",
        "1",
        T,
    );
    let previous = c.cluster.ok(&["logs", "counter", "--previous"]);
    assert!(previous.contains("line-399"), "{previous}");

    let tail = c
        .cluster
        .ok(&["logs", "counter", "--previous", "--tail", "2"]);
    assert_eq!(tail, "line-398\nline-399\n");

    let limited = c
        .cluster
        .ok(&["logs", "counter", "--previous", "--limit-bytes", "7"]);
    assert_eq!(limited.len(), 7, "{limited:?}");

    let stamped = c.cluster.ok(&[
        "logs",
        "counter",
        "--previous",
        "--tail",
        "1",
        "--timestamps",
    ]);
    let (stamp, line) = stamped
        .trim_end()
        .split_once(' ')
        .expect("timestamp and line");
    assert_eq!(line, "line-399");
    assert!(
        stamp.len() > 20 && stamp.contains('T') && stamp.ends_with('Z'),
        "RFC3339Nano timestamp: {stamp}"
    );

    // --since: nothing of the first instance is younger than a second
    // after it ended … but the running instance has written since.
    let since = until_prints(&c, &["logs", "counter", "--since", "5s"], "line-");
    assert!(!since.contains("line-0\n") || since.lines().count() < 400);

    // By label and with -c.
    let by_label = until_prints(&c, &["logs", "-l", "app=counter", "-c", "main"], "line-");
    assert!(by_label.contains("line-"), "{by_label}");

    // A container the pod does not have is named in the error.
    let err = c.cluster.fails(&["logs", "counter", "-c", "nope"]);
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn logs_of_a_deployment_and_of_all_containers() {
    let c = RealCluster::up();
    c.apply(
        "web",
        &format!(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: one
        image: {BUSYBOX}
        command: ["sh", "-c", "echo from-one; sleep 3600"]
      - name: two
        image: {BUSYBOX}
        command: ["sh", "-c", "echo from-two; sleep 3600"]
"#
        ),
    );
    c.wait_for(
        &["deployment", "web"],
        "{.status.readyReplicas}",
        "1",
        Duration::from_secs(90),
    );
    let one = until_prints(&c, &["logs", "deployment/web", "-c", "one"], "from-one");
    assert!(!one.contains("from-two"), "{one}");
    let all = until_prints(
        &c,
        &["logs", "deployment/web", "--all-containers"],
        "from-two",
    );
    assert!(all.contains("from-one"), "{all}");
}

#[test]
fn exec_with_stdin_terminal_and_exit_code() {
    let c = RealCluster::up();
    c.apply("shell", &pod("shell", "sleep 3600", ""));
    running(&c, "shell");

    // stdin reaches the command; its output comes back.
    let mut child = Command::new(rkube_e2e::kubectl_bin())
        .args(["exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z"])
        .env("KUBECONFIG", c.cluster.kubeconfig())
        .env("HOME", c.cluster.dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kubectl exec");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"hello from stdin\n").expect("write stdin");
    } // closing stdin ends `tr`
    let out = child.wait_with_output().expect("kubectl exec");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO FROM STDIN\n");

    // stdout and stderr stay apart without a terminal.
    let out = c
        .cluster
        .kubectl(&["exec", "shell", "--", "sh", "-c", "echo out; echo err >&2"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");

    // kubectl exits with the command's exit code.
    let out = c
        .cluster
        .kubectl(&["exec", "shell", "--", "sh", "-c", "exit 7"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");

    // A terminal: kubectl runs inside `script` (a pty of 37 rows and 101
    // columns); the command sees a tty of that size.
    let cmd = format!(
        "stty rows 37 cols 101; {} exec -it shell -- sh -c 'tty; stty size'",
        rkube_e2e::kubectl_bin().display()
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("KUBECONFIG", c.cluster.kubeconfig())
        .env("HOME", c.cluster.dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("script (bsdutils) runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("/dev/pts/"), "a terminal: {text}");
    assert!(text.contains("37 101"), "the terminal's size: {text}");

    // A container that does not exist: kubectl says so, the node keeps
    // serving.
    let err = c
        .cluster
        .fails(&["exec", "shell", "-c", "nope", "--", "true"]);
    assert!(err.contains("nope"), "{err}");
    let out = c.cluster.ok(&["exec", "shell", "--", "echo", "still"]);
    assert_eq!(out, "still\n");
}

#[test]
fn cp_both_ways() {
    let c = RealCluster::up();
    c.apply("box", &pod("box", "sleep 3600", ""));
    running(&c, "box");
    let local = c.cluster.file("up.txt", "uploaded through kubectl cp\n");
    c.cluster
        .ok(&["cp", local.to_str().expect("utf-8"), "box:/tmp/up.txt"]);
    let inside = c.cluster.ok(&["exec", "box", "--", "cat", "/tmp/up.txt"]);
    assert_eq!(inside, "uploaded through kubectl cp\n");

    c.cluster.ok(&[
        "exec",
        "box",
        "--",
        "sh",
        "-c",
        "mkdir -p /tmp/d/sub && echo deep > /tmp/d/sub/f",
    ]);
    let back = c.cluster.dir.path().join("back");
    c.cluster
        .ok(&["cp", "box:/tmp/d", back.to_str().expect("utf-8")]);
    assert_eq!(
        std::fs::read_to_string(back.join("sub/f")).expect("copied file"),
        "deep\n"
    );
}

/// A free port on loopback for kubectl port-forward.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

#[test]
fn port_forward_serves_fifty_parallel_connections() {
    let c = RealCluster::up();
    c.apply(
        "httpd",
        &pod(
            "httpd",
            "mkdir -p /www && echo served-by-busybox > /www/index.html && httpd -f -p 8080 -h /www",
            "",
        ),
    );
    running(&c, "httpd");
    let port = free_port();
    let mapping = format!("{port}:8080");
    let log = c.cluster.dir.path().join("pf.txt");
    let mut pf = c
        .cluster
        .spawn_kubectl(&["port-forward", "pod/httpd", &mapping], &log);
    let url = format!("http://127.0.0.1:{port}/index.html");
    c.cluster
        .wait_until("port-forward listens", Duration::from_secs(30), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("Forwarding from")
        });
    let mut args = vec![
        "-s".to_string(),
        "--fail".into(),
        "--parallel".into(),
        "--parallel-max".into(),
        "50".into(),
        "--max-time".into(),
        "30".into(),
    ];
    for _ in 0..50 {
        args.push(url.clone());
    }
    let out = Command::new("curl")
        .args(&args)
        .output()
        .expect("curl runs");
    let _ = pf.kill();
    let _ = pf.wait();
    assert!(
        out.status.success(),
        "curl: {}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        c.cluster.log()
    );
    let body = String::from_utf8_lossy(&out.stdout);
    assert_eq!(body.matches("served-by-busybox").count(), 50, "{body}");

    // A port nothing listens on: the connection fails, kubectl says why,
    // and a forward to the open port afterwards still works.
    let closed = free_port();
    let mapping = format!("{closed}:9");
    let log2 = c.cluster.dir.path().join("pf2.txt");
    let mut pf2 = c
        .cluster
        .spawn_kubectl(&["port-forward", "pod/httpd", &mapping], &log2);
    c.cluster.wait_until(
        "second port-forward listens",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&log2)
                .unwrap_or_default()
                .contains("Forwarding from")
        },
    );
    let refused = Command::new("curl")
        .args(["-s", "--max-time", "10"])
        .arg(format!("http://127.0.0.1:{closed}/"))
        .output()
        .expect("curl runs");
    let _ = pf2.kill();
    let _ = pf2.wait();
    assert!(!refused.status.success());
    let again = c.cluster.ok(&[
        "exec",
        "httpd",
        "--",
        "wget",
        "-qO-",
        "http://127.0.0.1:8080/",
    ]);
    assert_eq!(again, "served-by-busybox\n");
}

#[test]
fn debug_with_target_sees_the_target_processes() {
    let c = RealCluster::up();
    c.apply("target", &pod("target", "exec sleep 3601", ""));
    running(&c, "target");
    c.cluster.ok(&[
        "debug",
        "target",
        "--image",
        BUSYBOX,
        "--target",
        "main",
        "--container",
        "dbg",
        "--",
        "sh",
        "-c",
        "ps; sleep 3600",
    ]);
    c.cluster.wait_until("the debug container runs", T, || {
        let out = c.cluster.kubectl(&[
            "get",
            "pod",
            "target",
            "-o",
            "jsonpath={.status.ephemeralContainerStatuses[0].state.running.startedAt}",
        ]);
        !out.stdout.is_empty()
    });
    let ps = until_prints(&c, &["logs", "target", "-c", "dbg"], "sleep 3601");
    assert!(ps.contains("sleep 3601"), "{ps}");
}

#[test]
fn top_shows_what_pods_use() {
    let c = RealCluster::up();
    c.apply("burn", &pod("burn", "while :; do :; done", ""));
    running(&c, "burn");
    let nodes = until_prints(&c, &["top", "nodes", "--no-headers"], "%");
    assert!(nodes.split_whitespace().count() >= 5, "{nodes}");
    let deadline = Instant::now() + T;
    loop {
        let out = c.cluster.kubectl(&["top", "pod", "burn", "--no-headers"]);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        // NAME CPU(cores) MEMORY(bytes): a busy loop uses hundreds of
        // millicores.
        let cpu = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.strip_suffix('m'))
            .and_then(|m| m.parse::<u64>().ok());
        if cpu.is_some_and(|m| m >= 200) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "kubectl top pod never showed the busy loop: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
}
