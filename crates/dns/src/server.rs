//! [`Server`]: the sockets and their loops. UDP: one socket per core on
//! the same address with `SO_REUSEPORT` (the kernel spreads clients over
//! them), each read in a tight loop by a task of its own that answers
//! cluster names in place and hands only forwarded names to tasks of
//! their own. TCP: one task per connection, several queries in a row
//! (RFC 7766), closed after 10 s idle.
//!
//! UDP answers larger than the client can take (512 bytes without EDNS0,
//! its announced size with it) go back truncated (TC set, no records), so
//! the client asks again over TCP.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{Record, RecordType};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use crate::answer::{answer, reply_to, Outcome};
use crate::error::DnsError;
use crate::forward::Forwarder;
use crate::metrics::{Metrics, Proto};
use crate::snapshot::Snapshot;

/// The largest UDP answer to a client without EDNS0 (RFC 1035).
pub const UDP_PLAIN_LIMIT: usize = 512;
/// The largest answer over TCP.
const TCP_LIMIT: usize = u16::MAX as usize;
/// How long a TCP connection may stay idle.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Bound sockets, not yet serving.
pub struct Server {
    udp: Vec<Arc<UdpSocket>>,
    tcp: TcpListener,
    local: SocketAddr,
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> DnsError {
    let what = what.into();
    move |source| DnsError::Io { what, source }
}

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(true)?;
    // Room for a burst of queries while a task is busy.
    let _ = socket.set_recv_buffer_size(4 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

impl Server {
    /// Bind UDP (`workers` sockets) and TCP on `addr` (port 0: one picked
    /// for all of them).
    pub async fn bind(addr: SocketAddr, workers: usize) -> Result<Server, DnsError> {
        // Port 0: the UDP port the kernel picks may be taken for TCP by
        // someone else; pick again a few times.
        let tries = if addr.port() == 0 { 8 } else { 1 };
        let mut last = None;
        for _ in 0..tries {
            match Self::bind_once(addr, workers).await {
                Err(DnsError::Io { what, source })
                    if source.kind() == std::io::ErrorKind::AddrInUse && addr.port() == 0 =>
                {
                    last = Some(DnsError::Io { what, source });
                }
                other => return other,
            }
        }
        Err(last.unwrap_or_else(|| DnsError::Io {
            what: format!("cannot bind {addr}"),
            source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
        }))
    }

    async fn bind_once(addr: SocketAddr, workers: usize) -> Result<Server, DnsError> {
        let first = udp_socket(addr).map_err(io(format!("cannot bind UDP {addr}")))?;
        let local = first
            .local_addr()
            .map_err(io("cannot read the UDP address"))?;
        let mut udp = vec![Arc::new(first)];
        for _ in 1..workers.max(1) {
            udp.push(Arc::new(
                udp_socket(local).map_err(io(format!("cannot bind UDP {local}")))?,
            ));
        }
        let tcp = TcpListener::bind(local)
            .await
            .map_err(io(format!("cannot bind TCP {local}")))?;
        Ok(Server { udp, tcp, local })
    }

    /// Where it listens (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Serve until a socket fails or the task is dropped.
    pub async fn serve(
        self,
        snapshots: watch::Receiver<Arc<Snapshot>>,
        forwarder: Arc<Forwarder>,
        metrics: Arc<Metrics>,
    ) -> Result<(), DnsError> {
        let handler = Arc::new(Handler {
            snapshots,
            forwarder,
            metrics,
        });
        let mut tasks = tokio::task::JoinSet::new();
        for socket in self.udp {
            let handler = handler.clone();
            tasks.spawn(async move { udp_loop(socket, handler).await });
        }
        let tcp = self.tcp;
        tasks.spawn(async move { tcp_loop(tcp, handler).await });
        tracing::info!(address = %self.local, "serving cluster DNS");
        let ended = tasks.join_next().await;
        tasks.abort_all();
        match ended {
            Some(Ok(result)) => result,
            Some(Err(join)) => Err(DnsError::Io {
                what: "a DNS task ended".into(),
                source: std::io::Error::other(join.to_string()),
            }),
            None => Ok(()),
        }
    }
}

struct Handler {
    snapshots: watch::Receiver<Arc<Snapshot>>,
    forwarder: Arc<Forwarder>,
    metrics: Arc<Metrics>,
}

/// What became of one query.
enum Step {
    /// The answer's bytes.
    Done(Vec<u8>),
    /// Needs the upstreams (the request, what to do, the answer's size
    /// limit).
    Slow(Box<(Message, Outcome)>, usize),
}

/// The largest answer `request` takes over UDP.
fn udp_limit(request: &Message) -> usize {
    request
        .extensions()
        .as_ref()
        .map(|e| (e.max_payload() as usize).max(UDP_PLAIN_LIMIT))
        .unwrap_or(UDP_PLAIN_LIMIT)
}

/// `reply` encoded, truncated (TC, no records) when over `limit`.
fn encode(mut reply: Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = reply.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    reply.take_answers();
    reply.take_name_servers();
    reply.take_additionals();
    reply.set_truncated(true);
    reply.to_vec().ok()
}

/// Raw upstream bytes for a UDP client: as they are when they fit,
/// otherwise truncated.
fn fit(bytes: Vec<u8>, limit: usize) -> Option<Vec<u8>> {
    if bytes.len() <= limit {
        return Some(bytes);
    }
    encode(Message::from_vec(&bytes).ok()?, limit)
}

/// A FORMERR for a message we cannot parse, from its header alone.
fn formerr(data: &[u8]) -> Option<Vec<u8>> {
    if data.len() < 12 || data[2] & 0x80 != 0 {
        return None;
    }
    let mut out = data[..12].to_vec();
    out[2] |= 0x80;
    out[3] = (out[3] & 0xf0) | 1;
    out[4..12].fill(0);
    Some(out)
}

impl Handler {
    fn step(&self, data: &[u8], proto: Proto) -> Option<Step> {
        let Ok(request) = Message::from_vec(data) else {
            return formerr(data).map(Step::Done);
        };
        let limit = match proto {
            Proto::Udp => udp_limit(&request),
            Proto::Tcp => TCP_LIMIT,
        };
        if let Some(q) = request.queries().first() {
            self.metrics.request(proto, q.query_type());
        }
        let snapshot = self.snapshots.borrow().clone();
        match answer(&request, &snapshot) {
            Outcome::Reply(reply) => {
                self.metrics.response(reply.response_code());
                encode(reply, limit).map(Step::Done)
            }
            slow => Some(Step::Slow(Box::new((request, slow)), limit)),
        }
    }

    /// The answer that needs the upstreams.
    async fn slow(
        &self,
        request: Message,
        outcome: Outcome,
        data: &[u8],
        limit: usize,
    ) -> Option<Vec<u8>> {
        match outcome {
            Outcome::Reply(reply) => encode(reply, limit),
            Outcome::Forward => match self.forwarder.forward(data).await {
                Some(bytes) => {
                    self.metrics.forwarded(true);
                    fit(bytes, limit)
                }
                None => {
                    self.metrics.forwarded(false);
                    self.metrics.response(ResponseCode::ServFail);
                    encode(reply_to(&request, ResponseCode::ServFail), limit)
                }
            },
            Outcome::Chase {
                mut reply,
                target,
                qtype,
            } => {
                let answers = self.chase(target, qtype).await;
                reply.add_answers(answers);
                self.metrics.response(reply.response_code());
                encode(reply, limit)
            }
        }
    }

    /// The upstreams' records for a CNAME target (none if they fail).
    async fn chase(&self, target: hickory_proto::rr::Name, qtype: RecordType) -> Vec<Record> {
        let mut query = Message::new();
        query
            .set_id(rand_id())
            .set_recursion_desired(true)
            .add_query(hickory_proto::op::Query::query(target, qtype));
        let Ok(bytes) = query.to_vec() else {
            return Vec::new();
        };
        let Some(answer) = self.forwarder.forward(&bytes).await else {
            return Vec::new();
        };
        Message::from_vec(&answer)
            .map(|mut m| m.take_answers())
            .unwrap_or_default()
    }
}

/// A query id for our own upstream queries.
fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or_default(),
    );
    h.finish() as u16
}

