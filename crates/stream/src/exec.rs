//! [`ExecSession`]: the client's side of an exec or attach, set up over
//! the negotiated transport — stdin, stdout, stderr, terminal resizes —
//! and [`ExecSession::finish`], which writes how the command ended on the
//! error stream and closes the connection.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use rkube_cri::TermSize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::channel::{self, Routes};
use crate::error::StreamError;
use crate::negotiate::{Transport, Upgrade};
use crate::pipe::{Conn, Framing, StreamReader, StreamWriter};
use crate::spdy::conn::SpdyConn;
use crate::status::ExecOutcome;
use crate::websocket;

/// How long the client may take to open its SPDY streams (the kubelet's
/// stream creation timeout).
pub const STREAM_CREATION_TIMEOUT: Duration = Duration::from_secs(30);

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;

/// The streams the client asked for (`stdin`, `stdout`, `stderr`, `tty`
/// query parameters). With a terminal there is no stderr stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// An exec or attach session with a client. Take the streams out (they
/// are `None` when not asked for), pipe them to the process, then call
/// [`ExecSession::finish`] with how it ended. Dropping the session
/// without finishing cuts the connection.
pub struct ExecSession {
    /// What the client types; ends when the client closes stdin.
    pub stdin: Option<StreamReader>,
    pub stdout: Option<StreamWriter>,
    pub stderr: Option<StreamWriter>,
    /// Terminal size changes (with a terminal).
    pub resize: Option<mpsc::Receiver<TermSize>>,
    error: Option<StreamWriter>,
    version: u8,
    conn: Option<Conn>,
    gone: CancellationToken,
    /// WebSocket close or SPDY GOAWAY frames to send at the end.
    goodbye: Vec<Bytes>,
    resize_task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ExecSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecSession")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("resize", &self.resize.is_some())
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ExecSession {
    /// Set up the session on the upgraded connection `io` (after the
    /// `101` built from `upgrade.response_headers` was sent). Over SPDY
    /// this waits for the client to open the streams it asked for.
    pub async fn accept<S>(
        io: S,
        upgrade: &Upgrade,
        options: ExecOptions,
    ) -> Result<ExecSession, StreamError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let want_stderr = options.stderr && !options.tty;
        match upgrade.transport {
            Transport::WebSocket => Ok(Self::accept_websocket(io, upgrade, options, want_stderr)),
            Transport::Spdy | Transport::SpdyOverWebSocket => {
                Self::accept_spdy(io, upgrade, options, want_stderr).await
            }
        }
    }

