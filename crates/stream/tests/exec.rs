//! Exec-shaped sessions over real loopback connections: an echo
//! "command" that copies stdin to stdout, writes to stderr, reports
//! resizes and exits with the code the test asks for — over WebSocket
//! v5 and v4 and over SPDY/3.1, as kubectl, kube-rs and the Python client
//! would drive it.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{serve, Handler, Io, Query, Server};
use rkube_stream::client::{SpdyClient, WsClient};
use rkube_stream::spdy::Frame;
use rkube_stream::{ExecOptions, ExecOutcome, ExecSession, SessionKind, Upgrade};
use tokio::io::AsyncWriteExt;

fn flag(q: &Query, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("1" | "true"))
}

/// The test's "command".
async fn echo(up: Upgrade, io: Io, q: Query) -> String {
    let options = ExecOptions {
        stdin: flag(&q, "stdin"),
        stdout: flag(&q, "stdout"),
        stderr: flag(&q, "stderr"),
        tty: flag(&q, "tty"),
    };
    let mut s = match ExecSession::accept(io, &up, options).await {
        Ok(s) => s,
        Err(e) => return format!("accept failed: {e}"),
    };
    if flag(&q, "wait_gone") {
        s.client_gone().await;
        s.finish(ExecOutcome::Failed("client gone".into())).await;
        return "gone".into();
    }
    let mut stdout = s.stdout.take().unwrap();
    if let Some(mut e) = s.stderr.take() {
        e.write_all(b"to stderr").await.unwrap();
    }
    if let Some(mut r) = s.resize.take() {
        let size = r.recv().await.unwrap();
        stdout
            .write_all(format!("size {}x{}\n", size.width, size.height).as_bytes())
            .await
            .unwrap();
    }
    if let Some(mut stdin) = s.stdin.take() {
        let _ = tokio::io::copy(&mut stdin, &mut stdout).await;
    }
    drop(stdout);
    let code: i32 = q.get("exit").and_then(|c| c.parse().ok()).unwrap_or(0);
    s.finish(ExecOutcome::Exited(code)).await;
    format!("exited {code}")
}

async fn server() -> Server {
    let h: Handler = Arc::new(|up, io, q| Box::pin(echo(up, io, q)));
    serve(SessionKind::RemoteCommand, h).await
}

#[tokio::test]
async fn websocket_v5_echo_stderr_stdin_close_and_exit_code() {
    let mut srv = server().await;
    let mut ws = WsClient::connect(
        srv.connect().await,
        "/exec?stdin=1&stdout=1&stderr=1&exit=3",
        &["v5.channel.k8s.io", "v4.channel.k8s.io"],
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol.as_deref(), Some("v5.channel.k8s.io"));
    ws.send(0, b"hello ").await.unwrap();
    ws.ping(b"p").await.unwrap();
    ws.send(0, b"world").await.unwrap();
    ws.close_channel(0).await.unwrap();
    let got = ws.read_to_close().await.unwrap();
    assert_eq!(got[&1], b"hello world");
    assert_eq!(got[&2], b"to stderr");
    let status: serde_json::Value = serde_json::from_slice(&got[&3]).unwrap();
    assert_eq!(status["status"], "Failure");
    assert_eq!(status["reason"], "NonZeroExitCode");
    assert_eq!(status["details"]["causes"][0]["reason"], "ExitCode");
    assert_eq!(status["details"]["causes"][0]["message"], "3");
    assert_eq!(srv.finished().await, "exited 3");
}

