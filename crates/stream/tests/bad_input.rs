//! Garbage and oversized frames, and requests that cannot be upgraded:
//! the client gets a clear close or Status, the session handler ends, and
//! the server keeps serving the next client.
#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use common::{serve, Handler, Io, Query, Server};
use rkube_stream::client::{upgrade, ClientError, SpdyClient, WsClient};
use rkube_stream::spdy::Frame;
use rkube_stream::websocket::{self, Message};
use rkube_stream::{ExecOptions, ExecOutcome, ExecSession, SessionKind, Upgrade};

async fn cat(up: Upgrade, io: Io, _q: Query) -> String {
    let options = ExecOptions {
        stdin: true,
        stdout: true,
        ..Default::default()
    };
    let mut s = match ExecSession::accept(io, &up, options).await {
        Ok(s) => s,
        Err(e) => return format!("accept failed: {e}"),
    };
    let (mut i, mut o) = (s.stdin.take().unwrap(), s.stdout.take().unwrap());
    let _ = tokio::io::copy(&mut i, &mut o).await;
    drop(o);
    s.finish(ExecOutcome::Exited(0)).await;
    "finished".into()
}

async fn server() -> Server {
    let h: Handler = Arc::new(|up, io, q| Box::pin(cat(up, io, q)));
    serve(SessionKind::RemoteCommand, h).await
}

async fn close_code(ws: &mut WsClient<tokio::net::TcpStream>) -> Option<u16> {
    loop {
        match ws.recv().await {
            Ok(Some(Message::Close(code))) => return code,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return None,
        }
    }
}

#[tokio::test]
async fn websocket_garbage_closes_with_protocol_error() {
    let mut srv = server().await;
    let mut ws = WsClient::connect(srv.connect().await, "/exec", &["v5.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"before").await.unwrap();
    ws.send_raw(&[0xF3; 32]).await.unwrap();
    assert_eq!(
        close_code(&mut ws).await,
        Some(websocket::CLOSE_PROTOCOL_ERROR)
    );
    assert_eq!(srv.finished().await, "finished");
    // The server still serves.
    let mut ws = WsClient::connect(srv.connect().await, "/exec", &["v5.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"again").await.unwrap();
    ws.close_channel(0).await.unwrap();
    let got = ws.read_to_close().await.unwrap();
    assert_eq!(got[&1], b"again");
    assert_eq!(srv.finished().await, "finished");
}

#[tokio::test]
async fn websocket_oversized_frame_is_refused_before_it_is_read() {
    let mut srv = server().await;
    let mut ws = WsClient::connect(srv.connect().await, "/exec", &["v4.channel.k8s.io"])
        .await
        .unwrap();
    // A binary frame announcing 1 TiB, masked, with no payload.
    let mut header = vec![0x82u8, 0xFF];
    header.extend_from_slice(&(1u64 << 40).to_be_bytes());
    header.extend_from_slice(&[1, 2, 3, 4]);
    ws.send_raw(&header).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(websocket::CLOSE_TOO_BIG));
    assert_eq!(srv.finished().await, "finished");
}

#[tokio::test]
async fn spdy_garbage_gets_goaway_and_close() {
    let mut srv = server().await;
    let (mut c, _) =
        SpdyClient::connect(srv.connect().await, "POST", "/exec", &["v4.channel.k8s.io"])
            .await
            .unwrap();
    c.send_raw(&[0x80, 0x07, 0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 1, 2, 3, 4])
        .await
        .unwrap();
    let mut goaway = None;
    while let Ok(Some(f)) = c.recv().await {
        if let Frame::GoAway { status, .. } = f {
            goaway = Some(status);
        }
    }
    assert_eq!(
        goaway,
        Some(rkube_stream::spdy::frame::GOAWAY_PROTOCOL_ERROR)
    );
    assert!(srv.finished().await.starts_with("accept failed"));
}

#[tokio::test]
async fn spdy_header_block_that_is_not_zlib() {
    let mut srv = server().await;
    let (mut c, _) =
        SpdyClient::connect(srv.connect().await, "POST", "/exec", &["v4.channel.k8s.io"])
            .await
            .unwrap();
    // SYN_STREAM for stream 1 whose header block is not zlib.
    let mut f = vec![
        0x80, 0x03, 0x00, 0x01, 0x00, 0x00, 0x00, 0x12, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0,
    ];
    f.extend_from_slice(b"notzlib!");
    c.send_raw(&f).await.unwrap();
    while let Ok(Some(_)) = c.recv().await {}
    assert!(srv.finished().await.starts_with("accept failed"));
}

#[tokio::test]
async fn unsupported_protocols_get_a_status_and_no_upgrade() {
    let srv = server().await;
    let err = WsClient::connect(srv.connect().await, "/exec", &["v9.channel.k8s.io"])
        .await
        .err()
        .unwrap();
    match err {
        ClientError::Rejected { status, body } => {
            assert_eq!(status, 400);
            let s: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(s["kind"], "Status");
            assert!(s["message"].as_str().unwrap().contains("v5.channel.k8s.io"));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let err = SpdyClient::connect(
        srv.connect().await,
        "POST",
        "/exec",
        &["v99.channel.k8s.io"],
    )
    .await
    .err()
    .unwrap();
    assert!(
        matches!(err, ClientError::Rejected { status: 403, .. }),
        "{err:?}"
    );
    let mut tcp = srv.connect().await;
    let err = upgrade(&mut tcp, "GET", "/exec", &[]).await.err().unwrap();
    assert!(
        matches!(err, ClientError::Rejected { status: 400, .. }),
        "{err:?}"
    );
}
