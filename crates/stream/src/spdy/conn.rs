//! The server side of a SPDY/3.1 connection as spdystream's clients use
//! it: the reader task accepts streams the client opens (answering each
//! SYN_STREAM with a SYN_REPLY at once, as the kubelet does), hands them
//! to the session as [`NewStream`]s, routes DATA to them, echoes pings,
//! acknowledges received data with WINDOW_UPDATEs and stops on GOAWAY,
//! garbage or end of file. Optionally the bytes travel inside WebSocket
//! binary messages (`SPDY/3.1+portforward.k8s.io`).
//!
//! Flow control: spdystream neither sends WINDOW_UPDATE nor honours the
//! receive window, so this side does not hold its writes to the client's
//! window either (a stalled write is held back by TCP); it does send
//! WINDOW_UPDATEs, for clients that count.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Weak};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;

use super::frame::{
    Codec, Frame, FLAG_FIN, GOAWAY_OK, GOAWAY_PROTOCOL_ERROR, RST_PROTOCOL_ERROR,
    RST_REFUSED_STREAM,
};
use super::headers::HeaderList;
use crate::channel::MAX_MESSAGE;
use crate::pipe::{tunnel_wrap, Conn, ConnHandle, Framing, Out, StreamReader, StreamWriter};
use crate::websocket::{self, Decoder, Message, OP_PONG};

/// The largest DATA frame accepted (SPDY's own limit is 16 MiB).
const MAX_DATA_FRAME: usize = 16 * 1024 * 1024 - 1;
/// Received bytes acknowledged in one WINDOW_UPDATE.
const WINDOW_UPDATE_AT: u32 = 32 * 1024;
/// Chunks buffered per stream before the reader waits for its consumer.
const STREAM_BUFFER: usize = 16;

/// A stream the client opened.
#[derive(Debug)]
pub struct NewStream {
    pub id: u32,
    pub headers: HeaderList,
    /// What the client sends on it.
    pub reader: StreamReader,
    /// What goes back to the client on it.
    pub writer: StreamWriter,
}

impl NewStream {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.split('\0').next().unwrap_or(""))
    }
}

/// A SPDY connection being served.
pub(crate) struct SpdyConn {
    pub conn: Conn,
    pub events: mpsc::Receiver<NewStream>,
    pub tunnel: bool,
    last_stream: Arc<AtomicU32>,
}

impl SpdyConn {
    /// Start serving SPDY on `io` (inside WebSocket messages when
    /// `tunnel`).
    pub(crate) fn start<S>(io: S, tunnel: bool) -> SpdyConn
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (r, w) = tokio::io::split(io);
        let mut conn = Conn::start(w);
        let (events_tx, events) = mpsc::channel(32);
        let last_stream = Arc::new(AtomicU32::new(0));
        let source = if tunnel {
            Source::WebSocket {
                r,
                raw: BytesMut::with_capacity(64 * 1024),
                decoder: Decoder::new(MAX_MESSAGE, false),
            }
        } else {
            Source::Raw(r)
        };
        let reader = Reader {
            conn: conn.handle.clone(),
            codec: Codec::new(MAX_DATA_FRAME),
            tunnel,
            events: Some(events_tx),
            streams: HashMap::new(),
            last_stream: last_stream.clone(),
            unacked_session: 0,
        };
        conn.set_reader(tokio::spawn(reader.run(source)));
        SpdyConn {
            conn,
            events,
            tunnel,
            last_stream,
        }
    }

    /// The frames that end the connection politely: GOAWAY (and the
    /// WebSocket close when tunnelled).
    pub(crate) fn goodbye(&self) -> Vec<Bytes> {
        let mut frames = vec![goaway(
            self.tunnel,
            self.last_stream.load(Ordering::Relaxed),
            GOAWAY_OK,
        )];
        if self.tunnel {
            frames.push(websocket::close_frame(websocket::CLOSE_NORMAL, ""));
        }
        frames
    }
}

fn goaway(tunnel: bool, last_good: u32, status: u32) -> Bytes {
    let mut b = BytesMut::with_capacity(16);
    let _ = Codec::new(0).encode(&Frame::GoAway { last_good, status }, &mut b);
    tunnel_wrap(tunnel, b.freeze())
}

/// Where the SPDY bytes come from.
enum Source<R> {
    Raw(R),
    WebSocket {
        r: R,
        raw: BytesMut,
        decoder: Decoder,
    },
}

impl<R: AsyncRead + Unpin> Source<R> {
    /// Append more SPDY bytes to `dst`; `false` at end of stream.
    async fn fill(&mut self, dst: &mut BytesMut, conn: &ConnHandle) -> bool {
        match self {
            Source::Raw(r) => {
                dst.reserve(64 * 1024);
                matches!(r.read_buf(dst).await, Ok(n) if n > 0)
            }
            Source::WebSocket { r, raw, decoder } => loop {
                match decoder.decode(raw) {
                    Ok(Some(Message::Data { payload, .. })) => {
                        dst.extend_from_slice(&payload);
                        return true;
                    }
                    Ok(Some(Message::Ping(p))) => {
                        let _ = conn
                            .out
                            .send(Out::Frame(websocket::frame(OP_PONG, &p), None));
                    }
                    Ok(Some(Message::Pong(_))) => {}
                    Ok(Some(Message::Close(_))) => return false,
                    Ok(None) => {
                        raw.reserve(64 * 1024);
                        if !matches!(r.read_buf(raw).await, Ok(n) if n > 0) {
                            return false;
                        }
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "bad WebSocket frame around SPDY");
                        let _ = conn.out.send(Out::Frame(
                            websocket::close_frame(websocket::CLOSE_PROTOCOL_ERROR, ""),
                            None,
                        ));
                        return false;
                    }
                }
            },
        }
    }
}

