//! The admin kubeconfig, `DATA_DIR/kubeconfig` (mode 0600).
//!
//! One cluster `rkube` (the server URL and the CA, inline), one user
//! `rkube-admin` (the admin client certificate and key, inline), one
//! context `rkube` (namespace `default`), made current. Everything is
//! inline so the file can be copied anywhere; kubectl, client-go, kube-rs
//! and the Python client all read it.
//!
//! Written as YAML by hand: the only values that are not fixed are base64
//! text (always a safe plain scalar) and the server URL, which is written
//! as a double-quoted (JSON-escaped) scalar.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::files::{self, Mode};

/// The cluster entry's name.
pub const CLUSTER_NAME: &str = "rkube";
/// The user entry's name.
pub const USER_NAME: &str = "rkube-admin";
/// The context's name (also `current-context`).
pub const CONTEXT_NAME: &str = "rkube";

/// What goes into the kubeconfig.
#[derive(Clone)]
pub struct Kubeconfig {
    /// `https://host:port`.
    pub server: String,
    pub ca_cert_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

impl Kubeconfig {
    /// The kubeconfig as YAML text.
    pub fn render(&self) -> String {
        let server = serde_json::Value::String(self.server.clone()).to_string();
        let ca = STANDARD.encode(&self.ca_cert_pem);
        let cert = STANDARD.encode(&self.client_cert_pem);
        let key = STANDARD.encode(&self.client_key_pem);
        format!(
            "apiVersion: v1
kind: Config
clusters:
- name: {CLUSTER_NAME}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {USER_NAME}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {CONTEXT_NAME}
  context:
    cluster: {CLUSTER_NAME}
    user: {USER_NAME}
    namespace: default
current-context: {CONTEXT_NAME}
preferences: {{}}
"
        )
    }

    /// Write the kubeconfig to `path` atomically, readable by the owner only.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        files::write_atomic(path, self.render().as_bytes(), Mode::Private)
    }
}

/// The URL clients use to reach a server listening on `addr`: a wildcard
/// address becomes loopback of the same family; IPv6 hosts are bracketed.
pub fn server_url(addr: SocketAddr) -> String {
    let host = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("https://{}", SocketAddr::new(host, addr.port()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            server_url("127.0.0.1:6443".parse().expect("addr")),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            server_url("0.0.0.0:6443".parse().expect("addr")),
            "https://127.0.0.1:6443"
        );
        assert_eq!(
            server_url("[::]:6443".parse().expect("addr")),
            "https://[::1]:6443"
        );
        assert_eq!(
            server_url("[fd00::2]:1".parse().expect("addr")),
            "https://[fd00::2]:1"
        );
    }

    #[test]
    fn renders_inline_credentials() {
        let text = Kubeconfig {
            server: "https://[::1]:6443".into(),
            ca_cert_pem: "CA".into(),
            client_cert_pem: "CERT".into(),
            client_key_pem: "KEY".into(),
        }
        .render();
        assert!(
            text.contains("    server: \"https://[::1]:6443\"\n"),
            "{text}"
        );
        assert!(
            text.contains("    certificate-authority-data: Q0E=\n"),
            "{text}"
        );
        assert!(
            text.contains("    client-certificate-data: Q0VSVA==\n"),
            "{text}"
        );
        assert!(text.contains("    client-key-data: S0VZ\n"), "{text}");
        assert!(text.contains("\ncurrent-context: rkube\n"), "{text}");
        assert!(text.contains("\npreferences: {}\n"), "{text}");
    }
}