#[tokio::test]
async fn websocket_v4_tty_resize_and_success() {
    let mut srv = server().await;
    let mut ws = WsClient::connect(
        srv.connect().await,
        "/exec?stdout=1&stderr=1&tty=1",
        &["v4.channel.k8s.io"],
    )
    .await
    .unwrap();
    ws.send(4, br#"{"Width":132,"Height":43}"#).await.unwrap();
    let got = ws.read_to_close().await.unwrap();
    assert_eq!(got[&1], b"size 132x43\n");
    assert!(!got.contains_key(&2), "no stderr channel with a terminal");
    let status: serde_json::Value = serde_json::from_slice(&got[&3]).unwrap();
    assert_eq!(status["status"], "Success");
    assert_eq!(srv.finished().await, "exited 0");
}

/// Read frames until every stream in `ids` has ended (FIN), collecting
/// each one's data.
async fn collect_spdy(
    c: &mut SpdyClient<tokio::net::TcpStream>,
    ids: &[u32],
) -> std::collections::HashMap<u32, Vec<u8>> {
    let mut data = std::collections::HashMap::<u32, Vec<u8>>::new();
    let mut open: std::collections::HashSet<u32> = ids.iter().copied().collect();
    while !open.is_empty() {
        match c.recv().await.unwrap() {
            Some(Frame::Data {
                stream_id,
                fin,
                data: d,
            }) => {
                data.entry(stream_id).or_default().extend_from_slice(&d);
                if fin {
                    open.remove(&stream_id);
                }
            }
            Some(_) => {}
            None => panic!("connection ended with streams {open:?} open"),
        }
    }
    data
}

#[tokio::test]
async fn spdy_echo_with_exit_code() {
    let mut srv = server().await;
    let (mut c, resp) = SpdyClient::connect(
        srv.connect().await,
        "POST",
        "/exec?stdin=1&stdout=1&stderr=1&exit=42",
        &["v4.channel.k8s.io", "v3.channel.k8s.io"],
    )
    .await
    .unwrap();
    assert_eq!(
        resp.header("x-stream-protocol-version"),
        Some("v4.channel.k8s.io")
    );
    let error = c.open(&[("streamType", "error")]).await.unwrap();
    let stdin = c.open(&[("streamType", "stdin")]).await.unwrap();
    let stdout = c.open(&[("streamType", "stdout")]).await.unwrap();
    let stderr = c.open(&[("streamType", "stderr")]).await.unwrap();
    c.send(stdin, b"over spdy", true).await.unwrap();
    let got = collect_spdy(&mut c, &[error, stdout, stderr]).await;
    assert_eq!(got[&stdout], b"over spdy");
    assert_eq!(got[&stderr], b"to stderr");
    let status: serde_json::Value = serde_json::from_slice(&got[&error]).unwrap();
    assert_eq!(status["details"]["causes"][0]["message"], "42");
    // Then GOAWAY and the end of the connection.
    let mut saw_goaway = false;
    while let Some(f) = c.recv().await.unwrap() {
        saw_goaway |= matches!(f, Frame::GoAway { .. });
    }
    assert!(saw_goaway);
    assert_eq!(srv.finished().await, "exited 42");
}

#[tokio::test]
async fn spdy_tty_resize_stream() {
    let mut srv = server().await;
    let (mut c, _) = SpdyClient::connect(
        srv.connect().await,
        "POST",
        "/exec?stdin=1&stdout=1&tty=1",
        &["v4.channel.k8s.io"],
    )
    .await
    .unwrap();
    let error = c.open(&[("streamType", "error")]).await.unwrap();
    let stdin = c.open(&[("streamType", "stdin")]).await.unwrap();
    let stdout = c.open(&[("streamType", "stdout")]).await.unwrap();
    let resize = c.open(&[("streamType", "resize")]).await.unwrap();
    c.send(resize, b"{\"Width\":80,", false).await.unwrap();
    c.send(resize, b"\"Height\":25}\n", false).await.unwrap();
    c.send(stdin, b"typed", true).await.unwrap();
    let got = collect_spdy(&mut c, &[error, stdout]).await;
    assert_eq!(got[&stdout], b"size 80x25\ntyped");
    let status: serde_json::Value = serde_json::from_slice(&got[&error]).unwrap();
    assert_eq!(status["status"], "Success");
    assert_eq!(srv.finished().await, "exited 0");
}

#[tokio::test]
async fn client_that_disconnects_mid_stream_ends_the_session() {
    let mut srv = server().await;
    let ws = WsClient::connect(
        srv.connect().await,
        "/exec?stdin=1&stdout=1&wait_gone=1",
        &["v5.channel.k8s.io"],
    )
    .await
    .unwrap();
    drop(ws);
    assert_eq!(srv.finished().await, "gone");

    let (c, _) = SpdyClient::connect(
        srv.connect().await,
        "POST",
        "/exec?stdin=1&stdout=1",
        &["v4.channel.k8s.io"],
    )
    .await
    .unwrap();
    drop(c);
    assert_eq!(
        srv.finished().await,
        "accept failed: the client closed the connection"
    );
}
