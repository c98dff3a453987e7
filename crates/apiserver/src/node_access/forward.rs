//! Forwarding one client request to an HTTP(S) endpoint (a node's API, a
//! pod's port) and its answer back, as kube-apiserver's upgrade-aware
//! proxy does:
//!
//! - a plain request goes on with its method, headers (less the
//!   hop-by-hop ones) and body, streamed both ways: nothing is buffered,
//!   so `kubectl logs -f` follows and a large upload does not sit in
//!   memory;
//! - an upgrade (`Connection: Upgrade` with `Upgrade: websocket` or
//!   `SPDY/3.1`, HTTP/1.1 only) goes on with every header; when the
//!   endpoint answers 101 the client gets 101 with the endpoint's headers,
//!   and bytes are copied both ways until either side closes. Any other
//!   answer is passed back as it is.
//!
//! An HTTP/2 request cannot ask for an upgrade (HTTP/2 has no
//! `Connection` header): it is forwarded as a plain request, and the
//! kubelet answers it as it answers a plain request to an upgrade path,
//! as with kube-apiserver.
//!
//! One connection per request: upgraded connections need their own, and
//! the requests that come here (logs, exec, proxy) are few and long.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{StatusCode, Version};
use axum::response::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_util::either::Either;
use tracing::debug;

/// How long connecting (TCP and TLS) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a request goes.
pub struct Upstream<'a> {
    /// An IP address or a name.
    pub host: &'a str,
    pub port: u16,
    /// `None`: plain HTTP.
    pub tls: Option<Arc<ClientConfig>>,
    /// The request target on the endpoint (`/containerLogs/ns/p/c?follow=true`).
    pub path_and_query: &'a str,
}

/// What can go wrong reaching the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// The TCP connection failed.
    #[error("dial tcp {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// Connecting took longer than [`CONNECT_TIMEOUT`].
    #[error("dial tcp {address}: i/o timeout")]
    ConnectTimeout { address: String },
    /// The TLS handshake failed.
    #[error("tls handshake with {address}: {source}")]
    Tls {
        address: String,
        #[source]
        source: std::io::Error,
    },
    /// The endpoint's name is not a valid TLS server name.
    #[error("{0} is not a valid server name")]
    ServerName(String),
    /// The request target is not a valid URI.
    #[error("invalid request target {0:?}")]
    Target(String),
    /// HTTP failed (the handshake, sending, or reading the answer's head).
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built.
    #[error("{0}")]
    Request(#[from] axum::http::Error),
    /// The client asked for an upgrade on a connection that cannot be
    /// upgraded (an in-process client).
    #[error("the connection cannot be upgraded")]
    NotUpgradable,
}

/// Headers that concern one connection only (RFC 9110 §7.6.1, and the
/// ones Go's reverse proxy drops).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether the request asks to switch protocols (`Connection: Upgrade`
/// and an `Upgrade` header).
pub fn is_upgrade(headers: &HeaderMap) -> bool {
    let connection_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    connection_upgrade && headers.contains_key(header::UPGRADE)
}

/// `headers` less the hop-by-hop ones and those `Connection` names.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_ascii_lowercase())
        .collect();
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let n = name.as_str();
        if HOP_BY_HOP.contains(&n) || named.iter().any(|c| c == n) {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    out
}

fn authority(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

type Stream = Either<tokio_rustls::client::TlsStream<TcpStream>, TcpStream>;

async fn connect(upstream: &Upstream<'_>) -> Result<Stream, ForwardError> {
    let address = authority(upstream.host, upstream.port);
    let tcp = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((upstream.host, upstream.port)),
    )
    .await
    .map_err(|_| ForwardError::ConnectTimeout {
        address: address.clone(),
    })?
    .map_err(|source| ForwardError::Connect {
        address: address.clone(),
        source,
    })?;
    let _ = tcp.set_nodelay(true);
    let Some(tls) = &upstream.tls else {
        return Ok(Either::Right(tcp));
    };
    let name = ServerName::try_from(upstream.host.to_string())
        .map_err(|_| ForwardError::ServerName(upstream.host.to_string()))?;
    let handshake = TlsConnector::from(tls.clone()).connect(name, tcp);
    let stream = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
        .await
        .map_err(|_| ForwardError::ConnectTimeout {
            address: address.clone(),
        })?
        .map_err(|source| ForwardError::Tls { address, source })?;
    Ok(Either::Left(stream))
}

