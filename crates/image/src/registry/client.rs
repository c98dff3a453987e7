//! [`RegistryClient`]: GET requests to one registry, answering its
//! authentication challenge once (a bearer token from the realm it names,
//! anonymous or with basic credentials; or basic auth directly) and
//! following redirects (blobs are often served from elsewhere).

use std::sync::Arc;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use rkube_cri::RegistryAuth;

use super::auth::{parse_challenge, Challenge};

/// Most bytes read of a manifest, config or token answer.
pub const MAX_DOCUMENT: usize = 8 << 20;

/// A client of one registry.
pub struct RegistryClient {
    http: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    /// `http://127.0.0.1:5000` or `https://ghcr.io`.
    base: String,
    auth: Vec<RegistryAuth>,
    /// The Authorization header that worked last.
    authorization: Option<String>,
}

/// Whether a registry host (with optional port) is on this machine:
/// spoken to over plain HTTP, as Docker and containerd do.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl RegistryClient {
    /// A client of the registry at `host` (`docker.io` is
    /// `registry-1.docker.io`).
    pub fn new(host: &str, auth: &[RegistryAuth]) -> Result<RegistryClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        for cert in native.certs {
            let _ = roots.add(cert);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .build();
        let http = Client::builder(TokioExecutor::new()).build(connector);
        let scheme = if is_loopback(host) { "http" } else { "https" };
        Ok(RegistryClient {
            http,
            base: format!("{scheme}://{host}"),
            auth: auth.to_vec(),
            authorization: None,
        })
    }

    /// GET `path` (`/v2/…`) with `accept`; a 401 is answered once with the
    /// credentials the challenge asks for. Redirects are followed.
    pub async fn get(&mut self, path: &str, accept: &str) -> Result<Response<Incoming>, String> {
        let url = format!("{}{path}", self.base);
        let response = self.send(&url, accept, self.authorization.clone()).await?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(parse_challenge)
            .ok_or("the registry answered 401 Unauthorized without a challenge")?;
        let mut attempts: Vec<Option<RegistryAuth>> = self.auth.iter().cloned().map(Some).collect();
        if attempts.is_empty() {
            attempts.push(None);
        }
        let mut last = String::from("401 Unauthorized");
        for attempt in attempts {
            let authorization = match self.authorize(&challenge, attempt.as_ref()).await {
                Ok(a) => a,
                Err(err) => {
                    last = err;
                    continue;
                }
            };
            let response = self.send(&url, accept, Some(authorization.clone())).await?;
            if response.status() == StatusCode::UNAUTHORIZED
                || response.status() == StatusCode::FORBIDDEN
            {
                last = format!("{} with the credentials given", response.status());
                continue;
            }
            self.authorization = Some(authorization);
            return Ok(response);
        }
        Err(format!("authentication failed: {last}"))
    }

    /// The Authorization header for `challenge` with `auth`.
    async fn authorize(
        &self,
        challenge: &Challenge,
        auth: Option<&RegistryAuth>,
    ) -> Result<String, String> {
        let basic = auth.filter(|a| !a.username.is_empty()).map(|a| {
            let raw = format!("{}:{}", a.username, a.password);
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(raw)
            )
        });
        match challenge {
            Challenge::Basic => {
                basic.ok_or_else(|| "the registry asks for a username and password".to_string())
            }
            Challenge::Bearer { params } => {
                if let Some(token) = auth.map(|a| &a.registry_token).filter(|t| !t.is_empty()) {
                    return Ok(format!("Bearer {token}"));
                }
                let realm = params
                    .get("realm")
                    .ok_or("bearer challenge without realm")?;
                let mut query = Vec::new();
                for key in ["service", "scope"] {
                    if let Some(v) = params.get(key) {
                        query.push(format!("{key}={}", percent_encode(v)));
                    }
                }
                let sep = if realm.contains('?') { '&' } else { '?' };
                let url = if query.is_empty() {
                    realm.clone()
                } else {
                    format!("{realm}{sep}{}", query.join("&"))
                };
                let response = self.send(&url, "application/json", basic).await?;
                if !response.status().is_success() {
                    return Err(format!(
                        "token endpoint {realm} answered {}",
                        response.status()
                    ));
                }
                let body = read_limited(response, MAX_DOCUMENT).await?;
                #[derive(serde::Deserialize)]
                struct TokenAnswer {
                    #[serde(default)]
                    token: String,
                    #[serde(default)]
                    access_token: String,
                }
                let answer: TokenAnswer =
                    serde_json::from_slice(&body).map_err(|e| format!("token answer: {e}"))?;
                let token = if answer.token.is_empty() {
                    answer.access_token
                } else {
                    answer.token
                };
                if token.is_empty() {
                    return Err("the token endpoint gave no token".to_string());
                }
                Ok(format!("Bearer {token}"))
            }
        }
    }

    /// One GET, following up to five redirects (without credentials when
    /// the host changes).
    async fn send(
        &self,
        url: &str,
        accept: &str,
        authorization: Option<String>,
    ) -> Result<Response<Incoming>, String> {
        let mut url = url.to_string();
        let mut authorization = authorization;
        for _ in 0..6 {
            let uri: Uri = url.parse().map_err(|e| format!("bad URL {url}: {e}"))?;
            let mut request = Request::get(uri.clone())
                .header(header::ACCEPT, accept)
                .header(header::USER_AGENT, "rkube");
            if let Some(a) = &authorization {
                request = request.header(header::AUTHORIZATION, a);
            }
            let request = request
                .body(Empty::new())
                .map_err(|e| format!("request {url}: {e}"))?;
            let response = self
                .http
                .request(request)
                .await
                .map_err(|e| format!("GET {url}: {}", error_chain(&e)))?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("GET {url}: redirect without a location"))?;
            let next = if location.starts_with('/') {
                format!(
                    "{}://{}{location}",
                    uri.scheme_str().unwrap_or("https"),
                    uri.authority().map(|a| a.as_str()).unwrap_or("")
                )
            } else {
                location.to_string()
            };
            let next_uri: Uri = next
                .parse()
                .map_err(|e| format!("bad redirect {next}: {e}"))?;
            if next_uri.authority() != uri.authority() {
                authorization = None;
            }
            url = next;
        }
        Err(format!("GET {url}: too many redirects"))
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn percent_encode(value: &str) -> String {
    let mut out = String::new();
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The body, up to `limit` bytes.
pub async fn read_limited(response: Response<Incoming>, limit: usize) -> Result<Vec<u8>, String> {
    let mut body = response.into_body();
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the answer: {e}"))?;
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > limit {
                return Err(format!("answer larger than {limit} bytes"));
            }
            out.extend_from_slice(data);
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::is_loopback;

    #[test]
    fn loopback_registries_are_recognised() {
        for host in [
            "localhost:5000",
            "localhost",
            "127.0.0.1:5000",
            "127.3.4.5",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "docker.io",
            "registry-1.docker.io",
            "10.0.0.1:5000",
            "ghcr.io",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }
}
