//! Choosing the streaming protocol from a request's headers, as the
//! kubelet does: WebSocket (`Sec-WebSocket-Protocol`, the client's first
//! offer this server speaks) or SPDY/3.1 (`X-Stream-Protocol-Version`),
//! and the `101 Switching Protocols` headers that confirm the choice.
//! [`Rejection`] is the 4xx `Status` answered instead of an upgrade.

use base64::Engine;
use http::header::{CONNECTION, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use sha1::Digest;

/// How the session's bytes are carried after the upgrade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// WebSocket messages, each starting with a channel number.
    WebSocket,
    /// SPDY/3.1 streams on the raw connection.
    Spdy,
    /// SPDY/3.1 whose bytes travel in WebSocket binary messages
    /// (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+'s port-forward).
    SpdyOverWebSocket,
}

/// What the session is for (the protocols differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    /// `exec` and `attach` (remotecommand).
    RemoteCommand,
    /// `portforward`.
    PortForward,
}

/// The protocol both sides agreed on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upgrade {
    pub kind: SessionKind,
    pub transport: Transport,
    /// The protocol's name as agreed (`v5.channel.k8s.io`,
    /// `portforward.k8s.io`, ...; empty when the client offered none).
    pub protocol: String,
    /// remotecommand's version, 1 to 5 (`channel.k8s.io` is 1); for
    /// port-forward 1 (SPDY) or 4 (WebSocket).
    pub version: u8,
    /// WebSocket messages are text with base64 payloads
    /// (`base64.channel.k8s.io`, `v4.base64.channel.k8s.io`).
    pub base64: bool,
    /// Headers of the `101 Switching Protocols` answer.
    pub response_headers: HeaderMap,
}

/// Why a request cannot be upgraded: answered as a `Status` with this
/// code, no upgrade.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub code: StatusCode,
    pub message: String,
}

impl Rejection {
    fn new(code: StatusCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }

    /// The `Status` object answered (JSON).
    pub fn status_json(&self) -> String {
        let reason = match self.code {
            StatusCode::FORBIDDEN => "Forbidden",
            _ => "BadRequest",
        };
        serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": reason,
            "code": self.code.as_u16(),
        })
        .to_string()
    }
}

/// `X-Stream-Protocol-Version`, SPDY's protocol header.
pub const STREAM_PROTOCOL_HEADER: &str = "x-stream-protocol-version";
/// The subprotocol of SPDY tunnelled in WebSocket.
pub const SPDY_TUNNEL_PROTOCOL: &str = "SPDY/3.1+portforward.k8s.io";
/// SPDY port-forward's protocol.
pub const PORT_FORWARD_PROTOCOL: &str = "portforward.k8s.io";

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// remotecommand over WebSocket: name, version, base64.
const WS_REMOTE_COMMAND: &[(&str, u8, bool)] = &[
    ("v5.channel.k8s.io", 5, false),
    ("v4.channel.k8s.io", 4, false),
    ("v4.base64.channel.k8s.io", 4, true),
    ("v3.channel.k8s.io", 3, false),
    ("v3.base64.channel.k8s.io", 3, true),
    ("v2.channel.k8s.io", 2, false),
    ("v2.base64.channel.k8s.io", 2, true),
    ("channel.k8s.io", 1, false),
    ("base64.channel.k8s.io", 1, true),
];

/// remotecommand over SPDY: name, version.
const SPDY_REMOTE_COMMAND: &[(&str, u8)] = &[
    ("v5.channel.k8s.io", 5),
    ("v4.channel.k8s.io", 4),
    ("v3.channel.k8s.io", 3),
    ("v2.channel.k8s.io", 2),
    ("channel.k8s.io", 1),
];

/// Decide how to upgrade the request with these headers, or why not.
pub fn negotiate(kind: SessionKind, headers: &HeaderMap) -> Result<Upgrade, Rejection> {
    let upgrade = header_tokens(headers, UPGRADE.as_str());
    if upgrade.iter().any(|u| u.eq_ignore_ascii_case("websocket")) {
        negotiate_websocket(kind, headers)
    } else if upgrade.iter().any(|u| u.eq_ignore_ascii_case("SPDY/3.1")) {
        negotiate_spdy(kind, headers)
    } else {
        Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "Upgrade request required: use a WebSocket (v5.channel.k8s.io, v4.channel.k8s.io) or SPDY/3.1 client",
        ))
    }
}

