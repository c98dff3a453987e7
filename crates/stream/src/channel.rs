//! Kubernetes' WebSocket channel protocol (`channel.k8s.io` to
//! `v5.channel.k8s.io`, binary or base64): each message's first byte
//! (base64: first character) names its channel. This file's reader task
//! routes the client's messages to their channels, answers pings, takes
//! v5's close-channel messages (channel 255) and resize messages, and
//! closes cleanly on garbage.

use std::collections::HashMap;

use base64::Engine;
use bytes::{Bytes, BytesMut};
use rkube_cri::TermSize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use crate::error::StreamError;
use crate::pipe::{Conn, ConnHandle, Out};
use crate::websocket::{self, Decoder, Message, OP_PONG};

/// The largest message accepted from a client.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// v5's channel for closing another channel.
pub const CLOSE_CHANNEL: u8 = 255;

/// Where the client's channels go.
pub(crate) struct Routes {
    pub base64: bool,
    /// Data channels and where their bytes go.
    pub data: HashMap<u8, mpsc::Sender<Bytes>>,
    /// The resize channel and where sizes go.
    pub resize: Option<(u8, mpsc::Sender<TermSize>)>,
    /// Accept v5 close-channel messages.
    pub close_channel: bool,
}

/// Start a WebSocket channel connection on `io`.
pub(crate) fn start<S>(io: S, routes: Routes) -> Conn
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (r, w) = tokio::io::split(io);
    let mut conn = Conn::start(w);
    let handle = conn.handle.clone();
    conn.set_reader(tokio::spawn(read_loop(r, routes, handle)));
    conn
}

async fn read_loop<R>(mut r: R, mut routes: Routes, conn: ConnHandle)
where
    R: AsyncRead + Unpin,
{
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut decoder = Decoder::new(MAX_MESSAGE, true);
    loop {
        let message = match decoder.decode(&mut buf) {
            Ok(Some(m)) => m,
            Ok(None) => {
                buf.reserve(64 * 1024);
                match r.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "closing WebSocket stream on a bad frame");
                let code = match e {
                    StreamError::TooLarge { .. } => websocket::CLOSE_TOO_BIG,
                    _ => websocket::CLOSE_PROTOCOL_ERROR,
                };
                let _ = conn.out.send(Out::Frame(
                    websocket::close_frame(code, &e.to_string()),
                    None,
                ));
                let _ = conn.out.send(Out::Close);
                break;
            }
        };
        match message {
            Message::Ping(p) => {
                let _ = conn
                    .out
                    .send(Out::Frame(websocket::frame(OP_PONG, &p), None));
            }
            Message::Pong(_) => {}
            Message::Close(code) => {
                let code = code.unwrap_or(websocket::CLOSE_NORMAL);
                let _ = conn
                    .out
                    .send(Out::Frame(websocket::close_frame(code, ""), None));
                break;
            }
            Message::Data { payload, .. } => {
                let Some((channel, data)) = split_channel(payload, routes.base64) else {
                    tracing::debug!("ignoring a WebSocket message without a valid channel");
                    continue;
                };
                deliver(&mut routes, channel, data).await;
            }
        }
    }
    conn.gone.cancel();
}

/// A message's channel and payload.
fn split_channel(payload: Bytes, base64: bool) -> Option<(u8, Bytes)> {
    let first = *payload.first()?;
    if !base64 {
        return Some((first, payload.slice(1..)));
    }
    let channel = first.checked_sub(b'0').filter(|c| *c <= 9)?;
    let data = base64::engine::general_purpose::STANDARD
        .decode(&payload[1..])
        .ok()?;
    Some((channel, Bytes::from(data)))
}

async fn deliver(routes: &mut Routes, channel: u8, data: Bytes) {
    if routes.close_channel && channel == CLOSE_CHANNEL {
        if let Some(closed) = data.first() {
            routes.data.remove(closed);
            if routes.resize.as_ref().is_some_and(|(c, _)| c == closed) {
                routes.resize = None;
            }
        }
        return;
    }
    if let Some((c, tx)) = &routes.resize {
        if *c == channel {
            match parse_size(&data) {
                Some(size) => {
                    let _ = tx.try_send(size);
                }
                None => tracing::debug!("ignoring a malformed resize message"),
            }
            return;
        }
    }
    if data.is_empty() {
        return;
    }
    if let Some(tx) = routes.data.get(&channel) {
        if tx.send(data).await.is_err() {
            routes.data.remove(&channel);
        }
    }
}

#[derive(serde::Deserialize)]
struct Size {
    #[serde(rename = "Width")]
    width: u16,
    #[serde(rename = "Height")]
    height: u16,
}

/// A resize message (`{"Width":80,"Height":24}`).
pub(crate) fn parse_size(data: &[u8]) -> Option<TermSize> {
    serde_json::from_slice::<Size>(data).ok().map(|s| TermSize {
        width: s.width,
        height: s.height,
    })
}

/// Parse as many complete resize messages from `buf` as there are
/// (SPDY's resize stream is a sequence of JSON objects), removing them;
/// `Err` on one that can never parse.
pub(crate) fn parse_sizes(buf: &mut Vec<u8>) -> Result<Vec<TermSize>, ()> {
    let mut sizes = Vec::new();
    let mut consumed = 0;
    let mut it = serde_json::Deserializer::from_slice(buf).into_iter::<Size>();
    loop {
        match it.next() {
            Some(Ok(s)) => {
                consumed = it.byte_offset();
                sizes.push(TermSize {
                    width: s.width,
                    height: s.height,
                });
            }
            Some(Err(e)) if e.is_eof() => break,
            Some(Err(_)) => return Err(()),
            None => break,
        }
    }
    buf.drain(..consumed);
    Ok(sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_messages_split_anywhere() {
        let mut buf = br#"{"Width":80,"Height":24}
{"Width":100,"#
            .to_vec();
        assert_eq!(
            parse_sizes(&mut buf).unwrap(),
            vec![TermSize {
                width: 80,
                height: 24
            }]
        );
        buf.extend_from_slice(br#""Height":30}"#);
        assert_eq!(
            parse_sizes(&mut buf).unwrap(),
            vec![TermSize {
                width: 100,
                height: 30
            }]
        );
        assert!(parse_sizes(&mut b"nonsense".to_vec()).is_err());
    }

    #[test]
    fn base64_channels() {
        let (c, d) = split_channel(Bytes::from_static(b"0aGk="), true).unwrap();
        assert_eq!((c, &d[..]), (0, &b"hi"[..]));
        assert!(split_channel(Bytes::from_static(b"x"), true).is_none());
    }
}
