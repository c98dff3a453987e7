//! A real hyper server on 127.0.0.1 that negotiates, upgrades and hands
//! the connection to a test's session handler; handlers report when they
//! end, so tests can check that nothing is left running.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rkube_stream::{negotiate, SessionKind, Upgrade};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub type Io = TokioIo<Upgraded>;
pub type Query = HashMap<String, String>;
pub type Handler = Arc<dyn Fn(Upgrade, Io, Query) -> BoxFuture<'static, String> + Send + Sync>;

pub struct Server {
    pub addr: SocketAddr,
    /// What each finished handler reported.
    pub done: mpsc::UnboundedReceiver<String>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    pub async fn connect(&self) -> TcpStream {
        TcpStream::connect(self.addr).await.unwrap()
    }

    /// The next handler's report, failing the test after 10 s.
    pub async fn finished(&mut self) -> String {
        tokio::time::timeout(Duration::from_secs(10), self.done.recv())
            .await
            .expect("the session handler did not end")
            .expect("server gone")
    }
}

pub fn query(q: Option<&str>) -> Query {
    q.unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub async fn serve(kind: SessionKind, handler: Handler) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, done) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let (handler, tx) = (handler.clone(), tx.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
                    let (handler, tx) = (handler.clone(), tx.clone());
                    async move {
                        let upgrade = match negotiate(kind, req.headers()) {
                            Ok(u) => u,
                            Err(r) => {
                                let mut resp =
                                    Response::new(Full::new(Bytes::from(r.status_json())));
                                *resp.status_mut() = r.code;
                                return Ok::<_, Infallible>(resp);
                            }
                        };
                        let q = query(req.uri().query());
                        let on = hyper::upgrade::on(&mut req);
                        let mut resp = Response::new(Full::new(Bytes::new()));
                        *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                        *resp.headers_mut() = upgrade.response_headers.clone();
                        tokio::spawn(async move {
                            let Ok(upgraded) = on.await else { return };
                            let report = handler(upgrade, TokioIo::new(upgraded), q).await;
                            let _ = tx.send(report);
                        });
                        Ok(resp)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    Server { addr, done, task }
}
