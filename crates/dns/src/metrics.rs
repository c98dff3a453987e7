//! [`Metrics`]: counters under CoreDNS's names, so dashboards made for
//! CoreDNS read them: `coredns_dns_requests_total{server,zone,proto,family,type}`,
//! `coredns_dns_responses_total{server,zone,rcode}` and
//! `coredns_forward_requests_total` / `coredns_forward_responses_total`
//! (failures under `rcode="SERVFAIL"`). Plain atomics on the query path;
//! [`Metrics::serve`] answers `GET /metrics` in Prometheus's text format.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The transport a query came over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

/// The query types counted by name (others count as `other`, as
/// CoreDNS does).
const TYPES: [(RecordType, &str); 9] = [
    (RecordType::A, "A"),
    (RecordType::AAAA, "AAAA"),
    (RecordType::SRV, "SRV"),
    (RecordType::PTR, "PTR"),
    (RecordType::TXT, "TXT"),
    (RecordType::CNAME, "CNAME"),
    (RecordType::SOA, "SOA"),
    (RecordType::NS, "NS"),
    (RecordType::MX, "MX"),
];
const RCODES: [&str; 6] = [
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
];

/// The counters of one server.
#[derive(Debug)]
pub struct Metrics {
    server: String,
    /// [proto][type index, or TYPES.len() for other]
    requests: [[AtomicU64; TYPES.len() + 1]; 2],
    responses: [AtomicU64; RCODES.len() + 1],
    forward_ok: AtomicU64,
    forward_failed: AtomicU64,
}

impl Metrics {
    /// Counters of the server at `addr` (`server="dns://addr"`).
    pub fn new(addr: SocketAddr) -> Metrics {
        Metrics {
            server: format!("dns://{addr}"),
            requests: Default::default(),
            responses: Default::default(),
            forward_ok: AtomicU64::new(0),
            forward_failed: AtomicU64::new(0),
        }
    }

    pub fn request(&self, proto: Proto, qtype: RecordType) {
        let p = match proto {
            Proto::Udp => 0,
            Proto::Tcp => 1,
        };
        let t = TYPES
            .iter()
            .position(|(t, _)| *t == qtype)
            .unwrap_or(TYPES.len());
        self.requests[p][t].fetch_add(1, Ordering::Relaxed);
    }

    pub fn response(&self, code: ResponseCode) {
        let i = match code {
            ResponseCode::NoError => 0,
            ResponseCode::FormErr => 1,
            ResponseCode::ServFail => 2,
            ResponseCode::NXDomain => 3,
            ResponseCode::NotImp => 4,
            ResponseCode::Refused => 5,
            _ => RCODES.len(),
        };
        self.responses[i].fetch_add(1, Ordering::Relaxed);
    }

    pub fn forwarded(&self, ok: bool) {
        let c = if ok {
            &self.forward_ok
        } else {
            &self.forward_failed
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests counted so far (all types, both transports).
    pub fn requests_total(&self) -> u64 {
        self.requests
            .iter()
            .flatten()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let s = &self.server;
        out.push_str("# HELP coredns_dns_requests_total Counter of DNS requests made per zone, protocol and family.\n# TYPE coredns_dns_requests_total counter\n");
        for (p, proto) in ["udp", "tcp"].iter().enumerate() {
            for (t, count) in self.requests[p].iter().enumerate() {
                let name = TYPES.get(t).map(|(_, n)| *n).unwrap_or("other");
                let _ = writeln!(
                    out,
                    "coredns_dns_requests_total{{server=\"{s}\",zone=\".\",proto=\"{proto}\",family=\"1\",type=\"{name}\"}} {}",
                    count.load(Ordering::Relaxed)
                );
            }
        }
        out.push_str("# HELP coredns_dns_responses_total Counter of response status codes.\n# TYPE coredns_dns_responses_total counter\n");
        for (i, count) in self.responses.iter().enumerate() {
            let rcode = RCODES.get(i).copied().unwrap_or("other");
            let _ = writeln!(
                out,
                "coredns_dns_responses_total{{server=\"{s}\",zone=\".\",rcode=\"{rcode}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let ok = self.forward_ok.load(Ordering::Relaxed);
        let failed = self.forward_failed.load(Ordering::Relaxed);
        out.push_str("# HELP coredns_forward_requests_total Counter of requests made per upstream.\n# TYPE coredns_forward_requests_total counter\n");
        let _ = writeln!(out, "coredns_forward_requests_total {}", ok + failed);
        out.push_str("# HELP coredns_forward_responses_total Counter of responses received per upstream.\n# TYPE coredns_forward_responses_total counter\n");
        let _ = writeln!(
            out,
            "coredns_forward_responses_total{{rcode=\"SERVFAIL\"}} {failed}"
        );
        out
    }

    /// Answer `GET /metrics` (any path) on `listener` until dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            let metrics = self.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf))
                        .await;
                let body = metrics.render();
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(body.as_bytes()).await;
            });
        }
    }
}
