//! [`StreamError`]: why a streaming session (its negotiation, framing or
//! connection) failed.

/// Why a streaming session failed.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The connection to the client failed or closed.
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
    /// The client sent bytes that are not a valid WebSocket frame.
    #[error("invalid WebSocket frame: {0}")]
    WebSocket(String),
    /// The client sent bytes that are not a valid SPDY/3.1 frame.
    #[error("invalid SPDY frame: {0}")]
    Spdy(String),
    /// A frame or message is larger than this server accepts.
    #[error("frame too large: {size} bytes (limit {limit})")]
    TooLarge { size: usize, limit: usize },
    /// The client's streams do not make a valid session (a missing or
    /// unexpected stream, a bad header).
    #[error("{0}")]
    Protocol(String),
    /// The client did not open the streams it asked for in time.
    #[error("timed out waiting for the client's streams: {0}")]
    Timeout(String),
    /// The client went away before the session was set up.
    #[error("the client closed the connection")]
    Closed,
}
