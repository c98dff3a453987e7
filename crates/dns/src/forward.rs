//! [`Forwarder`]: names that are not the cluster's, sent to the upstream
//! resolvers as they came (same id, same EDNS) from a fresh socket on a
//! random port each time: UDP first, TCP when the answer comes back
//! truncated, the next upstream on a timeout. `None` when none answered
//! (the server then replies SERVFAIL, as CoreDNS's `forward` does).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one upstream gets before the next is tried.
pub const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);

/// The upstream resolvers.
#[derive(Clone, Debug)]
pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    timeout: Duration,
}

/// The TC bit in a message's header.
fn truncated(msg: &[u8]) -> bool {
    msg.len() > 2 && msg[2] & 0x02 != 0
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>) -> Forwarder {
        Forwarder {
            upstreams,
            timeout: UPSTREAM_TIMEOUT,
        }
    }

    /// With another per-upstream timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Forwarder {
        self.timeout = timeout;
        self
    }

    pub fn upstreams(&self) -> &[SocketAddr] {
        &self.upstreams
    }

    /// The first upstream's answer to `query` (a whole DNS message).
    pub async fn forward(&self, query: &[u8]) -> Option<Vec<u8>> {
        if query.len() < 12 {
            return None;
        }
        for upstream in &self.upstreams {
            match tokio::time::timeout(self.timeout, Self::ask(*upstream, query)).await {
                Ok(Ok(answer)) => return Some(answer),
                Ok(Err(error)) => {
                    tracing::debug!(%upstream, %error, "upstream failed");
                }
                Err(_) => tracing::debug!(%upstream, "upstream timed out"),
            }
        }
        None
    }

    async fn ask(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
        let local: SocketAddr = if upstream.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(local).await?;
        socket.connect(upstream).await?;
        socket.send(query).await?;
        let mut buf = vec![0u8; 65535];
        let answer = loop {
            let n = socket.recv(&mut buf).await?;
            // Only the answer to this query (same id).
            if n >= 12 && buf[..2] == query[..2] {
                break &buf[..n];
            }
        };
        if !truncated(answer) {
            return Ok(answer.to_vec());
        }
        Self::ask_tcp(upstream, query).await
    }

    /// One query over TCP (RFC 1035 4.2.2: a two-byte length before each
    /// message).
    pub async fn ask_tcp(upstream: SocketAddr, query: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(upstream).await?;
        let len = u16::try_from(query.len())
            .map_err(|_| std::io::Error::other("query over 65535 bytes"))?;
        let mut out = Vec::with_capacity(query.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(query);
        stream.write_all(&out).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut answer = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut answer).await?;
        Ok(answer)
    }
}
