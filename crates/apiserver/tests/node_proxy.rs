//! The connect subresources against a fake node: a local HTTPS server on
//! 127.0.0.1 standing in for a node's API (it records what it was asked,
//! answers a log in pieces, answers an upgrade with 101 and echoes bytes),
//! a plain HTTP server standing in for a pod's port, and a simulated node
//! whose "address" is a listener that counts connections (there must be
//! none).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rkube_apimachinery::Registry;
use rkube_apiserver::pki::{Pki, PkiPaths};
use rkube_apiserver::resources::{self, ApiState};
use rkube_store::backend::MemDir;
use rkube_store::embedded::{CompactionPolicy, EmbeddedOptions, EmbeddedStore};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the fake node saw: (path and query, client certificate shown).
type Seen = Arc<Mutex<Vec<(String, bool)>>>;

struct FakeNode {
    addr: SocketAddr,
    seen: Seen,
    /// Lets the log answer go on after its first line.
    more: Arc<Notify>,
}

/// A node's API on 127.0.0.1: TLS with a self-signed certificate,
/// client certificates checked against the cluster CA (optional).
async fn fake_node(pki: &Pki) -> FakeNode {
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).expect("cert");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(pki.roots().expect("roots")),
        provider.clone(),
    )
    .allow_unauthenticated()
    .build()
    .expect("verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![CertificateDer::from(cert.cert.der().to_vec())], key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen: Seen = Arc::default();
    let more = Arc::new(Notify::new());
    let (seen2, more2) = (seen.clone(), more.clone());
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let Ok(tls) = acceptor.accept(tcp).await else {
                continue;
            };
            let shown = tls.get_ref().1.peer_certificates().is_some();
            let (seen, more) = (seen2.clone(), more2.clone());
            let service = service_fn(move |mut req: hyper::Request<Incoming>| {
                let target = req
                    .uri()
                    .path_and_query()
                    .map(|p| p.to_string())
                    .unwrap_or_default();
                seen.lock().expect("lock").push((target.clone(), shown));
                let more = more.clone();
                async move {
                    let upgrade = req.headers().contains_key(hyper::header::UPGRADE);
                    if target.starts_with("/exec/") && upgrade {
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            let Ok(up) = on.await else { return };
                            let mut io = TokioIo::new(up);
                            let mut buf = [0u8; 1024];
                            while let Ok(n) = io.read(&mut buf).await {
                                if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        });
                        return Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(101)
                                .header("connection", "Upgrade")
                                .header("upgrade", "SPDY/3.1")
                                .header("x-stream-protocol-version", "v4.channel.k8s.io")
                                .body(Body::empty())
                                .expect("101"),
                        );
                    }
                    if target.starts_with("/containerLogs/") {
                        let stream = async_stream_lines(more);
                        return Ok(hyper::Response::new(Body::from_stream(stream)));
                    }
                    Ok(hyper::Response::builder()
                        .status(400)
                        .body(Body::from("Upgrade request required"))
                        .expect("400"))
                }
            });
            tokio::spawn(async move {
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    FakeNode { addr, seen, more }
}

/// `line 1`, then (once told) `line 2`.
fn async_stream_lines(
    more: Arc<Notify>,
) -> impl futures::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    futures::stream::unfold(0, move |n| {
        let more = more.clone();
        async move {
            match n {
                0 => Some((Ok(Bytes::from_static(b"line 1\n")), 1)),
                1 => {
                    more.notified().await;
                    Some((Ok(Bytes::from_static(b"line 2\n")), 2))
                }
                _ => None,
            }
        }
    })
}

/// A pod's port: plain HTTP answering with the request target.
async fn fake_pod() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|uri: axum::http::Uri| async move {
        format!(
            "pod saw {}",
            uri.path_and_query().map(|p| p.as_str()).unwrap_or("")
        )
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

/// A listener that only counts connections (the simulated node's
/// "address": nothing may connect to it).
async fn counting_listener() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            c.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, count)
}

struct Api {
    addr: SocketAddr,
    _dir: tempfile::TempDir,
    node: FakeNode,
    pod: SocketAddr,
    sim_connections: Arc<AtomicUsize>,
}

async fn request(
    api: &Api,
    method: &str,
    path: &str,
    content_type: &str,
    body: Value,
) -> (u16, hyper::Response<Incoming>) {
    let tcp = TcpStream::connect(api.addr).await.expect("connect");
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .expect("handshake");
    tokio::spawn(conn);
    let body = if body.is_null() {
        Body::empty()
    } else {
        Body::from(body.to_string())
    };
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", "api")
        .header("content-type", content_type)
        .body(body)
        .expect("request");
    let resp = send.send_request(req).await.expect("send");
    (resp.status().as_u16(), resp)
}

