//! A large transfer through a SPDY port-forward session, both
//! directions at once (the client writes while the echo answers), as
//! client-go drives it: every byte comes back, nothing stalls, and the
//! rate is printed (debug builds are slow; `rkube bench node` measures
//! for real).
#![allow(clippy::unwrap_used)]

mod common;

use bytes::BytesMut;
use common::{serve, Handler, Io, Query};
use rkube_stream::client::upgrade;
use rkube_stream::spdy::{Codec, Frame};
use rkube_stream::{ForwardRequest, ForwardStream, PortForwardSession, SessionKind, Upgrade};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn forward(up: Upgrade, io: Io, _q: Query) -> String {
    let mut s = PortForwardSession::accept(io, &up, &[]).unwrap();
    while let Some(ForwardRequest {
        stream: ForwardStream {
            mut reader,
            mut writer,
        },
        error,
        ..
    }) = s.next().await
    {
        tokio::spawn(async move {
            let _ = tokio::io::copy_buf(&mut reader, &mut writer).await;
            let _ = writer.shutdown().await;
            drop(error);
        });
    }
    "done".into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spdy_echo_of_32_mib_in_both_directions_at_once() {
    let h: Handler = Arc::new(|up, io, q| Box::pin(forward(up, io, q)));
    let mut srv = serve(SessionKind::PortForward, h).await;
    let mut tcp = srv.connect().await;
    tcp.set_nodelay(true).unwrap();
    let resp = upgrade(
        &mut tcp,
        "POST",
        "/portforward",
        &[
            ("Upgrade", "SPDY/3.1"),
            ("X-Stream-Protocol-Version", "portforward.k8s.io"),
        ],
    )
    .await
    .unwrap();
    let (mut r, mut w) = tcp.into_split();
    const TOTAL: usize = 32 << 20;
    let start = std::time::Instant::now();
    let writer = tokio::spawn(async move {
        let mut c = Codec::new(1 << 24);
        let mut b = BytesMut::new();
        let h = |t: &str| {
            vec![
                ("streamtype".to_string(), t.to_string()),
                ("port".to_string(), "80".to_string()),
                ("requestid".to_string(), "0".to_string()),
            ]
        };
        c.encode(
            &Frame::SynStream {
                stream_id: 1,
                associated_to: 0,
                priority: 0,
                flags: 1,
                headers: h("error"),
            },
            &mut b,
        )
        .unwrap();
        c.encode(
            &Frame::SynStream {
                stream_id: 3,
                associated_to: 0,
                priority: 0,
                flags: 0,
                headers: h("data"),
            },
            &mut b,
        )
        .unwrap();
        w.write_all(&b).await.unwrap();
        let chunk = bytes::Bytes::from(vec![7u8; 32 * 1024]);
        let mut sent = 0;
        while sent < TOTAL {
            let mut b = BytesMut::with_capacity(chunk.len() + 8);
            c.encode(
                &Frame::Data {
                    stream_id: 3,
                    fin: sent + chunk.len() >= TOTAL,
                    data: chunk.clone(),
                },
                &mut b,
            )
            .unwrap();
            w.write_all(&b).await.unwrap();
            sent += chunk.len();
        }
        w
    });
    let mut c = Codec::new(1 << 24);
    let mut buf = resp.leftover;
    let mut got = 0usize;
    let mut frames = 0usize;
    'outer: loop {
        while let Some(f) = c.decode(&mut buf).unwrap() {
            if let Frame::Data {
                stream_id: 3,
                fin,
                data,
            } = f
            {
                got += data.len();
                frames += 1;
                if fin {
                    break 'outer;
                }
            }
        }
        buf.reserve(256 * 1024);
        if r.read_buf(&mut buf).await.unwrap() == 0 {
            break;
        }
    }
    drop(writer.await.unwrap());
    drop(r);
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "echoed {got} bytes in {secs:.2}s = {:.0} MB/s, {frames} frames",
        got as f64 / secs / 1e6
    );
    assert_eq!(got, TOTAL);
    // The client is gone: the session ends.
    assert_eq!(srv.finished().await, "done");
}
