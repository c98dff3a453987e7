//! The byte streams a session hands out and the one task that writes to
//! the client: [`StreamReader`] (what the client sent on one channel or
//! stream), [`StreamWriter`] (frames what is written into the
//! connection's single ordered queue), [`ForwardStream`] (both, for a
//! forwarded connection), and `Conn`, a connection's reader and writer
//! tasks (stopped when it is dropped).
//!
//! Backpressure: data frames take a permit of the connection's semaphore
//! (released once written), so a slow client stalls writers instead of
//! growing the queue; control frames (replies, FINs, pongs, statuses) go
//! through without one, in order, and never block.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use base64::Engine;
use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, PollSemaphore};

use crate::spdy::frame::encode_data_header;
use crate::websocket::{self, OP_BINARY, OP_TEXT};

/// The most payload bytes put in one data frame.
pub const MAX_CHUNK: usize = 64 * 1024;
/// Data frames queued per connection before writers wait.
const QUEUE_PERMITS: usize = 64;
/// Bytes gathered into one write to the socket.
const WRITE_BATCH: usize = 256 * 1024;
/// How long a finished session waits for its last frames to be written.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the writer task is asked to do.
pub(crate) enum Out {
    /// Write these bytes (a whole frame), then release the permit.
    Frame(Bytes, Option<OwnedSemaphorePermit>),
    /// Write what is queued before, then close the connection.
    Close,
}

pub(crate) type OutTx = mpsc::UnboundedSender<Out>;

/// How a writer frames its bytes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Framing {
    /// A WebSocket message on a channel (`base64`: text, base64 payload).
    Channel { channel: u8, base64: bool },
    /// A SPDY stream (`tunnel`: inside WebSocket binary messages).
    Spdy { stream_id: u32, tunnel: bool },
}

impl Framing {
    /// One data frame carrying `payload`.
    pub(crate) fn data(&self, payload: &[u8]) -> Bytes {
        match *self {
            Framing::Channel {
                channel,
                base64: false,
            } => {
                let mut b = BytesMut::with_capacity(websocket::MAX_HEADER + 1 + payload.len());
                websocket::encode_header(&mut b, OP_BINARY, payload.len() + 1, None);
                b.put_u8(channel);
                b.put_slice(payload);
                b.freeze()
            }
            Framing::Channel {
                channel,
                base64: true,
            } => {
                let mut text = vec![b'0' + channel];
                text.extend_from_slice(
                    base64::engine::general_purpose::STANDARD
                        .encode(payload)
                        .as_bytes(),
                );
                websocket::frame(OP_TEXT, &text)
            }
            Framing::Spdy { stream_id, tunnel } => spdy_data(stream_id, tunnel, false, payload),
        }
    }

    /// The frame that half-closes the stream, if the protocol has one.
    pub(crate) fn fin(&self) -> Option<Bytes> {
        match *self {
            Framing::Channel { .. } => None,
            Framing::Spdy { stream_id, tunnel } => Some(spdy_data(stream_id, tunnel, true, &[])),
        }
    }
}

/// A SPDY DATA frame, in a WebSocket binary message when tunnelled.
fn spdy_data(stream_id: u32, tunnel: bool, fin: bool, payload: &[u8]) -> Bytes {
    let len = 8 + payload.len();
    let mut b = BytesMut::with_capacity(websocket::MAX_HEADER + len);
    if tunnel {
        websocket::encode_header(&mut b, OP_BINARY, len, None);
    }
    encode_data_header(&mut b, stream_id, fin, payload.len());
    b.put_slice(payload);
    b.freeze()
}

/// Wrap an encoded SPDY frame in a WebSocket binary message when
/// tunnelled.
pub(crate) fn tunnel_wrap(tunnel: bool, frame: Bytes) -> Bytes {
    if !tunnel {
        return frame;
    }
    let mut b = BytesMut::with_capacity(websocket::MAX_HEADER + frame.len());
    websocket::encode_header(&mut b, OP_BINARY, frame.len(), None);
    b.put_slice(&frame);
    b.freeze()
}

