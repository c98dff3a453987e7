//! The streaming part of `rkube bench node`: port-forward throughput and
//! exec round trips through the API server to a real node, beside their
//! floor in the same run.
//!
//! - port-forward: one HTTP GET of a file of `bytes` from busybox `httpd`
//!   in a pod, through kube-rs's port-forward (WebSocket,
//!   `v4.channel.k8s.io`: client → API server → node → pod, two TLS hops),
//!   against the same bytes sent over a plain loopback TCP connection by
//!   this process (the floor);
//! - exec: the time from an exec request to the command's status
//!   (`true`), and the round trip of one line through a running exec'd
//!   `cat` (stdin → stdout), which is what a shell's user feels.

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, PostParams};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::stats::Percentiles;

const POD: &str = "bench-streams";
const HTTP_PORT: u16 = 8080;

/// What the streaming part measured.
#[derive(Debug, Default)]
pub(super) struct StreamsOutcome {
    pub bytes: usize,
    /// Seconds for `bytes` through port-forward.
    pub port_forward_s: f64,
    /// Seconds for `bytes` over loopback TCP.
    pub loopback_s: f64,
    /// exec request → status of `true`.
    pub exec_start: Percentiles,
    /// One line through an exec'd `cat`.
    pub exec_echo: Percentiles,
}

impl StreamsOutcome {
    /// Bytes per second through port-forward.
    pub fn port_forward_rate(&self) -> f64 {
        self.bytes as f64 / self.port_forward_s.max(1e-9)
    }

    /// Bytes per second over loopback.
    pub fn loopback_rate(&self) -> f64 {
        self.bytes as f64 / self.loopback_s.max(1e-9)
    }
}

/// Run the pod, measure, delete the pod.
pub(super) async fn measure(
    client: &kube::Client,
    image: &str,
    bytes: usize,
    rounds: usize,
) -> anyhow::Result<StreamsOutcome> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let script = format!(
        "mkdir -p /www && head -c {bytes} /dev/zero > /www/z && httpd -f -p {HTTP_PORT} -h /www"
    );
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": POD},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "c", "image": image, "command": ["sh", "-c", script]}],
        },
    }))?;
    pods.create(&PostParams::default(), &pod)
        .await
        .context("cannot create the streams pod")?;
    let result = measure_on(&pods, bytes, rounds).await;
    let _ = pods.delete(POD, &DeleteParams::default()).await;
    result
}

async fn measure_on(
    pods: &Api<Pod>,
    bytes: usize,
    rounds: usize,
) -> anyhow::Result<StreamsOutcome> {
    wait_running(pods).await?;
    // httpd writes the file before it listens: wait until a GET works.
    let deadline = Instant::now() + Duration::from_secs(30);
    let port_forward_s = loop {
        match get_through_port_forward(pods, bytes).await {
            Ok(d) => break d.as_secs_f64(),
            Err(e) if Instant::now() < deadline => {
                tracing::debug!(error = %format!("{e:#}"), "port-forward not ready yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    };
    // Best of three for both, so one noisy moment does not decide.
    let mut pf = port_forward_s;
    for _ in 0..2 {
        pf = pf.min(get_through_port_forward(pods, bytes).await?.as_secs_f64());
    }
    let mut lo = f64::MAX;
    for _ in 0..3 {
        lo = lo.min(loopback(bytes).await?.as_secs_f64());
    }

    let mut starts = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        let mut p = pods
            .exec(POD, ["true"], &AttachParams::default().stderr(false))
            .await
            .context("exec true")?;
        let status = p.take_status().context("no status channel")?;
        let status = status.await.context("exec ended without a status")?;
        anyhow::ensure!(
            status.status.as_deref() == Some("Success"),
            "exec true failed: {status:?}"
        );
        starts.push(t.elapsed());
        p.join().await.context("exec true did not end")?;
    }

    let mut p = pods
        .exec(
            POD,
            ["cat"],
            &AttachParams::default().stdin(true).stderr(false),
        )
        .await
        .context("exec cat")?;
    let mut stdin = p.stdin().context("no stdin")?;
    let mut stdout = p.stdout().context("no stdout")?;
    let mut echoes = Vec::with_capacity(rounds);
    let mut buf = [0u8; 64];
    for i in 0..rounds {
        let line = format!("{i}\n");
        let t = Instant::now();
        stdin.write_all(line.as_bytes()).await?;
        let mut got = 0;
        while got < line.len() {
            let n = tokio::time::timeout(Duration::from_secs(10), stdout.read(&mut buf[got..]))
                .await
                .context("no echo within 10 s")??;
            anyhow::ensure!(n > 0, "cat ended early");
            got += n;
        }
        echoes.push(t.elapsed());
    }
    drop(stdin);
    let _ = tokio::time::timeout(Duration::from_secs(10), p.join()).await;

    Ok(StreamsOutcome {
        bytes,
        port_forward_s: pf,
        loopback_s: lo,
        exec_start: Percentiles::of(starts),
        exec_echo: Percentiles::of(echoes),
    })
}

async fn wait_running(pods: &Api<Pod>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let p = pods.get(POD).await?;
        if p.status.and_then(|s| s.phase).as_deref() == Some("Running") {
            return Ok(());
        }
        anyhow::ensure!(Instant::now() < deadline, "the streams pod is not Running");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One HTTP/1.0 GET of the file through port-forward; the time until the
/// last byte.
async fn get_through_port_forward(pods: &Api<Pod>, bytes: usize) -> anyhow::Result<Duration> {
    let mut pf = pods.portforward(POD, &[HTTP_PORT]).await?;
    let mut s = pf.take_stream(HTTP_PORT).context("no stream")?;
    let t = Instant::now();
    s.write_all(b"GET /z HTTP/1.0\r\nHost: bench\r\n\r\n")
        .await?;
    let got = drain(&mut s).await?;
    let took = t.elapsed();
    drop(s);
    pf.abort();
    anyhow::ensure!(
        got >= bytes,
        "port-forward gave {got} bytes, the file has {bytes}"
    );
    Ok(took)
}

/// The same bytes over loopback TCP, from a listener of this process.
async fn loopback(bytes: usize) -> anyhow::Result<Duration> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let sender = tokio::spawn(async move {
        let (mut conn, _) = listener.accept().await?;
        let chunk = vec![0u8; 64 * 1024];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            conn.write_all(&chunk[..n]).await?;
            left -= n;
        }
        conn.shutdown().await?;
        anyhow::Ok(())
    });
    let t = Instant::now();
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    let got = drain(&mut conn).await?;
    let took = t.elapsed();
    sender.await??;
    anyhow::ensure!(got == bytes, "loopback gave {got} of {bytes} bytes");
    Ok(took)
}

/// Read to the end; the byte count.
async fn drain(r: &mut (impl AsyncReadExt + Unpin)) -> anyhow::Result<usize> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0;
    loop {
        let n = tokio::time::timeout(Duration::from_secs(60), r.read(&mut buf))
            .await
            .context("no data within 60 s")??;
        if n == 0 {
            return Ok(total);
        }
        total += n;
    }
}