async fn call(api: &Api, method: &str, path: &str, body: Value) -> (u16, String) {
    call_as(api, method, path, "application/json", body).await
}

async fn call_as(api: &Api, method: &str, path: &str, ct: &str, body: Value) -> (u16, String) {
    let (code, resp) = request(api, method, path, ct, body).await;
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (code, String::from_utf8_lossy(&bytes).into_owned())
}

fn node(name: &str, simulated: bool) -> Value {
    let mut n = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}});
    if simulated {
        n["metadata"]["annotations"] = json!({"rkube.io/sim": "true"});
    }
    n
}

fn node_status(addr: SocketAddr) -> Value {
    json!({"status": {"addresses": [{"type": "InternalIP", "address": addr.ip().to_string()}],
                      "daemonEndpoints": {"kubeletEndpoint": {"Port": addr.port()}}}})
}

fn pod(name: &str, node: &str, containers: &[&str]) -> Value {
    let containers: Vec<Value> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox"}))
        .collect();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
           "spec": {"nodeName": node, "containers": containers}})
}

async fn start() -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::load_or_create(PkiPaths::new(dir.path().join("pki")), &[]).expect("pki");
    let mut opts = EmbeddedOptions::new("unused");
    opts.compaction = CompactionPolicy::Manual;
    let store = EmbeddedStore::open_on(Arc::new(MemDir::new()), opts).expect("store");
    let state = Arc::new(ApiState::new(
        Arc::new(store),
        Arc::new(Registry::builtin()),
    ));
    state.nodes.set_client_identity(pki.admin.clone());
    resources::ensure_namespaces(state.store.as_ref(), &state.registry())
        .await
        .expect("namespaces");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = resources::router(state);
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let (sim_addr, sim_connections) = counting_listener().await;
    let api = Api {
        addr,
        node: fake_node(&pki).await,
        pod: fake_pod().await,
        sim_connections,
        _dir: dir,
    };
    let merge = "application/merge-patch+json";
    for (name, addr, sim) in [("real", api.node.addr, false), ("sim", sim_addr, true)] {
        let (code, body) = call(&api, "POST", "/api/v1/nodes", node(name, sim)).await;
        assert_eq!(code, 201, "{body}");
        let path = format!("/api/v1/nodes/{name}/status");
        let (code, body) = call_as(&api, "PATCH", &path, merge, node_status(addr)).await;
        assert_eq!(code, 200, "{body}");
    }
    for p in [
        pod("one", "real", &["app"]),
        pod("two", "real", &["a", "b"]),
        pod("simpod", "sim", &["app"]),
        pod("pending", "", &["app"]),
    ] {
        let (code, body) = call(&api, "POST", "/api/v1/namespaces/default/pods", p).await;
        assert_eq!(code, 201, "{body}");
    }
    for (name, ip) in [("one", "127.0.0.1"), ("simpod", "127.0.0.1")] {
        let path = format!("/api/v1/namespaces/default/pods/{name}/status");
        let status = json!({"status": {"podIP": ip, "phase": "Running"}});
        let (code, body) = call_as(&api, "PATCH", &path, merge, status).await;
        assert_eq!(code, 200, "{body}");
    }
    api
}

fn seen(api: &Api) -> Vec<(String, bool)> {
    api.node.seen.lock().expect("lock").clone()
}

#[tokio::test]
async fn logs_stream_from_the_node_as_it_writes() {
    let api = start().await;
    let path = "/api/v1/namespaces/default/pods/one/log?follow=true&tailLines=5";
    let (code, resp) = request(&api, "GET", path, "", Value::Null).await;
    assert_eq!(code, 200);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(Duration::from_secs(10), body.frame())
        .await
        .expect("the first line arrives before the node ends its answer")
        .expect("frame")
        .expect("ok");
    assert_eq!(
        first.into_data().expect("data"),
        Bytes::from_static(b"line 1\n")
    );
    api.node.more.notify_one();
    let rest = body.collect().await.expect("rest").to_bytes();
    assert_eq!(rest, Bytes::from_static(b"line 2\n"));
    assert_eq!(
        seen(&api),
        [(
            "/containerLogs/default/one/app?follow=true&tailLines=5".to_string(),
            true
        )],
        "the node gets the kubelet's path and the API server's client certificate"
    );
}

