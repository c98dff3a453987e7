//! No descriptor is leaked by streaming sessions, however they end: the
//! node's open descriptors (this process's, where the node's API runs)
//! are counted before and after exec sessions that end normally, with a
//! client that vanishes mid-stream and with garbage frames, and
//! port-forward sessions to open and closed ports. A binary of its own
//! with one test, so nothing else opens descriptors meanwhile.

#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

mod streaming_support;

use std::time::Duration;

use rkube_stream::client::{SpdyClient, WsClient};
use streaming_support::{node, Node, POD};

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

async fn exec_ok(node: &Node) {
    let path = format!("/exec{POD}/app?command=cat&stdin=1&stdout=1");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v5.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"x").await.unwrap();
    ws.close_channel(0).await.unwrap();
    let got = ws.read_to_close().await.unwrap();
    assert_eq!(got[&1], b"x");
}

async fn exec_vanishing_client(node: &Node) {
    let path = format!("/exec{POD}/app?command=sleep&command=30&stdin=1&stdout=1");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v5.channel.k8s.io"])
        .await
        .unwrap();
    ws.send(0, b"x").await.unwrap();
    drop(ws);
}

async fn exec_garbage(node: &Node) {
    let path = format!("/exec{POD}/app?command=cat&stdin=1&stdout=1");
    let mut ws = WsClient::connect(node.connect().await, &path, &["v4.channel.k8s.io"])
        .await
        .unwrap();
    ws.send_raw(&[0xFF; 64]).await.unwrap();
    while let Ok(Some(_)) = ws.recv().await {}
}

async fn forward(node: &Node) {
    let path = format!("/portForward{POD}");
    let (mut c, _) =
        SpdyClient::connect(node.connect().await, "POST", &path, &["portforward.k8s.io"])
            .await
            .unwrap();
    for (i, port) in ["80", "81"].iter().enumerate() {
        let rid = i.to_string();
        let e = c
            .open(&[("streamType", "error"), ("port", port), ("requestID", &rid)])
            .await
            .unwrap();
        c.send(e, b"", true).await.unwrap();
        let d = c
            .open(&[("streamType", "data"), ("port", port), ("requestID", &rid)])
            .await
            .unwrap();
        c.send(d, b"ping", true).await.unwrap();
    }
    // Both connections answer (echo, or the error), then the client goes.
    let mut fins = 0;
    while fins < 4 {
        if let Some(rkube_stream::spdy::Frame::Data { fin: true, .. }) = c.recv().await.unwrap() {
            fins += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_leave_no_descriptor_open() {
    let node = node().await;
    // Warm up what opens descriptors once (the child-process reaper).
    exec_ok(&node).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = open_fds();
    for _ in 0..3 {
        exec_ok(&node).await;
        exec_vanishing_client(&node).await;
        exec_garbage(&node).await;
        forward(&node).await;
    }
    // Sessions end asynchronously after their clients: give them time.
    let mut after = open_fds();
    for _ in 0..100 {
        if after <= before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        after = open_fds();
    }
    assert!(
        after <= before,
        "{before} descriptors open before, {after} after"
    );
}