struct StreamState {
    /// Where the client's data goes (`None` after its FIN).
    tx: Option<mpsc::Sender<Bytes>>,
    /// Shared with the stream's writer; set on RST_STREAM.
    reset: Weak<AtomicBool>,
    unacked: u32,
}

struct Reader {
    conn: ConnHandle,
    codec: Codec,
    tunnel: bool,
    events: Option<mpsc::Sender<NewStream>>,
    streams: HashMap<u32, StreamState>,
    last_stream: Arc<AtomicU32>,
    unacked_session: u32,
}

impl Reader {
    async fn run<R: AsyncRead + Unpin>(mut self, mut source: Source<R>) {
        let mut buf = BytesMut::with_capacity(128 * 1024);
        loop {
            let frame = match self.codec.decode(&mut buf) {
                Ok(Some(f)) => f,
                Ok(None) => {
                    if !source.fill(&mut buf, &self.conn).await {
                        break;
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "closing SPDY connection on a bad frame");
                    let last = self.last_stream.load(Ordering::Relaxed);
                    self.send(goaway(self.tunnel, last, GOAWAY_PROTOCOL_ERROR));
                    let _ = self.conn.out.send(Out::Close);
                    break;
                }
            };
            self.handle(frame).await;
        }
        self.conn.gone.cancel();
    }

    fn send(&self, frame: Bytes) {
        let _ = self.conn.out.send(Out::Frame(frame, None));
    }

    fn control(&mut self, frame: &Frame) {
        let mut b = BytesMut::with_capacity(32);
        if self.codec.encode(frame, &mut b).is_ok() {
            self.send(tunnel_wrap(self.tunnel, b.freeze()));
        }
    }

    async fn handle(&mut self, frame: Frame) {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                headers,
                ..
            } => self.open(stream_id, flags, headers).await,
            Frame::Data {
                stream_id,
                fin,
                data,
            } => self.data(stream_id, fin, data).await,
            Frame::RstStream { stream_id, .. } => {
                if let Some(s) = self.streams.remove(&stream_id) {
                    if let Some(flag) = s.reset.upgrade() {
                        flag.store(true, Ordering::Relaxed);
                    }
                }
            }
            Frame::Ping(id) => {
                // Odd ids are the client's pings; even ones would be
                // answers to ours (this side sends none).
                if id % 2 == 1 {
                    self.control(&Frame::Ping(id));
                }
            }
            Frame::GoAway { .. } => {
                // No new streams; the ones open go on until the client
                // closes the connection.
                self.events = None;
            }
            Frame::SynReply { .. }
            | Frame::Headers { .. }
            | Frame::Settings(_)
            | Frame::WindowUpdate { .. }
            | Frame::Unknown(_) => {}
        }
    }

    async fn open(&mut self, id: u32, flags: u8, headers: HeaderList) {
        let last = self.last_stream.load(Ordering::Relaxed);
        if id == 0 || id.is_multiple_of(2) || id <= last {
            self.control(&Frame::RstStream {
                stream_id: id,
                status: RST_PROTOCOL_ERROR,
            });
            return;
        }
        self.last_stream.store(id, Ordering::Relaxed);
        let Some(events) = self.events.clone() else {
            self.control(&Frame::RstStream {
                stream_id: id,
                status: RST_REFUSED_STREAM,
            });
            return;
        };
        self.control(&Frame::SynReply {
            stream_id: id,
            flags: 0,
            headers: Vec::new(),
        });
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let reset = Arc::new(AtomicBool::new(false));
        if self.streams.len() > 256 {
            self.streams
                .retain(|_, s| s.tx.is_some() || s.reset.strong_count() > 0);
        }
        self.streams.insert(
            id,
            StreamState {
                tx: (flags & FLAG_FIN == 0).then_some(tx),
                reset: Arc::downgrade(&reset),
                unacked: 0,
            },
        );
        let stream = NewStream {
            id,
            headers,
            reader: StreamReader::new(rx),
            writer: StreamWriter::new(
                &self.conn,
                Framing::Spdy {
                    stream_id: id,
                    tunnel: self.tunnel,
                },
                reset,
            ),
        };
        if events.send(stream).await.is_err() {
            self.events = None;
            self.streams.remove(&id);
            self.control(&Frame::RstStream {
                stream_id: id,
                status: RST_REFUSED_STREAM,
            });
        }
    }

    async fn data(&mut self, id: u32, fin: bool, data: Bytes) {
        let len = data.len() as u32;
        let Some(state) = self.streams.get_mut(&id) else {
            return;
        };
        if let Some(tx) = &state.tx {
            if !data.is_empty() && tx.send(data).await.is_err() {
                state.tx = None;
            }
        }
        if fin {
            state.tx = None;
        }
        state.unacked += len;
        let stream_ack = if state.unacked >= WINDOW_UPDATE_AT && !fin {
            std::mem::take(&mut state.unacked)
        } else {
            0
        };
        self.unacked_session += len;
        if stream_ack > 0 {
            self.control(&Frame::WindowUpdate {
                stream_id: id,
                delta: stream_ack,
            });
        }
        if self.unacked_session >= WINDOW_UPDATE_AT {
            let delta = std::mem::take(&mut self.unacked_session);
            self.control(&Frame::WindowUpdate {
                stream_id: 0,
                delta,
            });
        }
    }
}
