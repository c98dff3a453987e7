//! What the integration tests share: the resource API in process (an
//! in-memory store, the built-in resources, no listener) with a kube-rs
//! client, a fake upstream resolver on loopback, and a small DNS client
//! over UDP and TCP built on hickory-proto's message format.

#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record, RecordType};
use kube::Client;
use rkube_apimachinery::Registry;
use rkube_apiserver::resources::{self, ApiState};
use rkube_store::backend::MemDir;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tower::ServiceExt;

/// A client of a fresh in-memory API server.
pub async fn api_client() -> Client {
    let mut opts = EmbeddedOptions::new("unused");
    opts.compaction = CompactionPolicy::Manual;
    let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), opts).expect("store");
    let state = Arc::new(ApiState::new(
        Arc::new(store),
        Arc::new(Registry::builtin()),
    ));
    resources::ensure_namespaces(state.store.as_ref(), &state.registry())
        .await
        .expect("namespaces");
    let router = resources::router(state);
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (parts, body) = request.into_parts();
        let request = http::Request::from_parts(parts, axum::body::Body::new(body));
        router.clone().oneshot(request)
    });
    Client::new(service, "default")
}

/// A query message.
pub fn query(name: &str, qtype: RecordType, edns: bool) -> Message {
    let mut m = Message::new();
    m.set_id(rand_id()).set_recursion_desired(true);
    m.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    if edns {
        let mut e = Edns::new();
        e.set_max_payload(4096);
        m.set_edns(e);
    }
    m
}

fn rand_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u16
}

/// Ask `server` over UDP.
pub async fn udp(server: SocketAddr, msg: &Message) -> Message {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket
        .send_to(&msg.to_vec().expect("encode"), server)
        .await
        .expect("send");
    let mut buf = vec![0u8; 65535];
    let (n, _) = tokio::time::timeout(Duration::from_secs(10), socket.recv_from(&mut buf))
        .await
        .expect("an answer within 10 s")
        .expect("recv");
    let m = Message::from_vec(&buf[..n]).expect("decode");
    assert_eq!(m.id(), msg.id());
    m
}

/// Ask `server` over TCP.
pub async fn tcp(server: SocketAddr, msg: &Message) -> Message {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    let bytes = msg.to_vec().expect("encode");
    stream
        .write_all(&(bytes.len() as u16).to_be_bytes())
        .await
        .expect("write");
    stream.write_all(&bytes).await.expect("write");
    let mut len = [0u8; 2];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut len))
        .await
        .expect("an answer within 10 s")
        .expect("read");
    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut buf).await.expect("read");
    Message::from_vec(&buf).expect("decode")
}

/// The A records of an answer, sorted.
pub fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    let mut v: Vec<Ipv4Addr> = m
        .answers()
        .iter()
        .filter_map(|r| match r.data() {
            RData::A(A(ip)) => Some(*ip),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

/// A resolver on loopback that answers every A question with
/// `192.0.2.53`, except `big.test.`: 40 addresses, truncated over UDP,
/// whole over TCP. It counts the questions it got.
pub struct FakeUpstream {
    pub addr: SocketAddr,
    pub asked: Arc<Names>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

/// The names a fake upstream was asked.
#[derive(Default, Debug)]
pub struct Names(std::sync::Mutex<Vec<String>>);

impl Names {
    pub fn push(&self, n: String) {
        self.0.lock().expect("lock").push(n);
    }
    pub fn all(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }
}

pub static UPSTREAM_TCP_QUERIES: AtomicUsize = AtomicUsize::new(0);

fn upstream_answer(req: &Message, over_udp: bool) -> Message {
    let mut m = Message::new();
    m.set_id(req.id())
        .set_message_type(MessageType::Response)
        .set_recursion_desired(req.recursion_desired())
        .set_recursion_available(true)
        .set_response_code(ResponseCode::NoError);
    m.add_queries(req.queries().iter().cloned());
    let Some(q) = req.queries().first() else {
        return m;
    };
    if q.query_type() != RecordType::A {
        return m;
    }
    let name = q.name().to_ascii().to_ascii_lowercase();
    if name == "big.test." {
        if over_udp {
            m.set_truncated(true);
            return m;
        }
        for i in 0..40u8 {
            m.add_answer(Record::from_rdata(
                q.name().clone(),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, i))),
            ));
        }
        return m;
    }
    if name == "nxdomain.test." {
        m.set_response_code(ResponseCode::NXDomain);
        return m;
    }
    m.add_answer(Record::from_rdata(
        q.name().clone(),
        60,
        RData::A(A(Ipv4Addr::new(192, 0, 2, 53))),
    ));
    m
}

impl FakeUpstream {
    pub async fn start() -> FakeUpstream {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = udp.local_addr().expect("addr");
        let tcp = TcpListener::bind(addr).await.expect("bind tcp");
        let asked = Arc::new(Names::default());
        let a1 = asked.clone();
        let udp_task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65535];
            loop {
                let Ok((n, peer)) = udp.recv_from(&mut buf).await else {
                    continue;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(q) = req.queries().first() {
                    a1.push(q.name().to_ascii());
                }
                let out = upstream_answer(&req, true).to_vec().expect("encode");
                let _ = udp.send_to(&out, peer).await;
            }
        });
        let tcp_task = tokio::spawn(async move {
            loop {
                let Ok((mut s, _)) = tcp.accept().await else {
                    continue;
                };
                tokio::spawn(async move {
                    let mut len = [0u8; 2];
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
                    if s.read_exact(&mut buf).await.is_err() {
                        return;
                    }
                    let Ok(req) = Message::from_vec(&buf) else {
                        return;
                    };
                    UPSTREAM_TCP_QUERIES.fetch_add(1, Ordering::SeqCst);
                    let out = upstream_answer(&req, false).to_vec().expect("encode");
                    let _ = s.write_all(&(out.len() as u16).to_be_bytes()).await;
                    let _ = s.write_all(&out).await;
                });
            }
        });
        FakeUpstream {
            addr,
            asked,
            tasks: vec![udp_task, tcp_task],
        }
    }
}

impl Drop for FakeUpstream {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
