//! [`PortForwardSession`]: the connections a port-forward client asks
//! for, each as a [`ForwardRequest`] (the port, the byte stream, and
//! where to report a failure such as a closed port).
//!
//! - WebSocket (`v4.channel.k8s.io`): one connection per port named in
//!   `?ports=`, data on channel 2i and errors on 2i+1, each channel's
//!   first message from the server being the port (2 bytes, little
//!   endian). The session ends when every request is done.
//! - SPDY (`portforward.k8s.io`, also tunnelled in WebSocket): the client
//!   opens an error stream and a data stream per connection, paired by
//!   their `requestID` header, as many as it likes, concurrently.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::channel::{self, Routes};
use crate::error::StreamError;
use crate::negotiate::{Transport, Upgrade};
use crate::pipe::{Conn, ForwardStream, Framing, Out, StreamReader, StreamWriter};
use crate::spdy::conn::{NewStream, SpdyConn};
use crate::websocket;

/// One forwarded connection the client asked for: connect to `port` in
/// the pod, pipe `stream` to it, and report a failure on `error`.
#[derive(Debug)]
pub struct ForwardRequest {
    pub port: u16,
    pub stream: ForwardStream,
    pub error: ErrorSender,
}

/// Where a forwarded connection's failure is reported to the client.
/// Dropping it closes the error stream with no error: keep it until the
/// forwarding is over.
#[derive(Debug)]
pub struct ErrorSender {
    writer: Option<StreamWriter>,
}

impl ErrorSender {
    /// Report `message` (e.g. nothing listens on the port) and close the
    /// error stream.
    pub fn send(mut self, message: &str) {
        if let Some(w) = self.writer.take() {
            w.send_now(message.as_bytes());
        }
    }
}

/// A port-forward session with a client.
pub struct PortForwardSession {
    inner: Inner,
    conn: Option<Conn>,
    goodbye: Vec<Bytes>,
    gone: CancellationToken,
}

enum Inner {
    WebSocket {
        pending: VecDeque<ForwardRequest>,
        /// Ends (`None`) once every request handed out is dropped.
        live: mpsc::Receiver<()>,
    },
    Spdy {
        events: mpsc::Receiver<NewStream>,
        /// Streams waiting for their partner, by request id.
        halves: HashMap<String, Half>,
    },
}

#[derive(Default)]
struct Half {
    error: Option<NewStream>,
    data: Option<NewStream>,
}