/// What the client sent on one channel or stream; ends (EOF) when the
/// client closes it or the connection ends.
#[derive(Debug)]
pub struct StreamReader {
    rx: mpsc::Receiver<Bytes>,
    chunk: Bytes,
}

impl StreamReader {
    pub(crate) fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        StreamReader {
            rx,
            chunk: Bytes::new(),
        }
    }
}

impl AsyncRead for StreamReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.chunk.is_empty() {
            match ready!(self.rx.poll_recv(cx)) {
                Some(b) => self.chunk = b,
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = self.chunk.len().min(buf.remaining());
        buf.put_slice(&self.chunk.split_to(n));
        Poll::Ready(Ok(()))
    }
}

/// Hands out the received chunks themselves (`tokio::io::copy_buf`
/// writes them on without another copy).
impl AsyncBufRead for StreamReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        while this.chunk.is_empty() {
            match ready!(this.rx.poll_recv(cx)) {
                Some(b) => this.chunk = b,
                None => return Poll::Ready(Ok(&[])),
            }
        }
        Poll::Ready(Ok(&this.chunk[..]))
    }

    fn consume(mut self: Pin<&mut Self>, amt: usize) {
        let n = amt.min(self.chunk.len());
        let _ = self.chunk.split_to(n);
    }
}

/// Writes to the client on one channel or stream. Shutting it down (or
/// dropping it) half-closes a SPDY stream; WebSocket channels have no
/// half-close.
pub struct StreamWriter {
    out: OutTx,
    sem: PollSemaphore,
    framing: Framing,
    /// Set when the client reset the stream.
    reset: Arc<AtomicBool>,
    closed: bool,
    /// Held while the writer lives (WebSocket port-forward: the session
    /// ends when every request's writers are gone).
    _live: Option<mpsc::Sender<()>>,
}

impl std::fmt::Debug for StreamWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamWriter")
            .field("framing", &self.framing)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl StreamWriter {
    pub(crate) fn new(conn: &ConnHandle, framing: Framing, reset: Arc<AtomicBool>) -> Self {
        StreamWriter {
            out: conn.out.clone(),
            sem: PollSemaphore::new(conn.sem.clone()),
            framing,
            reset,
            closed: false,
            _live: None,
        }
    }

    pub(crate) fn with_live(mut self, live: mpsc::Sender<()>) -> Self {
        self._live = Some(live);
        self
    }

    fn broken() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "the client closed the stream")
    }
}

impl AsyncWrite for StreamWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed || self.reset.load(Ordering::Relaxed) || self.out.is_closed() {
            return Poll::Ready(Err(Self::broken()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Some(permit) = ready!(self.sem.poll_acquire(cx)) else {
            return Poll::Ready(Err(Self::broken()));
        };
        let n = buf.len().min(MAX_CHUNK);
        let frame = self.framing.data(&buf[..n]);
        self.out
            .send(Out::Frame(frame, Some(permit)))
            .map_err(|_| Self::broken())?;
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl StreamWriter {
    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            if let Some(fin) = self.framing.fin() {
                if !self.reset.load(Ordering::Relaxed) {
                    let _ = self.out.send(Out::Frame(fin, None));
                }
            }
        }
    }

    /// Write a whole message without waiting for queue space (error
    /// streams: short and last).
    pub(crate) fn send_now(&self, payload: &[u8]) {
        if !payload.is_empty() {
            let _ = self.out.send(Out::Frame(self.framing.data(payload), None));
        }
    }
}

impl Drop for StreamWriter {
    fn drop(&mut self) {
        self.close();
    }
}

/// A forwarded connection's two directions: read what the client sends,
/// write what goes back. Shutting down the write side half-closes it
/// (SPDY). Split it (move the fields out) to drive both directions
/// apart; the request counts as done when its writer is dropped.
#[derive(Debug)]
pub struct ForwardStream {
    pub reader: StreamReader,
    pub writer: StreamWriter,
}

impl AsyncRead for ForwardStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.reader).poll_read(cx, buf)
    }
}

