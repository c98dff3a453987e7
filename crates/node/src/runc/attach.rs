//! `attach`: a client of the container's shim on its `attach.sock` (see
//! `attach_proto.rs`, `shim/attach_server.rs`). The shim outlives the
//! agent, so a restarted agent attaches to adopted containers alike. The
//! exit is read from `exit.json` (written by the shim before it ends).

use std::path::PathBuf;
use std::time::Duration;

use rkube_cri::ExitFuture;
use rkube_cri::{AttachRequest, ContainerState, CriError, StreamIo, TermSize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::unix::OwnedReadHalf;
use tokio::net::UnixStream;
use tokio::sync::mpsc;

use super::attach_proto::{self, HELLO, RESIZE, STDERR, STDIN, STDIN_CLOSE, STDOUT};
use super::fsutil::read_json;
use super::locks::lock;
use super::records::{ExitRecord, IoRecord};
use super::runtime::RuncRuntime;

/// Buffer of the stdin stream between the client and the socket.
const BUFFER: usize = 64 * 1024;
/// Output chunks queued for a client.
const CHUNKS: usize = 16;
/// How often the exit file is looked for.
const EXIT_POLL: Duration = Duration::from_millis(100);

type Reader = Box<dyn AsyncRead + Send + Unpin>;
type Writer = Box<dyn AsyncWrite + Send + Unpin>;

impl RuncRuntime {
    pub(crate) async fn attach_streams(
        &self,
        request: &AttachRequest,
    ) -> Result<StreamIo, CriError> {
        let id = &request.container_id;
        let entry = self.container(id)?;
        let state = self.observe(&entry).state;
        if state != ContainerState::Running {
            return Err(CriError::Runtime(format!(
                "cannot attach to container {id} ({}): it is not running (state {state:?})",
                entry.record.name
            )));
        }
        let io: IoRecord = read_json(&entry.dir.join("io.json"))
            .ok()
            .flatten()
            .unwrap_or_default();
        let shim_pid = lock(&entry.live).shim.as_ref().map(|s| s.shim_pid);
        let stream = connect(&entry.dir).await.map_err(|e| {
            CriError::Runtime(format!(
                "cannot attach to container {id} ({}): its shim does not answer on attach.sock: {e}",
                entry.record.name
            ))
        })?;
        let (read_half, mut write_half) = stream.into_split();
        let with_stdin = request.stdin && io.stdin;
        write_half
            .write_all(&attach_proto::encode(HELLO, &[u8::from(with_stdin)]))
            .await
            .map_err(CriError::io("greeting the shim"))?;

        // Frames to the shim, from the stdin and resize forwarders.
        let (frames_tx, mut frames_rx) = mpsc::channel::<Vec<u8>>(16);
        tokio::spawn(async move {
            while let Some(frame) = frames_rx.recv().await {
                if write_half.write_all(&frame).await.is_err() {
                    break;
                }
            }
        });

        let stdin: Option<Writer> = if with_stdin {
            let (client, mut ours) = tokio::io::duplex(BUFFER);
            let frames = frames_tx.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    match ours.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if frames
                                .send(attach_proto::encode(STDIN, &buf[..n]))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
                let _ = frames.send(attach_proto::encode(STDIN_CLOSE, &[])).await;
            });
            Some(Box::new(client))
        } else if request.stdin {
            // The container has no stdin: what is typed goes nowhere.
            Some(Box::new(tokio::io::sink()))
        } else {
            None
        };

        let resize = io.tty.then(|| {
            let (tx, mut rx) = mpsc::channel::<TermSize>(8);
            let frames = frames_tx.clone();
            tokio::spawn(async move {
                while let Some(size) = rx.recv().await {
                    let payload = attach_proto::resize_payload(size.width, size.height);
                    if frames
                        .send(attach_proto::encode(RESIZE, &payload))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            tx
        });
        drop(frames_tx);

        // With a terminal there is one stream: stdout.
        let (stdout, stdout_sink) = pipe_if(request.stdout);
        let (stderr, stderr_sink) = pipe_if(request.stderr && !io.tty);
        tokio::spawn(demux(read_half, stdout_sink, stderr_sink));

        tracing::debug!(container = %id, stdin = with_stdin, tty = io.tty, "attached");
        Ok(StreamIo {
            stdin,
            stdout,
            stderr,
            resize,
            exit: wait_exit(entry.dir.clone(), shim_pid),
        })
    }
}

/// Connect to the shim's socket (through a descriptor of the directory:
/// the full path may be too long for a socket address).
async fn connect(dir: &std::path::Path) -> std::io::Result<UnixStream> {
    let dir = std::fs::File::open(dir)?;
    let path = attach_proto::socket_path(std::process::id(), &dir, "attach.sock");
    let stream = UnixStream::connect(&path).await;
    drop(dir);
    stream
}

/// An output stream for the client: chunks from a channel, so the
/// sending side sees at once when the client drops it.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    offset: usize,
}

impl AsyncRead for ChannelReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        while self.offset >= self.chunk.len() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(chunk)) => {
                    self.chunk = chunk;
                    self.offset = 0;
                }
                // The container's output ended.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.remaining().min(self.chunk.len() - self.offset);
        let start = self.offset;
        buf.put_slice(&self.chunk[start..start + n]);
        self.offset += n;
        Poll::Ready(Ok(()))
    }
}

