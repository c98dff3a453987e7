//! Streaming calls into a running pod (CRI's `Exec`, `Attach`,
//! `PortForward`) and the usage figures of its containers (CRI's
//! `ContainerStats`/`PodSandboxStats`): the types the node's API
//! (`kubectl exec|attach|port-forward|top`) gets from the runtime.
//!
//! Unlike CRI, which answers a URL of a streaming server of its own, the
//! runtime here hands back the byte streams themselves; the node's API
//! frames them for the client (WebSocket or SPDY).

use std::fmt;
use std::time::SystemTime;

use futures::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;

use crate::error::CriError;

/// A command to run in a running container with its streams connected
/// (`kubectl exec`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecRequest {
    pub container_id: String,
    pub cmd: Vec<String>,
    /// Run the command on a terminal (stdout and stderr are then one
    /// stream, `StreamIo::stderr` is `None`).
    pub tty: bool,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// Streams to connect to a running container's main process
/// (`kubectl attach`). Its terminal setting is the container's own
/// (`ContainerConfig::tty`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AttachRequest {
    pub container_id: String,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// A terminal's size in characters (a `resize` message).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TermSize {
    pub width: u16,
    pub height: u16,
}

/// The streams of an exec'd command or an attached container, as asked
/// for (a stream not asked for is `None`). Dropping `stdin` closes the
/// process's standard input.
pub struct StreamIo {
    pub stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    pub stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Terminal size changes (only with a terminal).
    pub resize: Option<mpsc::Sender<TermSize>>,
    /// Resolves to the exit code when the command (for attach: the
    /// container) ends. Dropping it does not stop the command.
    pub exit: BoxFuture<'static, Result<i32, CriError>>,
}

impl fmt::Debug for StreamIo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamIo")
            .field("stdin", &self.stdin.is_some())
            .field("stdout", &self.stdout.is_some())
            .field("stderr", &self.stderr.is_some())
            .field("resize", &self.resize.is_some())
            .finish_non_exhaustive()
    }
}

/// CPU and memory of one container, read from its cgroup, as the kubelet's
/// summary API reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStats {
    pub container_id: String,
    /// When the figures were read.
    pub timestamp: SystemTime,
    /// Cumulative CPU time, nanoseconds (`usageCoreNanoSeconds`).
    pub cpu_usage_core_nanoseconds: u64,
    /// Memory usage minus inactive file pages (`workingSetBytes`): what
    /// `kubectl top` shows and eviction counts.
    pub memory_working_set_bytes: u64,
    /// Memory usage including page cache (`usageBytes`).
    pub memory_usage_bytes: u64,
    /// Anonymous and swap cache memory (`rssBytes`).
    pub memory_rss_bytes: u64,
    /// Bytes the container wrote to its writable layer, if known.
    pub writable_layer_bytes: Option<u64>,
}

/// CPU and memory of a whole pod (its pod-level cgroup).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSandboxStats {
    pub sandbox_id: String,
    pub timestamp: SystemTime,
    pub cpu_usage_core_nanoseconds: u64,
    pub memory_working_set_bytes: u64,
    pub memory_usage_bytes: u64,
    pub memory_rss_bytes: u64,
    /// Network bytes received and sent on the pod's interface.
    pub network_rx_bytes: u64,
    pub network_tx_bytes: u64,
}

/// What [`crate::RuntimeService`]'s streaming calls answer when a runtime
/// does not have them.
pub fn unsupported<T>(what: &str) -> Result<T, CriError> {
    Err(CriError::Unsupported(format!(
        "{what} is not supported by this runtime"
    )))
}

/// A future of the exit code, for [`StreamIo::exit`].
pub type ExitFuture = BoxFuture<'static, Result<i32, CriError>>;