    fn accept_websocket<S>(
        io: S,
        upgrade: &Upgrade,
        options: ExecOptions,
        want_stderr: bool,
    ) -> ExecSession
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut data = HashMap::new();
        let mut stdin = None;
        if options.stdin {
            let (tx, rx) = mpsc::channel(16);
            data.insert(STDIN, tx);
            stdin = Some(StreamReader::new(rx));
        }
        let mut resize = None;
        let mut resize_route = None;
        if options.tty {
            let (tx, rx) = mpsc::channel(8);
            resize_route = Some((RESIZE, tx));
            resize = Some(rx);
        }
        let base64 = upgrade.base64;
        let conn = channel::start(
            io,
            Routes {
                base64,
                data,
                resize: resize_route,
                close_channel: upgrade.version >= 5,
            },
        );
        let reset = || std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let writer = |channel: u8| {
            StreamWriter::new(&conn.handle, Framing::Channel { channel, base64 }, reset())
        };
        ExecSession {
            stdin,
            stdout: options.stdout.then(|| writer(STDOUT)),
            stderr: want_stderr.then(|| writer(STDERR)),
            resize,
            error: Some(writer(ERROR)),
            version: upgrade.version,
            goodbye: vec![websocket::close_frame(websocket::CLOSE_NORMAL, "")],
            gone: conn.handle.gone.clone(),
            conn: Some(conn),
            resize_task: None,
        }
    }

    async fn accept_spdy<S>(
        io: S,
        upgrade: &Upgrade,
        options: ExecOptions,
        want_stderr: bool,
    ) -> Result<ExecSession, StreamError>
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let mut spdy = SpdyConn::start(io, upgrade.transport == Transport::SpdyOverWebSocket);
        let want_resize = options.tty && upgrade.version >= 3;
        let (mut error, mut stdin, mut stdout, mut stderr, mut resize_stream) =
            (None, None, None, None, None);
        let complete =
            |e: &Option<_>, i: &Option<_>, o: &Option<_>, r: &Option<_>, z: &Option<_>| {
                e.is_some()
                    && i.is_some() == options.stdin
                    && o.is_some() == options.stdout
                    && r.is_some() == want_stderr
                    && z.is_some() == want_resize
            };
        let deadline = tokio::time::Instant::now() + STREAM_CREATION_TIMEOUT;
        while !complete(&error, &stdin, &stdout, &stderr, &resize_stream) {
            let next = tokio::time::timeout_at(deadline, spdy.events.recv()).await;
            let stream = match next {
                Ok(Some(s)) => s,
                Ok(None) => return Err(StreamError::Closed),
                Err(_) => {
                    return Err(StreamError::Timeout(format!(
                        "expected error{}{}{}{}",
                        if options.stdin { ", stdin" } else { "" },
                        if options.stdout { ", stdout" } else { "" },
                        if want_stderr { ", stderr" } else { "" },
                        if want_resize { ", resize" } else { "" },
                    )))
                }
            };
            match stream.header("streamtype") {
                Some("error") => error = Some(stream.writer),
                Some("stdin") if options.stdin => stdin = Some(stream.reader),
                Some("stdout") if options.stdout => stdout = Some(stream.writer),
                Some("stderr") if want_stderr => stderr = Some(stream.writer),
                Some("resize") if want_resize => resize_stream = Some(stream.reader),
                other => {
                    tracing::debug!(stream_type = ?other, "ignoring an unexpected exec stream");
                }
            }
        }
        let (resize, resize_task) = match resize_stream {
            Some(reader) => {
                let (tx, rx) = mpsc::channel(8);
                (Some(rx), Some(tokio::spawn(read_resizes(reader, tx))))
            }
            None => (None, None),
        };
        let goodbye = spdy.goodbye();
        // Streams opened from now on are refused.
        drop(spdy.events);
        Ok(ExecSession {
            stdin,
            stdout,
            stderr,
            resize,
            error,
            version: upgrade.version,
            gone: spdy.conn.handle.gone.clone(),
            conn: Some(spdy.conn),
            goodbye,
            resize_task,
        })
    }

    /// Resolves when the client has gone away (closed the connection or
    /// sent garbage): the caller may stop the command's streams.
    pub fn client_gone(&self) -> WaitForCancellationFutureOwned {
        self.gone.clone().cancelled_owned()
    }

    /// The remotecommand version agreed (1 to 5).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// End the session: close what is left of stdout/stderr, write how
    /// the command ended on the error stream and close the connection
    /// once everything is written. Call it after the output was copied.
    pub async fn finish(mut self, outcome: ExecOutcome) {
        self.stdin = None;
        self.stdout = None;
        self.stderr = None;
        if let Some(error) = self.error.take() {
            error.send_now(&outcome.error_stream_bytes(self.version));
        }
        if let Some(t) = self.resize_task.take() {
            t.abort();
        }
        let goodbye = std::mem::take(&mut self.goodbye);
        if let Some(conn) = self.conn.take() {
            conn.close(goodbye).await;
        }
    }
}

impl Drop for ExecSession {
    fn drop(&mut self) {
        if let Some(t) = self.resize_task.take() {
            t.abort();
        }
    }
}

async fn read_resizes(mut reader: StreamReader, tx: mpsc::Sender<TermSize>) {
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    loop {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        match channel::parse_sizes(&mut buf) {
            Ok(sizes) => {
                for s in sizes {
                    if tx.send(s).await.is_err() {
                        return;
                    }
                }
            }
            Err(()) => {
                tracing::debug!("malformed resize stream; ignoring further resizes");
                return;
            }
        }
        if buf.len() > 64 * 1024 {
            return;
        }
    }
}