/// A stream for the client and our end of it, if wanted.
fn pipe_if(wanted: bool) -> (Option<Reader>, Option<mpsc::Sender<Vec<u8>>>) {
    if wanted {
        let (tx, rx) = mpsc::channel(CHUNKS);
        let reader = ChannelReader {
            rx,
            chunk: Vec::new(),
            offset: 0,
        };
        (Some(Box::new(reader)), Some(tx))
    } else {
        (None, None)
    }
}

/// Resolves once every given sender's receiver is gone.
async fn all_closed(a: &Option<mpsc::Sender<Vec<u8>>>, b: &Option<mpsc::Sender<Vec<u8>>>) {
    if let Some(a) = a {
        a.closed().await;
    }
    if let Some(b) = b {
        b.closed().await;
    }
}

/// Route the shim's output frames to the client's streams until the shim
/// ends or the client has dropped every output stream (then the socket is
/// let go at once, even if the container is quiet).
async fn demux(
    mut socket: OwnedReadHalf,
    mut stdout: Option<mpsc::Sender<Vec<u8>>>,
    mut stderr: Option<mpsc::Sender<Vec<u8>>>,
) {
    while stdout.is_some() || stderr.is_some() {
        let frame = tokio::select! {
            frame = attach_proto::read_frame_async(&mut socket) => frame,
            () = all_closed(&stdout, &stderr) => break,
        };
        let Ok(Some((kind, payload))) = frame else {
            break;
        };
        let sink = match kind {
            STDOUT => &mut stdout,
            STDERR => &mut stderr,
            _ => continue,
        };
        if let Some(s) = sink {
            if s.send(payload).await.is_err() {
                *sink = None;
            }
        }
    }
}

/// The container's exit code once the shim recorded it.
fn wait_exit(dir: PathBuf, shim_pid: Option<i32>) -> ExitFuture {
    Box::pin(async move {
        let file = dir.join("exit.json");
        loop {
            if let Ok(Some(exit)) = read_json::<ExitRecord>(&file) {
                return Ok(exit.exit_code);
            }
            let shim_alive = shim_pid.is_some_and(|pid| {
                nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
            });
            if !shim_alive {
                if let Ok(Some(exit)) = read_json::<ExitRecord>(&file) {
                    return Ok(exit.exit_code);
                }
                return Err(CriError::Runtime(
                    "the container's shim ended without recording an exit".to_string(),
                ));
            }
            tokio::time::sleep(EXIT_POLL).await;
        }
    })
}