impl PortForwardSession {
    /// Set up the session on the upgraded connection `io`. `ports` (from
    /// `?ports=`) are required over WebSocket, where each is one
    /// connection; SPDY clients name the port in each stream.
    pub fn accept<S>(
        io: S,
        upgrade: &Upgrade,
        ports: &[u16],
    ) -> Result<PortForwardSession, StreamError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        match upgrade.transport {
            Transport::WebSocket => Self::accept_websocket(io, upgrade, ports),
            Transport::Spdy | Transport::SpdyOverWebSocket => {
                let spdy = SpdyConn::start(io, upgrade.transport == Transport::SpdyOverWebSocket);
                Ok(PortForwardSession {
                    goodbye: spdy.goodbye(),
                    gone: spdy.conn.handle.gone.clone(),
                    conn: Some(spdy.conn),
                    inner: Inner::Spdy {
                        events: spdy.events,
                        halves: HashMap::new(),
                    },
                })
            }
        }
    }

    fn accept_websocket<S>(
        io: S,
        upgrade: &Upgrade,
        ports: &[u16],
    ) -> Result<PortForwardSession, StreamError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        if ports.is_empty() || ports.len() > 127 {
            return Err(StreamError::Protocol(
                "port-forward over WebSocket needs 1 to 127 ports in the query (ports=)".into(),
            ));
        }
        let mut data = HashMap::new();
        let mut readers = Vec::with_capacity(ports.len());
        for i in 0..ports.len() {
            let (tx, rx) = mpsc::channel(16);
            data.insert((2 * i) as u8, tx);
            readers.push(StreamReader::new(rx));
        }
        let base64 = upgrade.base64;
        let conn = channel::start(
            io,
            Routes {
                base64,
                data,
                resize: None,
                close_channel: false,
            },
        );
        let (live_tx, live) = mpsc::channel(1);
        let mut pending = VecDeque::with_capacity(ports.len());
        for (i, (port, reader)) in ports.iter().zip(readers).enumerate() {
            let framing = |channel: usize| Framing::Channel {
                channel: channel as u8,
                base64,
            };
            let prefix = port.to_le_bytes();
            for channel in [2 * i, 2 * i + 1] {
                let _ = conn
                    .handle
                    .out
                    .send(Out::Frame(framing(channel).data(&prefix), None));
            }
            let writer = |channel| {
                StreamWriter::new(
                    &conn.handle,
                    framing(channel),
                    Arc::new(AtomicBool::new(false)),
                )
                .with_live(live_tx.clone())
            };
            pending.push_back(ForwardRequest {
                port: *port,
                stream: ForwardStream {
                    reader,
                    writer: writer(2 * i),
                },
                error: ErrorSender {
                    writer: Some(writer(2 * i + 1)),
                },
            });
        }
        Ok(PortForwardSession {
            inner: Inner::WebSocket { pending, live },
            goodbye: vec![websocket::close_frame(websocket::CLOSE_NORMAL, "")],
            gone: conn.handle.gone.clone(),
            conn: Some(conn),
        })
    }

    /// The next connection to forward; `None` when the session is over
    /// (WebSocket: every request was handled and dropped; SPDY: the
    /// client said GOAWAY or closed the connection), after which the
    /// connection is closed.
    pub async fn next(&mut self) -> Option<ForwardRequest> {
        let request = match &mut self.inner {
            Inner::WebSocket { pending, live } => match pending.pop_front() {
                Some(r) => Some(r),
                None => {
                    tokio::select! {
                        _ = live.recv() => {}
                        _ = self.gone.cancelled() => {}
                    }
                    None
                }
            },
            Inner::Spdy { events, halves } => next_pair(events, halves).await,
        };
        if request.is_none() {
            self.close().await;
        }
        request
    }

    /// Resolves when the client has gone away.
    pub fn client_gone(&self) -> WaitForCancellationFutureOwned {
        self.gone.clone().cancelled_owned()
    }

    /// Close the connection politely (WebSocket close or SPDY GOAWAY)
    /// once what is queued is written.
    pub async fn close(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close(std::mem::take(&mut self.goodbye)).await;
        }
    }
}

async fn next_pair(
    events: &mut mpsc::Receiver<NewStream>,
    halves: &mut HashMap<String, Half>,
) -> Option<ForwardRequest> {
    loop {
        let stream = events.recv().await?;
        let Some(request_id) = stream.header("requestid").map(str::to_string) else {
            reject(stream, "missing requestID header");
            continue;
        };
        let half = halves.entry(request_id.clone()).or_default();
        match stream.header("streamtype") {
            Some("error") => half.error = Some(stream),
            Some("data") => half.data = Some(stream),
            other => {
                let message = format!("unexpected streamType {other:?}");
                reject(stream, &message);
                continue;
            }
        }
        if half.error.is_none() || half.data.is_none() {
            continue;
        }
        let Some(Half {
            error: Some(error),
            data: Some(data),
        }) = halves.remove(&request_id)
        else {
            continue;
        };
        let error_sender = ErrorSender {
            writer: Some(error.writer),
        };
        let port = data.header("port").and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port.filter(|p| *p != 0) else {
            error_sender.send(&format!(
                "invalid port header {:?} in port-forward request {request_id}",
                data.header("port")
            ));
            continue;
        };
        return Some(ForwardRequest {
            port,
            stream: ForwardStream {
                reader: data.reader,
                writer: data.writer,
            },
            error: error_sender,
        });
    }
}

/// Answer a stream that cannot be used with a message on it.
fn reject(stream: NewStream, message: &str) {
    tracing::debug!(
        stream = stream.id,
        message,
        "rejecting a port-forward stream"
    );
    stream.writer.send_now(message.as_bytes());
}