async fn udp_loop(socket: Arc<UdpSocket>, handler: Arc<Handler>) -> Result<(), DnsError> {
    let mut buf = vec![0u8; 65535];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(got) => got,
            // An ICMP error for an earlier answer, and the like.
            Err(e) => {
                tracing::debug!(error = %e, "UDP receive");
                tokio::time::sleep(Duration::from_millis(1)).await;
                continue;
            }
        };
        let data = &buf[..n];
        match handler.step(data, Proto::Udp) {
            None => {}
            Some(Step::Done(bytes)) => {
                let _ = socket.send_to(&bytes, peer).await;
            }
            Some(Step::Slow(pending, limit)) => {
                let (request, outcome) = *pending;
                let handler = handler.clone();
                let socket = socket.clone();
                let data = data.to_vec();
                tokio::spawn(async move {
                    if let Some(bytes) = handler.slow(request, outcome, &data, limit).await {
                        let _ = socket.send_to(&bytes, peer).await;
                    }
                });
            }
        }
    }
}

async fn tcp_loop(listener: TcpListener, handler: Arc<Handler>) -> Result<(), DnsError> {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(got) => got,
            Err(e) => {
                tracing::debug!(error = %e, "TCP accept");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            if let Err(e) = tcp_connection(stream, handler).await {
                tracing::debug!(error = %e, "TCP connection");
            }
        });
    }
}

async fn tcp_connection(mut stream: TcpStream, handler: Arc<Handler>) -> std::io::Result<()> {
    loop {
        let mut len = [0u8; 2];
        match tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut len)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let mut data = vec![0u8; u16::from_be_bytes(len) as usize];
        tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut data))
            .await
            .map_err(|_| std::io::Error::other("TCP read timed out"))??;
        let bytes = match handler.step(&data, Proto::Tcp) {
            None => continue,
            Some(Step::Done(bytes)) => Some(bytes),
            Some(Step::Slow(pending, limit)) => {
                let (request, outcome) = *pending;
                handler.slow(request, outcome, &data, limit).await
            }
        };
        let Some(bytes) = bytes else {
            continue;
        };
        let Ok(n) = u16::try_from(bytes.len()) else {
            continue;
        };
        let mut out = Vec::with_capacity(bytes.len() + 2);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&bytes);
        stream.write_all(&out).await?;
    }
}