fn negotiate_websocket(kind: SessionKind, headers: &HeaderMap) -> Result<Upgrade, Rejection> {
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| Rejection::new(StatusCode::BAD_REQUEST, "missing Sec-WebSocket-Key"))?;
    if let Some(version) = headers.get("sec-websocket-version") {
        if version.to_str().map(str::trim).ok() != Some("13") {
            return Err(Rejection::new(
                StatusCode::BAD_REQUEST,
                "unsupported Sec-WebSocket-Version (13 is supported)",
            ));
        }
    }
    let offered = header_tokens(headers, "sec-websocket-protocol");
    let chosen = if offered.is_empty() {
        // Clients that name no protocol get the first version, binary.
        Some((String::new(), Transport::WebSocket, 1u8, false))
    } else {
        offered.iter().find_map(|p| match kind {
            SessionKind::RemoteCommand => WS_REMOTE_COMMAND
                .iter()
                .find(|(name, _, _)| name == p)
                .map(|(name, v, b64)| (name.to_string(), Transport::WebSocket, *v, *b64)),
            SessionKind::PortForward => match p.as_str() {
                "v4.channel.k8s.io" => Some((p.clone(), Transport::WebSocket, 4, false)),
                "v4.base64.channel.k8s.io" => Some((p.clone(), Transport::WebSocket, 4, true)),
                SPDY_TUNNEL_PROTOCOL => Some((p.clone(), Transport::SpdyOverWebSocket, 1, false)),
                _ => None,
            },
        })
    };
    let Some((protocol, transport, version, base64)) = chosen else {
        let supported: Vec<&str> = match kind {
            SessionKind::RemoteCommand => WS_REMOTE_COMMAND.iter().map(|p| p.0).collect(),
            SessionKind::PortForward => vec![
                "v4.channel.k8s.io",
                "v4.base64.channel.k8s.io",
                SPDY_TUNNEL_PROTOCOL,
            ],
        };
        return Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            format!(
                "unable to negotiate a WebSocket subprotocol: client offered [{}], server supports [{}]",
                offered.join(", "),
                supported.join(", ")
            ),
        ));
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    response_headers.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&websocket_accept(key)) {
        response_headers.insert(HeaderName::from_static("sec-websocket-accept"), accept);
    }
    if !protocol.is_empty() {
        if let Ok(p) = HeaderValue::from_str(&protocol) {
            response_headers.insert(HeaderName::from_static("sec-websocket-protocol"), p);
        }
    }
    Ok(Upgrade {
        kind,
        transport,
        protocol,
        version,
        base64,
        response_headers,
    })
}

fn negotiate_spdy(kind: SessionKind, headers: &HeaderMap) -> Result<Upgrade, Rejection> {
    let offered = header_tokens(headers, STREAM_PROTOCOL_HEADER);
    let chosen: Option<(String, u8)> = match kind {
        _ if offered.is_empty() => Some((String::new(), 1)),
        SessionKind::RemoteCommand => offered.iter().find_map(|p| {
            SPDY_REMOTE_COMMAND
                .iter()
                .find(|(name, _)| name == p)
                .map(|(name, v)| (name.to_string(), *v))
        }),
        SessionKind::PortForward => offered
            .iter()
            .find(|p| p.as_str() == PORT_FORWARD_PROTOCOL)
            .map(|p| (p.clone(), 1)),
    };
    let Some((protocol, version)) = chosen else {
        let supported: Vec<&str> = match kind {
            SessionKind::RemoteCommand => SPDY_REMOTE_COMMAND.iter().map(|p| p.0).collect(),
            SessionKind::PortForward => vec![PORT_FORWARD_PROTOCOL],
        };
        return Err(Rejection::new(
            StatusCode::FORBIDDEN,
            format!(
                "unable to upgrade: unable to negotiate protocol: client supports [{}], server supports [{}]",
                offered.join(", "),
                supported.join(", ")
            ),
        ));
    };
    let mut response_headers = HeaderMap::new();
    response_headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    response_headers.insert(UPGRADE, HeaderValue::from_static("SPDY/3.1"));
    if !protocol.is_empty() {
        if let Ok(p) = HeaderValue::from_str(&protocol) {
            response_headers.insert(HeaderName::from_static(STREAM_PROTOCOL_HEADER), p);
        }
    }
    Ok(Upgrade {
        kind,
        transport: Transport::Spdy,
        protocol,
        version,
        base64: false,
        response_headers,
    })
}

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key`.
pub fn websocket_accept(key: &str) -> String {
    let mut hasher = sha1::Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(WS_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(hasher.finalize())
}

/// Every comma-separated token of every value of header `name`.
fn header_tokens(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn websocket_accept_matches_rfc6455_example() {
        assert_eq!(
            websocket_accept("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn websocket_takes_the_clients_first_supported_offer() {
        let h = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("sec-websocket-version", "13"),
            (
                "sec-websocket-protocol",
                "base64url.bearer.authorization.k8s.io.abc, v5.channel.k8s.io, v4.channel.k8s.io",
            ),
        ]);
        let u = negotiate(SessionKind::RemoteCommand, &h).unwrap();
        assert_eq!(u.transport, Transport::WebSocket);
        assert_eq!(u.version, 5);
        assert_eq!(
            u.response_headers.get("sec-websocket-protocol").unwrap(),
            "v5.channel.k8s.io"
        );
    }

    #[test]
    fn spdy_tunnel_for_port_forward() {
        let h = headers(&[
            ("upgrade", "websocket"),
            ("sec-websocket-key", "x"),
            ("sec-websocket-protocol", SPDY_TUNNEL_PROTOCOL),
        ]);
        let u = negotiate(SessionKind::PortForward, &h).unwrap();
        assert_eq!(u.transport, Transport::SpdyOverWebSocket);
    }

    #[test]
    fn spdy_version_header_and_rejection() {
        let h = headers(&[
            ("upgrade", "SPDY/3.1"),
            (STREAM_PROTOCOL_HEADER, "v4.channel.k8s.io"),
            (STREAM_PROTOCOL_HEADER, "v3.channel.k8s.io"),
        ]);
        let u = negotiate(SessionKind::RemoteCommand, &h).unwrap();
        assert_eq!((u.transport, u.version), (Transport::Spdy, 4));
        let bad = headers(&[("upgrade", "SPDY/3.1"), (STREAM_PROTOCOL_HEADER, "v9")]);
        let r = negotiate(SessionKind::RemoteCommand, &bad).unwrap_err();
        assert_eq!(r.code, StatusCode::FORBIDDEN);
        assert!(r.status_json().contains("unable to negotiate"));
        let none = negotiate(SessionKind::PortForward, &HeaderMap::new()).unwrap_err();
        assert_eq!(none.code, StatusCode::BAD_REQUEST);
    }
}