impl AsyncWrite for ForwardStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.writer).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.writer).poll_shutdown(cx)
    }
}

/// What writers and the reader task share about a connection.
#[derive(Clone)]
pub(crate) struct ConnHandle {
    pub out: OutTx,
    pub sem: Arc<Semaphore>,
    /// Cancelled when the client is gone (read side ended or a write
    /// failed).
    pub gone: CancellationToken,
}

/// A connection's tasks; dropping it stops both.
pub(crate) struct Conn {
    pub handle: ConnHandle,
    writer: Option<JoinHandle<()>>,
    reader: Option<JoinHandle<()>>,
}

impl Conn {
    /// Start the writer task on `io`; the reader is added with
    /// [`Conn::set_reader`].
    pub(crate) fn start<W>(io: W) -> Conn
    where
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let (out, rx) = mpsc::unbounded_channel();
        let gone = CancellationToken::new();
        let writer = tokio::spawn(write_loop(io, rx, gone.clone()));
        Conn {
            handle: ConnHandle {
                out,
                sem: Arc::new(Semaphore::new(QUEUE_PERMITS)),
                gone,
            },
            writer: Some(writer),
            reader: None,
        }
    }

    pub(crate) fn set_reader(&mut self, reader: JoinHandle<()>) {
        self.reader = Some(reader);
    }

    /// Queue `last` frames, close the connection once they are written
    /// (waiting at most a few seconds), stop reading.
    pub(crate) async fn close(mut self, last: Vec<Bytes>) {
        for frame in last {
            let _ = self.handle.out.send(Out::Frame(frame, None));
        }
        let _ = self.handle.out.send(Out::Close);
        if let Some(writer) = self.writer.take() {
            let abort = writer.abort_handle();
            if tokio::time::timeout(FLUSH_TIMEOUT, writer).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Some(r) = self.reader.take() {
            r.abort();
        }
        if let Some(w) = self.writer.take() {
            w.abort();
        }
        self.handle.sem.close();
    }
}

async fn write_loop<W>(mut io: W, mut rx: mpsc::UnboundedReceiver<Out>, gone: CancellationToken)
where
    W: AsyncWrite + Send + Unpin,
{
    let mut batch: Vec<Bytes> = Vec::with_capacity(64);
    let mut permits: Vec<OwnedSemaphorePermit> = Vec::with_capacity(64);
    let mut close = false;
    while !close {
        let Some(first) = rx.recv().await else {
            break;
        };
        let mut total = 0usize;
        let mut next = Some(first);
        while let Some(out) = next.take() {
            match out {
                Out::Frame(b, p) => {
                    total += b.len();
                    batch.push(b);
                    permits.extend(p);
                }
                Out::Close => close = true,
            }
            if !close && total < WRITE_BATCH {
                next = rx.try_recv().ok();
            }
        }
        let result = write_all_vectored(&mut io, &batch).await;
        batch.clear();
        permits.clear();
        let result = match result {
            Ok(()) => io.flush().await,
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "stream connection write failed");
            gone.cancel();
            return;
        }
    }
    let _ = io.shutdown().await;
    gone.cancel();
}

async fn write_all_vectored<W>(io: &mut W, bufs: &[Bytes]) -> io::Result<()>
where
    W: AsyncWrite + Unpin,
{
    let (mut idx, mut off) = (0usize, 0usize);
    while idx < bufs.len() {
        if bufs[idx].len() == off {
            idx += 1;
            off = 0;
            continue;
        }
        let slices: Vec<io::IoSlice<'_>> = std::iter::once(io::IoSlice::new(&bufs[idx][off..]))
            .chain(bufs[idx + 1..].iter().take(63).map(|b| io::IoSlice::new(b)))
            .collect();
        let mut n = io.write_vectored(&slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        while n > 0 && idx < bufs.len() {
            let left = bufs[idx].len() - off;
            if n >= left {
                n -= left;
                idx += 1;
                off = 0;
            } else {
                off += n;
                n = 0;
            }
        }
    }
    Ok(())
}
