//! Health checks of `externalTrafficPolicy: Local` Services, as
//! kube-proxy serves them: one small HTTP server per Service on its
//! `healthCheckNodePort`, answering any path with 200 when this node has
//! ready endpoints of the Service and 503 when it has none, with the body
//! `{"service":{"namespace":…,"name":…},"localEndpoints":N,"serviceProxyHealthy":true}`
//! (and `X-Load-Balancing-Endpoint-Weight: N`). Load balancers use it to
//! send traffic only to nodes that keep it local. The servers stop when
//! [`HealthServers`] is dropped (with the proxy's task).

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::model::ServiceName;
use crate::tracker::HealthCheck;

struct Server {
    port: u16,
    count: watch::Sender<usize>,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The running health check servers.
pub struct HealthServers {
    bind: IpAddr,
    servers: HashMap<ServiceName, Server>,
}

#[derive(Clone)]
struct Shared {
    service: ServiceName,
    count: watch::Receiver<usize>,
}

impl HealthServers {
    /// Servers listening on `bind` (the unspecified address on a node).
    pub fn new(bind: IpAddr) -> HealthServers {
        HealthServers {
            bind,
            servers: HashMap::new(),
        }
    }

    /// Serve exactly `wanted`: start what is new, update counts, stop what
    /// went. A port that cannot be bound is logged and tried again at the
    /// next sync.
    pub async fn sync(&mut self, wanted: &[HealthCheck]) {
        self.servers.retain(|name, s| {
            wanted
                .iter()
                .any(|w| &w.service == name && w.port == s.port)
        });
        for w in wanted {
            if let Some(s) = self.servers.get(&w.service) {
                s.count.send_replace(w.local_endpoints);
                continue;
            }
            let addr = SocketAddr::new(self.bind, w.port);
            let listener = match tokio::net::TcpListener::bind(addr).await {
                Ok(l) => l,
                Err(e) => {
                    warn!(service = %w.service, %addr, error = %e, "cannot serve the Service's health check");
                    continue;
                }
            };
            let (tx, rx) = watch::channel(w.local_endpoints);
            let shared = Shared {
                service: w.service.clone(),
                count: rx,
            };
            let app = Router::new().fallback(answer).with_state(shared);
            let task = tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    warn!(error = %e, "a health check server stopped");
                }
            });
            info!(service = %w.service, %addr, "serving the Service's health check");
            self.servers.insert(
                w.service.clone(),
                Server {
                    port: w.port,
                    count: tx,
                    task,
                },
            );
        }
    }

    /// The ports served now (tests).
    pub fn ports(&self) -> Vec<u16> {
        let mut p: Vec<u16> = self.servers.values().map(|s| s.port).collect();
        p.sort_unstable();
        p
    }
}

async fn answer(State(shared): State<Shared>) -> Response {
    let n = *shared.count.borrow();
    let body = serde_json::json!({
        "service": {"namespace": shared.service.namespace, "name": shared.service.name},
        "localEndpoints": n,
        "serviceProxyHealthy": true,
    })
    .to_string();
    let status = if n > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(
        "X-Content-Type-Options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("X-Load-Balancing-Endpoint-Weight", HeaderValue::from(n));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn get(port: u16) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("connect");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    }

    #[tokio::test]
    async fn answers_200_with_local_endpoints_and_503_without() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            l.local_addr().expect("addr").port()
        };
        let mut servers = HealthServers::new(IpAddr::from([127, 0, 0, 1]));
        let mut hc = HealthCheck {
            service: ServiceName::new("ns", "lb"),
            port,
            local_endpoints: 2,
        };
        servers.sync(std::slice::from_ref(&hc)).await;
        let resp = get(port).await;
        assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
        assert!(
            resp.contains(r#""service":{"name":"lb","namespace":"ns"}"#)
                || resp.contains(r#""service":{"namespace":"ns","name":"lb"}"#),
            "{resp}"
        );
        assert!(resp.contains(r#""localEndpoints":2"#), "{resp}");
        assert!(
            resp.to_lowercase()
                .contains("x-load-balancing-endpoint-weight: 2"),
            "{resp}"
        );
        hc.local_endpoints = 0;
        servers.sync(std::slice::from_ref(&hc)).await;
        let resp = get(port).await;
        assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
        servers.sync(&[]).await;
        assert!(servers.ports().is_empty());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err());
    }
}
