//! A small client of the same protocols, for tests and benchmarks: the
//! HTTP/1.1 upgrade request ([`upgrade`]), a WebSocket channel client
//! ([`WsClient`]) and a SPDY/3.1 client ([`SpdyClient`], optionally
//! tunnelled in WebSocket) that open streams and read frames one at a
//! time. It is not a general-purpose client (one task, no
//! multiplexing of its own beyond what the caller drives).

use base64::Engine;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::error::StreamError;
use crate::spdy::{Codec, Frame, HeaderList};
use crate::websocket::{self, Decoder, Message, OP_BINARY, OP_CLOSE, OP_PING};

/// Why a client call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error(transparent)]
    Stream(#[from] StreamError),
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server answered without upgrading.
    #[error("HTTP {status}: {body}")]
    Rejected { status: u16, body: String },
    #[error("malformed HTTP response: {0}")]
    Http(String),
}

/// The server's answer to an upgrade request.
#[derive(Debug)]
pub struct UpgradeResponse {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    /// Bytes read past the response head (the first frames).
    pub leftover: BytesMut,
}

impl UpgradeResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send an upgrade request (`method path`, extra `headers`) and read the
/// response head; a non-101 answer is [`ClientError::Rejected`] with its
/// body.
pub async fn upgrade<S>(
    io: &mut S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<UpgradeResponse, ClientError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    io.write_all(req.as_bytes()).await?;
    let mut buf = BytesMut::with_capacity(4096);
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 || io.read_buf(&mut buf).await? == 0 {
            return Err(ClientError::Http("no complete response head".into()));
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let _ = buf.split_to(end + 4);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| ClientError::Http(head.clone()))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let response = UpgradeResponse {
        status,
        headers,
        leftover: buf,
    };
    if status != 101 {
        let len: usize = response
            .header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = response.leftover.to_vec();
        while body.len() < len {
            let mut chunk = vec![0u8; len - body.len()];
            let n = io.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
        return Err(ClientError::Rejected {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        });
    }
    Ok(response)
}

/// A WebSocket client speaking Kubernetes' channel protocol (binary).
pub struct WsClient<S> {
    io: S,
    buf: BytesMut,
    decoder: Decoder,
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsClient<S> {
    /// Upgrade `io` with a GET of `path` offering `protocols`.
    pub async fn connect(mut io: S, path: &str, protocols: &[&str]) -> Result<Self, ClientError> {
        let key = base64::engine::general_purpose::STANDARD.encode(rand_bytes::<16>());
        let offer = protocols.join(", ");
        let mut headers = vec![
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", key.as_str()),
        ];
        if !protocols.is_empty() {
            headers.push(("Sec-WebSocket-Protocol", offer.as_str()));
        }
        let response = upgrade(&mut io, "GET", path, &headers).await?;
        if response.header("sec-websocket-accept")
            != Some(&crate::negotiate::websocket_accept(&key))
        {
            return Err(ClientError::Http("bad Sec-WebSocket-Accept".into()));
        }
        Ok(WsClient {
            protocol: response
                .header("sec-websocket-protocol")
                .map(str::to_string),
            io,
            buf: response.leftover,
            decoder: Decoder::new(64 * 1024 * 1024, true),
        })
    }

    /// Send one masked frame.
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), ClientError> {
        let mask = rand_bytes::<4>();
        let mut b = BytesMut::with_capacity(websocket::MAX_HEADER + payload.len());
        websocket::encode_header(&mut b, opcode, payload.len(), Some(mask));
        let start = b.len();
        b.extend_from_slice(payload);
        websocket::apply_mask(&mut b[start..], mask);
        self.io.write_all(&b).await?;
        Ok(())
    }

    /// Send `data` on `channel`.
    pub async fn send(&mut self, channel: u8, data: &[u8]) -> Result<(), ClientError> {
        let mut payload = Vec::with_capacity(data.len() + 1);
        payload.push(channel);
        payload.extend_from_slice(data);
        self.send_frame(OP_BINARY, &payload).await
    }

    /// v5: tell the server `channel` (stdin) is closed.
    pub async fn close_channel(&mut self, channel: u8) -> Result<(), ClientError> {
        self.send(crate::channel::CLOSE_CHANNEL, &[channel]).await
    }

    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.send_frame(OP_PING, payload).await
    }

    /// Send a close frame.
    pub async fn close(&mut self) -> Result<(), ClientError> {
        self.send_frame(OP_CLOSE, &websocket::CLOSE_NORMAL.to_be_bytes())
            .await
    }

    /// Write raw bytes (garbage tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.io.write_all(bytes).await?;
        Ok(())
    }

    /// The next message; `None` at end of stream.
    pub async fn recv(&mut self) -> Result<Option<Message>, ClientError> {
        loop {
            if let Some(m) = self.decoder.decode(&mut self.buf)? {
                return Ok(Some(m));
            }
            self.buf.reserve(64 * 1024);
            if self.io.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// The next data message as (channel, payload), skipping pongs;
    /// `None` at a close or end of stream.
    pub async fn recv_channel(&mut self) -> Result<Option<(u8, Bytes)>, ClientError> {
        loop {
            match self.recv().await? {
                Some(Message::Data { payload, .. }) if !payload.is_empty() => {
                    return Ok(Some((payload[0], payload.slice(1..))));
                }
                Some(Message::Close(_)) | None => return Ok(None),
                Some(_) => {}
            }
        }
    }

    /// Everything received per channel until the server closes.
    pub async fn read_to_close(
        &mut self,
    ) -> Result<std::collections::BTreeMap<u8, Vec<u8>>, ClientError> {
        let mut out = std::collections::BTreeMap::<u8, Vec<u8>>::new();
        while let Some((c, d)) = self.recv_channel().await? {
            out.entry(c).or_default().extend_from_slice(&d);
        }
        Ok(out)
    }

    pub fn into_inner(self) -> S {
        self.io
    }
}

/// A SPDY/3.1 client: opens streams (odd ids), sends data, reads frames.
pub struct SpdyClient<S> {
    io: S,
    codec: Codec,
    next_id: u32,
    /// SPDY bytes received, not yet decoded.
    buf: BytesMut,
    /// Tunnelled in WebSocket: the raw bytes and their decoder.
    tunnel: Option<(BytesMut, Decoder)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SpdyClient<S> {
    /// Upgrade `io` with `method path` to SPDY/3.1 offering `protocols`
    /// in `X-Stream-Protocol-Version`.
    pub async fn connect(
        mut io: S,
        method: &str,
        path: &str,
        protocols: &[&str],
    ) -> Result<(Self, UpgradeResponse), ClientError> {
        let mut headers = vec![("Upgrade", "SPDY/3.1")];
        for p in protocols {
            headers.push(("X-Stream-Protocol-Version", p));
        }
        let mut response = upgrade(&mut io, method, path, &headers).await?;
        let buf = std::mem::take(&mut response.leftover);
        Ok((
            SpdyClient {
                io,
                codec: Codec::new(16 * 1024 * 1024),
                next_id: 1,
                buf,
                tunnel: None,
            },
            response,
        ))
    }

    /// Upgrade `io` to WebSocket with `SPDY/3.1+portforward.k8s.io` and
    /// speak SPDY inside (kubectl 1.31+'s port-forward).
    pub async fn connect_tunnelled(io: S, path: &str) -> Result<Self, ClientError> {
        let ws = WsClient::connect(io, path, &[crate::negotiate::SPDY_TUNNEL_PROTOCOL]).await?;
        if ws.protocol.as_deref() != Some(crate::negotiate::SPDY_TUNNEL_PROTOCOL) {
            return Err(ClientError::Http(
                "server did not choose the SPDY tunnel".into(),
            ));
        }
        Ok(SpdyClient {
            io: ws.io,
            codec: Codec::new(16 * 1024 * 1024),
            next_id: 1,
            buf: BytesMut::new(),
            tunnel: Some((ws.buf, ws.decoder)),
        })
    }

    async fn write_frame(&mut self, frame: &Frame) -> Result<(), ClientError> {
        let mut b = BytesMut::new();
        self.codec.encode(frame, &mut b)?;
        if self.tunnel.is_some() {
            let mask = rand_bytes::<4>();
            let mut w = BytesMut::with_capacity(b.len() + websocket::MAX_HEADER);
            websocket::encode_header(&mut w, OP_BINARY, b.len(), Some(mask));
            let start = w.len();
            w.extend_from_slice(&b);
            websocket::apply_mask(&mut w[start..], mask);
            b = w;
        }
        self.io.write_all(&b).await?;
        Ok(())
    }

    /// Open a stream with these headers; its id.
    pub async fn open(&mut self, headers: &[(&str, &str)]) -> Result<u32, ClientError> {
        let id = self.next_id;
        self.next_id += 2;
        let headers: HeaderList = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        self.write_frame(&Frame::SynStream {
            stream_id: id,
            associated_to: 0,
            priority: 0,
            flags: 0,
            headers,
        })
        .await?;
        Ok(id)
    }

    /// Send data on a stream (`fin`: and half-close it).
    pub async fn send(
        &mut self,
        stream_id: u32,
        data: &[u8],
        fin: bool,
    ) -> Result<(), ClientError> {
        self.write_frame(&Frame::Data {
            stream_id,
            fin,
            data: Bytes::copy_from_slice(data),
        })
        .await
    }

    /// Send any frame.
    pub async fn send_frame(&mut self, frame: &Frame) -> Result<(), ClientError> {
        self.write_frame(frame).await
    }

    /// Write raw bytes (garbage tests).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.io.write_all(bytes).await?;
        Ok(())
    }

    /// The next frame; `None` at end of stream.
    pub async fn recv(&mut self) -> Result<Option<Frame>, ClientError> {
        loop {
            if let Some(f) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(f));
            }
            match &mut self.tunnel {
                None => {
                    self.buf.reserve(64 * 1024);
                    if self.io.read_buf(&mut self.buf).await? == 0 {
                        return Ok(None);
                    }
                }
                Some((raw, decoder)) => match decoder.decode(raw)? {
                    Some(Message::Data { payload, .. }) => self.buf.extend_from_slice(&payload),
                    Some(Message::Close(_)) => return Ok(None),
                    Some(_) => {}
                    None => {
                        raw.reserve(64 * 1024);
                        if self.io.read_buf(raw).await? == 0 {
                            return Ok(None);
                        }
                    }
                },
            }
        }
    }

    pub fn into_inner(self) -> S {
        self.io
    }
}

fn rand_bytes<const N: usize>() -> [u8; N] {
    // Not security-relevant (WebSocket keys and masks of a test client):
    // the clock's nanoseconds mixed per byte.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0x9E37_79B9);
    let mut x = seed | 1;
    let mut out = [0u8; N];
    for b in &mut out {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    out
}
