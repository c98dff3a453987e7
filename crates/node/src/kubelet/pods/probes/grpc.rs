//! The grpc probe: one `grpc.health.v1.Health/Check` call over plaintext
//! HTTP/2 (hyper), its protobuf request and response encoded by hand (a
//! string field and an enum field). SERVING is a success; anything else,
//! or an error, a failure with the kubelet's message.

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

/// `HealthCheckResponse.ServingStatus` names.
fn status_name(code: u64) -> &'static str {
    match code {
        0 => "UNKNOWN",
        1 => "SERVING",
        2 => "NOT_SERVING",
        3 => "SERVICE_UNKNOWN",
        _ => "UNKNOWN",
    }
}

/// The gRPC message for `HealthCheckRequest{service}`: the 5-byte frame
/// header (not compressed, length) and field 1 as a string.
pub fn encode_request(service: &str) -> Bytes {
    let mut msg = BytesMut::new();
    if !service.is_empty() {
        msg.put_u8(0x0a);
        put_varint(&mut msg, service.len() as u64);
        msg.put_slice(service.as_bytes());
    }
    let mut out = BytesMut::with_capacity(5 + msg.len());
    out.put_u8(0);
    out.put_u32(msg.len() as u32);
    out.put_slice(&msg);
    out.freeze()
}

fn put_varint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

fn read_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*pos)?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The serving status in a gRPC-framed `HealthCheckResponse` (0, UNKNOWN,
/// when the field is absent).
pub fn decode_response(body: &[u8]) -> Option<u64> {
    let len = u32::from_be_bytes(body.get(1..5)?.try_into().ok()?) as usize;
    let msg = body.get(5..5 + len)?;
    let mut pos = 0;
    let mut status = 0;
    while pos < msg.len() {
        let key = read_varint(msg, &mut pos)?;
        match key & 7 {
            0 => {
                let v = read_varint(msg, &mut pos)?;
                if key >> 3 == 1 {
                    status = v;
                }
            }
            2 => {
                let l = read_varint(msg, &mut pos)? as usize;
                pos += l;
            }
            1 => pos += 8,
            5 => pos += 4,
            _ => return None,
        }
    }
    Some(status)
}

/// Check `service` at `host:port`.
pub async fn check(host: &str, port: u16, service: &str, timeout: Duration) -> Result<(), String> {
    let addr = format!("{host}:{port}");
    match tokio::time::timeout(timeout, call(&addr, service)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "timeout: health rpc did not complete within {}s",
            timeout.as_secs_f64()
        )),
    }
}

async fn call(addr: &str, service: &str) -> Result<(), String> {
    let tcp = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("failed to connect service {addr:?}: {e}"))?;
    let (mut sender, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
            .await
            .map_err(|e| format!("failed to connect service {addr:?}: {e}"))?;
    let conn = tokio::spawn(conn);
    let req = http::Request::post(format!("http://{addr}/grpc.health.v1.Health/Check"))
        .header(http::header::CONTENT_TYPE, "application/grpc")
        .header("te", "trailers")
        .header(http::header::USER_AGENT, "kube-probe/1.37")
        .body(Full::new(encode_request(service)))
        .map_err(|e| e.to_string())?;
    let result = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("health rpc failed: {e}"))?;
        let headers_status = grpc_status(resp.headers());
        let collected = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("health rpc failed: {e}"))?;
        let trailers_status = collected.trailers().and_then(grpc_status);
        let code = trailers_status.or(headers_status).unwrap_or(0);
        if code != 0 {
            return Err(format!("health rpc failed: rpc error: code = {code}"));
        }
        let body = collected.to_bytes();
        let status = decode_response(&body).ok_or("health rpc failed: bad response")?;
        if status == 1 {
            Ok(())
        } else {
            Err(format!(
                "service unhealthy (responded with \"{}\")",
                status_name(status)
            ))
        }
    }
    .await;
    conn.abort();
    result
}

fn grpc_status(headers: &http::HeaderMap) -> Option<u32> {
    headers.get("grpc-status")?.to_str().ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::convert::Infallible;

    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use tokio::net::TcpListener;

    use super::*;

    /// A gRPC health server on loopback answering every check with
    /// `status`, the grpc-status in the trailers.
    async fn health_server(status: u8) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let service = hyper::service::service_fn(
                    move |req: http::Request<hyper::body::Incoming>| async move {
                        assert_eq!(req.uri().path(), "/grpc.health.v1.Health/Check");
                        let mut trailers = http::HeaderMap::new();
                        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                        let frames = vec![
                            Ok::<_, Infallible>(Frame::data(Bytes::from(vec![
                                0, 0, 0, 0, 2, 0x08, status,
                            ]))),
                            Ok(Frame::trailers(trailers)),
                        ];
                        let body = StreamBody::new(futures::stream::iter(frames));
                        Ok::<_, Infallible>(
                            http::Response::builder()
                                .header("content-type", "application/grpc")
                                .body(body)
                                .unwrap(),
                        )
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        port
    }

    #[tokio::test]
    async fn serving_passes_and_not_serving_fails() {
        let ok = health_server(1).await;
        assert_eq!(
            check("127.0.0.1", ok, "", Duration::from_secs(2)).await,
            Ok(())
        );
        let bad = health_server(2).await;
        assert_eq!(
            check("127.0.0.1", bad, "svc", Duration::from_secs(2)).await,
            Err("service unhealthy (responded with \"NOT_SERVING\")".to_string())
        );
        let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = closed.local_addr().unwrap().port();
        drop(closed);
        assert!(check("127.0.0.1", port, "", Duration::from_secs(2))
            .await
            .unwrap_err()
            .starts_with("failed to connect service"));
    }

    #[test]
    fn requests_and_responses_in_protobuf() {
        assert_eq!(&encode_request("")[..], &[0, 0, 0, 0, 0]);
        assert_eq!(
            &encode_request("ab")[..],
            &[0, 0, 0, 0, 4, 0x0a, 2, b'a', b'b']
        );
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 1]), Some(1));
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 2]), Some(2));
        assert_eq!(decode_response(&[0, 0, 0, 0, 0]), Some(0));
        assert_eq!(decode_response(&[0, 0]), None);
    }
}