#[tokio::test]
async fn exec_upgrades_are_spliced_to_the_node() {
    let api = start().await;
    let mut tcp = TcpStream::connect(api.addr).await.expect("connect");
    let head = "POST /api/v1/namespaces/default/pods/two/exec?container=b&command=cat&command=-n&stdin=true&stdout=true HTTP/1.1\r\n\
                Host: api\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\
                X-Stream-Protocol-Version: v4.channel.k8s.io\r\nContent-Length: 0\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tcp.read(&mut buf).await.expect("read");
        assert!(
            n > 0,
            "closed before the answer: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&got).to_ascii_lowercase();
    assert!(answer.starts_with("http/1.1 101"), "{answer}");
    assert!(
        answer.contains("x-stream-protocol-version: v4.channel.k8s.io"),
        "{answer}"
    );
    tcp.write_all(b"hello node").await.expect("write");
    let mut echo = [0u8; 10];
    tokio::time::timeout(Duration::from_secs(10), tcp.read_exact(&mut echo))
        .await
        .expect("echo in time")
        .expect("echo");
    assert_eq!(&echo, b"hello node");
    assert_eq!(
        seen(&api),
        [(
            "/exec/default/two/b?stdin=1&stdout=1&command=cat&command=-n".to_string(),
            true
        )]
    );
}

#[tokio::test]
async fn a_plain_request_to_exec_gets_the_nodes_answer() {
    let api = start().await;
    let path = "/api/v1/namespaces/default/pods/one/exec?command=ls&stdout=true";
    let (code, body) = call(&api, "GET", path, Value::Null).await;
    assert_eq!((code, body.as_str()), (400, "Upgrade request required"));
}

#[tokio::test]
async fn bad_requests_never_reach_the_node() {
    let api = start().await;
    let cases = [
        (
            "/api/v1/namespaces/default/pods/two/log",
            400,
            "a container name must be specified for pod two, choose one of: [a b]",
        ),
        (
            "/api/v1/namespaces/default/pods/two/log?container=x",
            400,
            "container x is not valid for pod two",
        ),
        (
            "/api/v1/namespaces/default/pods/one/log?tailLines=-1",
            422,
            "tailLines",
        ),
        (
            "/api/v1/namespaces/default/pods/one/log?limitBytes=0",
            422,
            "limitBytes",
        ),
        (
            "/api/v1/namespaces/default/pods/two/exec?command=ls",
            400,
            "a container name must be specified for pod two",
        ),
        (
            "/api/v1/namespaces/default/pods/pending/exec?command=ls",
            400,
            "pod pending does not have a host assigned",
        ),
        (
            "/api/v1/namespaces/default/pods/missing/log",
            404,
            "not found",
        ),
    ];
    for (path, want, message) in cases {
        let (code, body) = call(&api, "GET", path, Value::Null).await;
        assert_eq!(code, want, "{path}: {body}");
        assert!(body.contains(message), "{path}: {body}");
    }
    // A pod not yet on a node has an empty log, as with kube-apiserver.
    let (code, body) = call(
        &api,
        "GET",
        "/api/v1/namespaces/default/pods/pending/log",
        Value::Null,
    )
    .await;
    assert_eq!((code, body.as_str()), (200, ""));
    assert!(seen(&api).is_empty(), "{:?}", seen(&api));
}

#[tokio::test]
async fn simulated_nodes_answer_without_a_connection() {
    let api = start().await;
    let base = "/api/v1/namespaces/default/pods/simpod";
    let (code, body) = call(
        &api,
        "GET",
        &format!("{base}/log?timestamps=true"),
        Value::Null,
    )
    .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body.contains("container app of pod default/simpod"),
        "{body}"
    );
    assert!(
        body.lines().all(|l| l.contains('T') && l.contains("Z ")),
        "{body}"
    );
    let (code, body) = call(&api, "GET", &format!("{base}/log?tailLines=1"), Value::Null).await;
    assert_eq!((code, body.lines().count()), (200, 1), "{body}");
    for sub in [
        "exec?command=ls&stdout=true",
        "attach?stdout=true",
        "portforward?ports=80",
    ] {
        for method in ["GET", "POST"] {
            let (code, body) = call(&api, method, &format!("{base}/{sub}"), Value::Null).await;
            assert_eq!(code, 400, "{method} {sub}: {body}");
            assert!(body.contains("simulated"), "{sub}: {body}");
        }
    }
    let (code, body) = call(&api, "GET", &format!("{base}:80/proxy/"), Value::Null).await;
    assert_eq!(code, 400, "{body}");
    let (code, body) = call(&api, "GET", "/api/v1/nodes/sim/proxy/metrics", Value::Null).await;
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("simulated"), "{body}");
    assert_eq!(api.sim_connections.load(Ordering::SeqCst), 0);
    assert!(seen(&api).is_empty());
}

