//! One HTTP GET for httpGet probes and hooks, as the kubelet's prober does
//! it: from the host to the pod's IP, `scheme` HTTP or HTTPS (HTTPS without
//! verifying the certificate, as the kubelet), the probe's `httpHeaders`,
//! `User-Agent: kube-probe/<version>`, no redirects followed (a 3xx is a
//! success). A plain hyper HTTP/1.1 client with a timeout.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// Where and what to GET.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    pub https: bool,
    /// An address or a host name.
    pub host: String,
    pub port: u16,
    /// With its query, starting with `/`.
    pub path: String,
    pub headers: Vec<(String, String)>,
}

impl HttpTarget {
    /// `http://10.244.0.5:8080/healthz`, as the kubelet's messages write it.
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]"),
            _ => self.host.clone(),
        };
        format!("{scheme}://{host}:{}{}", self.port, self.path)
    }
}

/// The probe's user agent.
const USER_AGENT: &str = "kube-probe/1.37";

/// GET the target; the status code, or why there is none.
pub async fn get(target: &HttpTarget, timeout: Duration) -> Result<u16, String> {
    let url = target.url();
    match tokio::time::timeout(timeout, get_inner(target)).await {
        Ok(Ok(code)) => Ok(code),
        Ok(Err(e)) => Err(format!("Get \"{url}\": {e}")),
        Err(_) => Err(format!(
            "Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        )),
    }
}

async fn get_inner(target: &HttpTarget) -> Result<u16, String> {
    let addr = format!("{}:{}", target.host, target.port);
    let tcp = TcpStream::connect(&addr)
        .await
        .map_err(|e| format!("dial tcp {addr}: connect: {e}"))?;
    if target.https {
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(NoVerify))
        .with_no_client_auth();
        let name = match target.host.parse::<IpAddr>() {
            Ok(ip) => ServerName::IpAddress(ip.into()),
            Err(_) => ServerName::try_from(target.host.clone()).map_err(|e| e.to_string())?,
        };
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("tls: {e}"))?;
        send(tls, target).await
    } else {
        send(tcp, target).await
    }
}

async fn send<S>(io: S, target: &HttpTarget) -> Result<u16, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| e.to_string())?;
    let conn = tokio::spawn(conn);
    let mut req = http::Request::get(target.path.as_str())
        .header(http::header::USER_AGENT, USER_AGENT)
        .header(http::header::ACCEPT, "*/*");
    let mut has_host = false;
    for (name, value) in &target.headers {
        has_host |= name.eq_ignore_ascii_case("host");
        req = req.header(name.as_str(), value.as_str());
    }
    if !has_host {
        req = req.header(
            http::header::HOST,
            format!("{}:{}", target.host, target.port),
        );
    }
    let req = req.body(Empty::<Bytes>::new()).map_err(|e| e.to_string())?;
    let result = sender.send_request(req).await;
    conn.abort();
    result
        .map(|resp| resp.status().as_u16())
        .map_err(|e| e.to_string())
}

/// Accepts any certificate, as the kubelet's HTTPS probes do
/// (`InsecureSkipVerify`).
#[derive(Debug)]
struct NoVerify;

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A one-request server on loopback answering `status`; returns the
    /// port and the request it got.
    async fn serve(status: u16) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
            s.write_all(reply.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        (port, task)
    }

    fn target(port: u16) -> HttpTarget {
        HttpTarget {
            https: false,
            host: "127.0.0.1".into(),
            port,
            path: "/healthz?x=1".into(),
            headers: vec![("X-Probe".into(), "yes".into())],
        }
    }

    #[tokio::test]
    async fn gets_the_status_code_with_the_probe_headers() {
        let (port, task) = serve(204).await;
        assert_eq!(get(&target(port), Duration::from_secs(2)).await, Ok(204));
        let request = task.await.unwrap();
        assert!(
            request.starts_with("GET /healthz?x=1 HTTP/1.1"),
            "{request}"
        );
        assert!(request.to_lowercase().contains("x-probe: yes"));
        assert!(request.contains("kube-probe/"));
    }

    #[tokio::test]
    async fn a_refused_connection_is_an_error_naming_the_url() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let err = get(&target(port), Duration::from_secs(2))
            .await
            .unwrap_err();
        assert!(
            err.starts_with(&format!("Get \"http://127.0.0.1:{port}/healthz?x=1\"")),
            "{err}"
        );
        assert!(err.contains("connect"), "{err}");
    }

    #[tokio::test]
    async fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let _keep = tokio::spawn(async move {
            let (_s, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(10)).await;
        });
        let err = get(&target(port), Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(err.contains("Client.Timeout"), "{err}");
    }
}
