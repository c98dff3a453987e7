//! Port-forward sessions over real loopback connections, with an echo
//! "pod" on port 8080 and nothing on any other port: WebSocket v4 with
//! several ports, SPDY with several concurrent connections, and SPDY
//! tunnelled in WebSocket; a closed port reports an error on its own
//! stream and the other connections go on.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::{serve, Handler, Io, Query, Server};
use rkube_stream::client::{SpdyClient, WsClient};
use rkube_stream::spdy::Frame;
use rkube_stream::{ForwardRequest, PortForwardSession, SessionKind, Upgrade};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinSet;

const ECHO: u16 = 8080;

async fn forward(up: Upgrade, io: Io, q: Query) -> String {
    let ports: Vec<u16> = q
        .get("ports")
        .map(|p| p.split(',').filter_map(|p| p.parse().ok()).collect())
        .unwrap_or_default();
    let mut s = match PortForwardSession::accept(io, &up, &ports) {
        Ok(s) => s,
        Err(e) => return format!("accept failed: {e}"),
    };
    let mut tasks = JoinSet::new();
    let mut served = 0;
    while let Some(req) = s.next().await {
        served += 1;
        tasks.spawn(async move {
            let ForwardRequest {
                port,
                stream,
                error,
            } = req;
            if port != ECHO {
                error.send(&format!(
                    "connection refused: nothing listens on port {port}"
                ));
                return;
            }
            let (mut r, mut w) = (stream.reader, stream.writer);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
            drop(error);
        });
    }
    drop(tasks);
    format!("served {served}")
}

async fn server() -> Server {
    let h: Handler = Arc::new(|up, io, q| Box::pin(forward(up, io, q)));
    serve(SessionKind::PortForward, h).await
}

#[tokio::test]
async fn websocket_v4_two_ports_one_closed() {
    let mut srv = server().await;
    let mut ws = WsClient::connect(
        srv.connect().await,
        "/portforward?ports=8080,9",
        &["v4.channel.k8s.io"],
    )
    .await
    .unwrap();
    // Each channel's first message is its port, little endian.
    let mut firsts = HashMap::new();
    while firsts.len() < 4 {
        let (c, d) = ws.recv_channel().await.unwrap().unwrap();
        firsts.entry(c).or_insert(d);
    }
    assert_eq!(&firsts[&0][..], &8080u16.to_le_bytes());
    assert_eq!(&firsts[&1][..], &8080u16.to_le_bytes());
    assert_eq!(&firsts[&2][..], &9u16.to_le_bytes());
    assert_eq!(&firsts[&3][..], &9u16.to_le_bytes());
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    ws.send(0, &big).await.unwrap();
    let mut echoed = Vec::new();
    let mut error = Vec::new();
    while echoed.len() < big.len() || error.is_empty() {
        let (c, d) = ws.recv_channel().await.unwrap().unwrap();
        match c {
            0 => echoed.extend_from_slice(&d),
            3 => error.extend_from_slice(&d),
            other => panic!("unexpected channel {other}"),
        }
    }
    assert_eq!(echoed, big);
    assert!(String::from_utf8_lossy(&error).contains("nothing listens on port 9"));
    ws.close().await.unwrap();
    assert_eq!(srv.finished().await, "served 2");
}

/// Open `n` connections to `ports` (error stream then data stream each),
/// send each its own payload and half-close; answers per request:
/// (echoed data, error text).
async fn spdy_round<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut SpdyClient<S>,
    ports: &[u16],
) -> Vec<(Vec<u8>, String)> {
    let mut ids = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let (port, rid) = (port.to_string(), i.to_string());
        let e = c
            .open(&[
                ("streamType", "error"),
                ("port", &port),
                ("requestID", &rid),
            ])
            .await
            .unwrap();
        c.send(e, b"", true).await.unwrap();
        let d = c
            .open(&[("streamType", "data"), ("port", &port), ("requestID", &rid)])
            .await
            .unwrap();
        ids.push((e, d));
    }
    for (i, (_, d)) in ids.iter().enumerate() {
        let payload = format!("payload of connection {i} ").repeat(2000);
        c.send(*d, payload.as_bytes(), true).await.unwrap();
    }
    let mut open: HashSet<u32> = ids.iter().flat_map(|(e, d)| [*e, *d]).collect();
    let mut data = HashMap::<u32, Vec<u8>>::new();
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
            Some(Frame::RstStream { stream_id, .. }) => {
                open.remove(&stream_id);
            }
            Some(_) => {}
            None => panic!("connection ended with {open:?} open"),
        }
    }
    ids.iter()
        .map(|(e, d)| {
            (
                data.remove(d).unwrap_or_default(),
                String::from_utf8_lossy(&data.remove(e).unwrap_or_default()).into_owned(),
            )
        })
        .collect()
}

fn check(answers: &[(Vec<u8>, String)], ports: &[u16]) {
    for (i, ((data, error), port)) in answers.iter().zip(ports).enumerate() {
        if *port == ECHO {
            assert_eq!(
                data,
                format!("payload of connection {i} ")
                    .repeat(2000)
                    .as_bytes()
            );
            assert_eq!(error, "");
        } else {
            assert!(data.is_empty());
            assert!(
                error.contains(&format!("nothing listens on port {port}")),
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn spdy_many_connections_and_a_closed_port() {
    let mut srv = server().await;
    let (mut c, resp) = SpdyClient::connect(
        srv.connect().await,
        "POST",
        "/portforward",
        &["portforward.k8s.io"],
    )
    .await
    .unwrap();
    assert_eq!(
        resp.header("x-stream-protocol-version"),
        Some("portforward.k8s.io")
    );
    let ports = [ECHO, ECHO, 9, ECHO, ECHO];
    check(&spdy_round(&mut c, &ports).await, &ports);
    // The connection keeps serving new requests after the failure.
    let ports = [ECHO];
    let more = spdy_round(&mut c, &ports).await;
    assert_eq!(more[0].0, b"payload of connection 0 ".repeat(2000));
    c.send_frame(&Frame::GoAway {
        last_good: 0,
        status: 0,
    })
    .await
    .unwrap();
    drop(c);
    assert_eq!(srv.finished().await, "served 6");
}

#[tokio::test]
async fn spdy_tunnelled_in_websocket() {
    let mut srv = server().await;
    let mut c = SpdyClient::connect_tunnelled(srv.connect().await, "/portforward")
        .await
        .unwrap();
    let ports = [ECHO, 9, ECHO];
    check(&spdy_round(&mut c, &ports).await, &ports);
    c.send(999, b"data for a stream that does not exist", false)
        .await
        .unwrap();
    let ports = [ECHO];
    check(&spdy_round(&mut c, &ports).await, &ports);
    drop(c);
    assert_eq!(srv.finished().await, "served 4");
}

#[tokio::test]
async fn websocket_without_ports_is_refused() {
    let mut srv = server().await;
    let mut ws = WsClient::connect(srv.connect().await, "/portforward", &["v4.channel.k8s.io"])
        .await
        .unwrap();
    assert!(ws.recv_channel().await.unwrap().is_none());
    assert!(srv.finished().await.starts_with("accept failed"));
}