#[tokio::test]
async fn proxies_reach_pods_services_and_nodes() {
    let api = start().await;
    let port = api.pod.port();
    let path = format!("/api/v1/namespaces/default/pods/one:{port}/proxy/a/b?x=1");
    let (code, body) = call(&api, "GET", &path, Value::Null).await;
    assert_eq!((code, body.as_str()), (200, "pod saw /a/b?x=1"));

    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                     "spec": {"ports": [{"name": "http", "port": 80}]}});
    let (code, body) = call(&api, "POST", "/api/v1/namespaces/default/services", svc).await;
    assert_eq!(code, 201, "{body}");
    let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "web-1", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["127.0.0.1"], "nodeName": "real",
                       "conditions": {"ready": true}}]});
    let (code, body) = call(
        &api,
        "POST",
        "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
        slice,
    )
    .await;
    assert_eq!(code, 201, "{body}");
    let (code, body) = call(
        &api,
        "GET",
        "/api/v1/namespaces/default/services/web:http/proxy/",
        Value::Null,
    )
    .await;
    assert_eq!((code, body.as_str()), (200, "pod saw /"));

    let (code, _) = call(&api, "GET", "/api/v1/nodes/real/proxy/healthz", Value::Null).await;
    assert_eq!(
        code, 400,
        "the fake node answers 400 to what it does not know"
    );
    assert_eq!(seen(&api), [("/healthz".to_string(), true)]);
}

#[tokio::test]
async fn discovery_lists_the_subresources() {
    let api = start().await;
    let (code, body) = call(&api, "GET", "/api/v1", Value::Null).await;
    assert_eq!(code, 200);
    let list: Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = list["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .collect();
    for sub in [
        "pods/log",
        "pods/exec",
        "pods/attach",
        "pods/portforward",
        "pods/proxy",
        "pods/ephemeralcontainers",
        "services/proxy",
        "nodes/proxy",
    ] {
        assert!(names.contains(&sub), "{sub} in {names:?}");
    }
}

#[tokio::test]
async fn ephemeral_containers_can_be_added_but_not_changed() {
    let api = start().await;
    let path = "/api/v1/namespaces/default/pods/one/ephemeralcontainers";
    let smp = "application/strategic-merge-patch+json";
    let add = json!({"spec": {"ephemeralContainers": [
        {"name": "debugger", "image": "busybox", "targetContainerName": "app", "stdin": true, "tty": true}]}});
    let (code, body) = call_as(&api, "PATCH", path, smp, add).await;
    assert_eq!(code, 200, "{body}");
    let (code, body) = call(
        &api,
        "GET",
        "/api/v1/namespaces/default/pods/one",
        Value::Null,
    )
    .await;
    assert_eq!(code, 200);
    let pod: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(pod["spec"]["ephemeralContainers"][0]["name"], "debugger");
    assert_eq!(
        pod["spec"]["ephemeralContainers"][0]["targetContainerName"],
        "app"
    );

    let change =
        json!({"spec": {"ephemeralContainers": [{"name": "debugger", "image": "alpine"}]}});
    let (code, body) = call_as(&api, "PATCH", path, smp, change).await;
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("may not be changed"), "{body}");
    let ports = json!({"spec": {"ephemeralContainers": [
        {"name": "x", "image": "busybox", "ports": [{"containerPort": 80}]}]}});
    let (code, body) = call_as(&api, "PATCH", path, smp, ports).await;
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("cannot be set for an Ephemeral Container"),
        "{body}"
    );
    let dup = json!({"spec": {"ephemeralContainers": [{"name": "app", "image": "busybox"}]}});
    let (code, body) = call_as(&api, "PATCH", path, smp, dup).await;
    assert_eq!(code, 422, "{body}");
    // Through PUT, other changes are ignored.
    let mut whole = pod.clone();
    whole["metadata"]["labels"] = json!({"ignored": "yes"});
    whole["spec"]["ephemeralContainers"]
        .as_array_mut()
        .expect("list")
        .push(json!({"name": "second", "image": "busybox"}));
    let (code, body) = call(&api, "PUT", path, whole).await;
    assert_eq!(code, 200, "{body}");
    let after: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(after["spec"]["ephemeralContainers"][1]["name"], "second");
    assert!(after["metadata"]["labels"]["ignored"].is_null(), "{body}");
}
