//! The node's streaming paths (`/exec`, `/attach`, `/portForward`,
//! `/run`) through a real hyper server on 127.0.0.1 with upgrades, with a
//! fake runtime whose `exec` runs local processes (tokio::process) and
//! whose `port_forward` connects to the test's own loopback echo server
//! (pod port 80; every other port is closed), driven by rkube-stream's
//! client over WebSocket v4/v5, SPDY/3.1 and SPDY in WebSocket.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod streaming_support;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::Duration;

use rkube_cri::TermSize;
use rkube_stream::client::{upgrade, ClientError, SpdyClient, WsClient};
use rkube_stream::spdy::Frame;
use streaming_support::{node, Node, POD};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

fn status(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn exec_over_websocket_v5_with_exit_code() {
    let node = node().await;
    let path = format!(
        "/exec{POD}/app?command=sh&command=-c&command=cat%3B+echo+oops+%3E%262%3B+exit+7&stdin=1&stdout=1&stderr=1"
    );
    let mut ws = WsClient::connect(node.connect().await, &path, &["v5.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"typed in\n").await.unwrap();
    ws.close_channel(0).await.unwrap();
    let got = ws.read_to_close().await.unwrap();
    assert_eq!(got[&1], b"typed in\n");
    assert_eq!(got[&2], b"oops\n");
    let s = status(&got[&3]);
    assert_eq!(s["reason"], "NonZeroExitCode");
    assert_eq!(s["details"]["causes"][0]["message"], "7");
}

#[tokio::test]
async fn exec_over_spdy_with_the_uid_path() {
    let node = node().await;
    let path = format!("/exec{POD}/uid-1/app?command=echo&command=hello&output=1");
    let (mut c, _) =
        SpdyClient::connect(node.connect().await, "POST", &path, &["v4.channel.k8s.io"])
            .await
            .unwrap();
    let error = c.open(&[("streamType", "error")]).await.unwrap();
    let stdout = c.open(&[("streamType", "stdout")]).await.unwrap();
    let mut data = HashMap::<u32, Vec<u8>>::new();
    let mut open: HashSet<u32> = [error, stdout].into();
    while !open.is_empty() {
        if let Frame::Data {
            stream_id,
            fin,
            data: d,
        } = c.recv().await.unwrap().unwrap()
        {
            data.entry(stream_id).or_default().extend_from_slice(&d);
            if fin {
                open.remove(&stream_id);
            }
        }
    }
    assert_eq!(data[&stdout], b"hello\n");
    assert_eq!(status(&data[&error])["status"], "Success");
}

#[tokio::test]
async fn exec_tty_resize_reaches_the_runtime() {
    let node = node().await;
    let path = format!("/exec{POD}/app?command=cat&stdin=true&stdout=true&tty=true");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v4.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(4, br#"{"Width":100,"Height":40}"#).await.unwrap();
    ws.send(0, b"x").await.unwrap();
    let (c, d) = ws.recv_channel().await.unwrap().unwrap();
    assert_eq!((c, &d[..]), (1, &b"x"[..]));
    // The size travels through tasks of its own: wait for it.
    for _ in 0..100 {
        if !node.sizes.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        node.sizes.lock().unwrap().as_slice(),
        &[TermSize {
            width: 100,
            height: 40
        }]
    );
    // v4 has no stdin close: closing the connection ends the command.
    ws.close().await.unwrap();
    assert!(ws.read_to_close().await.is_ok());
}

#[tokio::test]
async fn attach_pipes_the_main_process() {
    let node = node().await;
    let path = format!("/attach{POD}/app?stdin=1&stdout=1");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v5.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"to main").await.unwrap();
    ws.close_channel(0).await.unwrap();
    let got = ws.read_to_close().await.unwrap();
    assert_eq!(got[&1], b"to main");
    assert_eq!(status(&got[&3])["status"], "Success");
}

#[tokio::test]
async fn exec_of_a_missing_program_reports_on_the_error_channel() {
    let node = node().await;
    let path = format!("/exec{POD}/app?command=/no/such/program&stdout=1");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v5.channel.k8s.io"])
        .await
        .unwrap();
    let got = ws.read_to_close().await.unwrap();
    let s = status(&got[&3]);
    assert_eq!(s["status"], "Failure");
    assert!(
        s["message"]
            .as_str()
            .unwrap()
            .contains("error executing command"),
        "{s}"
    );
}

async fn rejected(node: &Node, path: &str) -> (u16, serde_json::Value) {
    let protocol = if path.starts_with("/portForward") {
        "v4.channel.k8s.io"
    } else {
        "v5.channel.k8s.io"
    };
    match WsClient::connect(node.connect().await, path, &[protocol]).await {
        Err(ClientError::Rejected { status: code, body }) => (code, status(body.as_bytes())),
        Err(e) => panic!("{path}: {e}"),
        Ok(_) => panic!("{path}: upgraded"),
    }
}

#[tokio::test]
async fn bad_exec_requests_get_a_status_and_no_upgrade() {
    let node = node().await;
    let (code, s) = rejected(&node, &format!("/exec{POD}/nope?command=ls&stdout=1")).await;
    assert_eq!(code, 404);
    assert!(s["message"]
        .as_str()
        .unwrap()
        .contains("container nope not found"));
    let (code, s) = rejected(&node, &format!("/exec{POD}/done?command=ls&stdout=1")).await;
    assert_eq!(code, 409);
    assert!(s["message"].as_str().unwrap().contains("not running"));
    let (code, _) = rejected(&node, "/exec/default/other/app?command=ls&stdout=1").await;
    assert_eq!(code, 404);
    let (code, _) = rejected(
        &node,
        &format!("/exec{POD}/wrong-uid/app?command=ls&stdout=1"),
    )
    .await;
    assert_eq!(code, 404);
    let (code, _) = rejected(&node, &format!("/exec{POD}/app?stdout=1")).await;
    assert_eq!(code, 400);
    let (code, _) = rejected(&node, &format!("/exec{POD}/app?command=ls")).await;
    assert_eq!(code, 400);
    let (code, _) = rejected(&node, "/portForward/default/gone?port=80").await;
    assert_eq!(code, 404);
    let (code, _) = rejected(&node, &format!("/portForward{POD}?port=http")).await;
    assert_eq!(code, 400);
    // The node still serves.
    let mut tcp = node.connect().await;
    let err = upgrade(
        &mut tcp,
        "GET",
        &format!("/exec{POD}/app?command=ls&stdout=1"),
        &[],
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(err, ClientError::Rejected { status: 400, .. }));
}

#[tokio::test]
async fn port_forward_over_websocket_with_a_closed_port() {
    let node = node().await;
    let path = format!("/portForward{POD}?ports=80,81");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v4.channel.k8s.io"])
        .await
        .unwrap();
    let payload = b"GET / HTTP/1.0\r\n\r\n".repeat(1000);
    ws.send(0, &payload).await.unwrap();
    let (mut firsts, mut echoed, mut error) = (HashSet::new(), Vec::new(), Vec::new());
    while echoed.len() < payload.len() || error.is_empty() {
        let (c, d) = ws.recv_channel().await.unwrap().unwrap();
        if firsts.insert(c) {
            let port: u16 = if c < 2 { 80 } else { 81 };
            assert_eq!(&d[..], &port.to_le_bytes(), "channel {c}'s first message");
            continue;
        }
        match c {
            0 => echoed.extend_from_slice(&d),
            3 => error.extend_from_slice(&d),
            _ => panic!("data on channel {c}"),
        }
    }
    assert_eq!(echoed, payload);
    let error = String::from_utf8(error).unwrap();
    assert!(
        error.contains("error forwarding port 81 to pod default/web"),
        "{error}"
    );
    ws.close().await.unwrap();
}

#[tokio::test]
async fn websocket_port_forward_ends_when_the_pod_closes() {
    let node = node().await;
    let path = format!("/portForward{POD}?ports=82");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v4.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let mut firsts = HashSet::new();
    // Until the node closes the WebSocket (recv_channel answers None).
    while let Some((c, d)) = ws.recv_channel().await.unwrap() {
        if firsts.insert(c) {
            continue;
        }
        assert_eq!(c, 0, "{}", String::from_utf8_lossy(&d));
        answer.extend_from_slice(&d);
    }
    assert!(answer.ends_with(b"hello from the pod\n"));
}

async fn spdy_forward<S: AsyncRead + AsyncWrite + Unpin>(
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
        c.send(*d, format!("connection {i};").repeat(5000).as_bytes(), true)
            .await
            .unwrap();
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
        if *port == 80 {
            assert_eq!(
                data,
                format!("connection {i};").repeat(5000).as_bytes(),
                "connection {i}"
            );
            assert_eq!(error, "");
        } else {
            assert!(data.is_empty());
            assert!(
                error.contains(&format!("error forwarding port {port}")),
                "{error}"
            );
        }
    }
}

#[tokio::test]
async fn port_forward_over_spdy_many_connections() {
    let node = node().await;
    let (mut c, _) = SpdyClient::connect(
        node.connect().await,
        "POST",
        &format!("/portForward{POD}"),
        &["portforward.k8s.io"],
    )
    .await
    .unwrap();
    let mut ports = vec![80u16; 20];
    ports[7] = 81;
    check(&spdy_forward(&mut c, &ports).await, &ports);
}

#[tokio::test]
async fn port_forward_over_spdy_in_websocket() {
    let node = node().await;
    let mut c =
        SpdyClient::connect_tunnelled(node.connect().await, &format!("/portForward{POD}/uid-1"))
            .await
            .unwrap();
    let ports = [80, 81, 80];
    check(&spdy_forward(&mut c, &ports).await, &ports);
}

#[tokio::test]
async fn run_answers_the_output() {
    let node = node().await;
    let body = http_post(node.addr, &format!("/run{POD}/app?cmd=echo+ran+here")).await;
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.ends_with("ran here\n"), "{body}");
    let body = http_post(node.addr, &format!("/run{POD}/app?cmd=false")).await;
    assert!(body.starts_with("HTTP/1.1 500"), "{body}");
    assert!(body.contains("exited with code 1"), "{body}");
}

async fn http_post(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut out = String::new();
    tcp.read_to_string(&mut out).await.unwrap();
    out
}
