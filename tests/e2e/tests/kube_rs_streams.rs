//! kube-rs's `exec`, `attach` and `portforward` (WebSocket, `v5`/`v4`
//! channel protocols) against a real node: output, stdin, the exit status,
//! an attached container's output and input, HTTP through a forwarded
//! port to busybox `httpd`.

use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use rkube_e2e::image::BUSYBOX;
use rkube_e2e::real_node::RealCluster;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn client(c: &RealCluster) -> Client {
    let kc = Kubeconfig::read_from(c.cluster.kubeconfig()).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    Client::try_from(config).expect("client")
}

fn start(c: &RealCluster, name: &str, script: &str, extra: &str) {
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
{extra}"#
        ),
    );
    c.wait_for(
        &["pod", name],
        "{.status.phase}",
        "Running",
        Duration::from_secs(60),
    );
}

async fn read_all(mut r: impl AsyncReadExt + Unpin) -> String {
    let mut s = String::new();
    r.read_to_string(&mut s).await.expect("read stream");
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kube_rs_exec_attach_and_portforward() {
    let c = RealCluster::up();
    start(&c, "shell", "sleep 3600", "");
    start(
        &c,
        "echoer",
        "while read line; do echo echoed-$line; done",
        "    stdin: true\n",
    );
    start(
        &c,
        "httpd",
        "mkdir -p /www && echo served-by-busybox > /www/index.html && httpd -f -p 8080 -h /www",
        "",
    );
    let pods: Api<Pod> = Api::default_namespaced(client(&c).await);

    // exec: stdin in, stdout and stderr out, the status at the end.
    let mut p = pods
        .exec(
            "shell",
            ["sh", "-c", "read x; echo out-$x; echo err-$x >&2; exit 5"],
            &AttachParams::default().stdin(true).stderr(true),
        )
        .await
        .expect("exec");
    let mut stdin = p.stdin().expect("stdin");
    stdin.write_all(b"kube\n").await.expect("write");
    let stdout = p.stdout().expect("stdout");
    let stderr = p.stderr().expect("stderr");
    let status = p.take_status().expect("status");
    let (out, err) = tokio::join!(read_all(stdout), read_all(stderr));
    assert_eq!(out, "out-kube\n");
    assert_eq!(err, "err-kube\n");
    let status = status.await.expect("a status");
    assert_eq!(status.status.as_deref(), Some("Failure"), "{status:?}");
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status
        .details
        .and_then(|d| d.causes)
        .and_then(|c| {
            c.into_iter()
                .find(|c| c.reason.as_deref() == Some("ExitCode"))
        })
        .and_then(|c| c.message);
    assert_eq!(code.as_deref(), Some("5"));
    p.join().await.expect("exec ends");

    // attach: what the container prints from now on, and input to it.
    let mut a = pods
        .attach(
            "echoer",
            &AttachParams::default()
                .container("main")
                .stdin(true)
                .stderr(false),
        )
        .await
        .expect("attach");
    let mut input = a.stdin().expect("stdin");
    let mut output = a.stdout().expect("stdout");
    input.write_all(b"one\n").await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&got).contains("echoed-one\n") {
        let n = tokio::time::timeout(Duration::from_secs(20), output.read(&mut buf))
            .await
            .expect("attached output in time")
            .expect("read");
        assert!(
            n > 0,
            "attach ended early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    a.abort();

    // portforward: HTTP through port 8080.
    let mut pf = pods
        .portforward("httpd", &[8080])
        .await
        .expect("portforward");
    let mut s = pf.take_stream(8080).expect("stream");
    s.write_all(b"GET /index.html HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .expect("write");
    let mut resp = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut resp))
        .await
        .expect("response in time")
        .expect("read");
    let resp = String::from_utf8_lossy(&resp);
    assert!(
        resp.contains("200 OK") && resp.contains("served-by-busybox"),
        "{resp}"
    );
    drop(s);
    pf.abort();
}