/// Send `request` to `upstream` and give back its answer (see the module
/// documentation).
pub async fn forward(upstream: Upstream<'_>, request: Request) -> Result<Response, ForwardError> {
    let (mut parts, body) = request.into_parts();
    let upgrade = parts.version == Version::HTTP_11 && is_upgrade(&parts.headers);
    let client_upgrade = if upgrade {
        Some(
            parts
                .extensions
                .remove::<OnUpgrade>()
                .ok_or(ForwardError::NotUpgradable)?,
        )
    } else {
        None
    };
    let uri: axum::http::Uri = upstream
        .path_and_query
        .parse()
        .map_err(|_| ForwardError::Target(upstream.path_and_query.to_string()))?;
    let mut headers = if upgrade {
        parts.headers.clone()
    } else {
        end_to_end(&parts.headers)
    };
    let host = HeaderValue::from_str(&authority(upstream.host, upstream.port))
        .map_err(|_| ForwardError::Target(upstream.host.to_string()))?;
    headers.insert(header::HOST, host);

    let stream = connect(&upstream).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let address = authority(upstream.host, upstream.port);
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            debug!(upstream = %address, error = %e, "forwarded connection ended with an error");
        }
    });

    let mut outgoing = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .version(Version::HTTP_11)
        .body(if upgrade { Body::empty() } else { body })?;
    *outgoing.headers_mut() = headers;
    let mut answer = sender.send_request(outgoing).await?;

    if let (StatusCode::SWITCHING_PROTOCOLS, Some(client)) = (answer.status(), client_upgrade) {
        let node = hyper::upgrade::on(&mut answer);
        let mut reply = Response::new(Body::empty());
        *reply.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        *reply.headers_mut() = answer.headers().clone();
        tokio::spawn(splice(client, node));
        return Ok(reply);
    }
    let (mut head, incoming) = answer.into_parts();
    head.headers = end_to_end(&head.headers);
    // The answer's own length header stays: the body is passed on whole.
    head.headers.remove(HeaderName::from_static("keep-alive"));
    Ok(Response::from_parts(head, Body::new(incoming)))
}

/// Copy bytes both ways between the upgraded client and endpoint
/// connections until either side closes.
async fn splice(client: OnUpgrade, node: OnUpgrade) {
    let (client, node) = match tokio::try_join!(client, node) {
        Ok(both) => both,
        Err(e) => {
            debug!(error = %e, "an upgraded connection failed before it was spliced");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut node = TokioIo::new(node);
    match tokio::io::copy_bidirectional(&mut client, &mut node).await {
        Ok((up, down)) => debug!(up, down, "upgraded connection closed"),
        Err(e) => debug!(error = %e, "upgraded connection ended with an error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrades_and_hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            "x-stream-protocol-version",
            HeaderValue::from_static("v5.channel.k8s.io"),
        );
        assert!(is_upgrade(&h));
        let kept = end_to_end(&h);
        assert!(kept.get(header::UPGRADE).is_none());
        assert!(kept.get(header::CONNECTION).is_none());
        assert!(kept.get("x-stream-protocol-version").is_some());

        let mut plain = HeaderMap::new();
        plain.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, x-private"),
        );
        plain.insert("x-private", HeaderValue::from_static("1"));
        plain.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
        assert!(!is_upgrade(&plain));
        let kept = end_to_end(&plain);
        assert!(kept.get("x-private").is_none());
        assert!(kept.get(header::ACCEPT).is_some());
        assert_eq!(authority("fd00::1", 10250), "[fd00::1]:10250");
    }
}
