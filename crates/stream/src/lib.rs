//! rkube-stream: the server side of the streaming protocols `kubectl
//! exec|attach|port-forward` and client-go, the Python client and kube-rs
//! speak, over a connection the HTTP server already upgraded.
//!
//! Start here:
//! 1. [`negotiate()`] reads the request's headers and answers an
//!    [`Upgrade`] (the `101 Switching Protocols` headers to send) or a
//!    [`Rejection`] (a 4xx `Status`).
//! 2. On the upgraded connection, [`ExecSession::accept`] (exec, attach)
//!    or [`PortForwardSession::accept`] gives byte streams to pipe to the
//!    process or the pod's port.
//! 3. [`ExecSession::finish`] writes the exit code as kubectl expects it
//!    ([`ExecOutcome`]).
//!
//! Layers: `websocket.rs` and `spdy/frame.rs`+`spdy/headers.rs` are
//! codecs without I/O (public, so clients and tests can use them);
//! `channel.rs` (WebSocket channels) and `spdy/conn.rs` (SPDY streams)
//! run a connection's reader task; `pipe.rs` holds the stream types and
//! the writer task; `exec.rs` and `portforward.rs` are the sessions.
//!
//! Tasks and buffers of one connection (tunables are the constants named):
//! - one reader task (`channel.rs` or `spdy/conn.rs`) decoding the
//!   client's frames into per-stream channels of 16 chunks
//!   (`STREAM_BUFFER`); a slow consumer holds the reader (head-of-line,
//!   as spdystream and the kubelet do) and TCP holds the client;
//! - one writer task (`pipe.rs`) draining one ordered queue: data frames
//!   need one of 64 permits (`QUEUE_PERMITS`, each frame at most
//!   `MAX_CHUNK` = 64 KiB), control frames go without; it writes up to
//!   256 KiB per vectored write;
//! - limits: WebSocket messages 16 MiB (`channel::MAX_MESSAGE`), SPDY
//!   control frames 1 MiB, DATA frames 16 MiB, an inflated header block
//!   256 KiB; SPDY exec streams must all be open within 30 s
//!   (`exec::STREAM_CREATION_TIMEOUT`); a finished session waits at most
//!   5 s for its last frames to be written;
//! - dropping a session stops both tasks; garbage gets a WebSocket close
//!   (1002, or 1009 for a too large frame) or a SPDY GOAWAY, then the
//!   connection is closed.
//!
//! Not here: HTTP routing, finding containers, running processes (the
//! node's `server/streaming.rs` does that).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod channel;
pub mod client;
pub mod error;
pub mod exec;
pub mod negotiate;
pub mod pipe;
pub mod portforward;
pub mod spdy;
pub mod status;
pub mod websocket;

pub use error::StreamError;
pub use exec::{ExecOptions, ExecSession};
pub use negotiate::{negotiate, Rejection, SessionKind, Transport, Upgrade};
pub use pipe::{ForwardStream, StreamReader, StreamWriter};
pub use portforward::{ErrorSender, ForwardRequest, PortForwardSession};
pub use rkube_cri::TermSize;
pub use status::ExecOutcome;
