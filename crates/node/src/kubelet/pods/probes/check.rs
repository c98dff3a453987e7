//! One probe check (exec, httpGet, tcpSocket, grpc) with the kubelet's
//! failure messages, and the port and host resolution they share with
//! hooks (named ports from the container's `ports`).

use std::net::IpAddr;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Container, HTTPGetAction, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use rkube_cri::CriError;
use tokio::net::TcpStream;

use crate::kubelet::pods::context::Context;
use crate::kubelet::pods::probes::{grpc, http};

/// A port number, or a name of one of the container's ports.
pub fn resolve_port(port: &IntOrString, c: &Container) -> Result<u16, String> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).map_err(|_| format!("invalid port {n}")),
        IntOrString::String(name) => {
            if let Ok(n) = name.parse::<u16>() {
                return Ok(n);
            }
            c.ports
                .iter()
                .flatten()
                .find(|p| p.name.as_deref() == Some(name.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok())
                .ok_or_else(|| format!("couldn't find port: {name} in {}", c.name))
        }
    }
}

/// The HTTP target of an httpGet action at `ip` (or its `host`).
pub fn http_target(
    a: &HTTPGetAction,
    c: &Container,
    ip: IpAddr,
) -> Result<http::HttpTarget, String> {
    let mut path = a.path.clone().unwrap_or_default();
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    Ok(http::HttpTarget {
        https: a
            .scheme
            .as_deref()
            .is_some_and(|s| s.eq_ignore_ascii_case("HTTPS")),
        host: a
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| ip.to_string()),
        port: resolve_port(&a.port, c)?,
        path,
        headers: a
            .http_headers
            .iter()
            .flatten()
            .map(|h| (h.name.clone(), h.value.clone()))
            .collect(),
    })
}

/// Run `cmd` in the container; Ok if it exits 0, else its output.
pub async fn exec(
    ctx: &Context,
    container_id: &str,
    cmd: &[String],
    timeout: Duration,
) -> Result<(), String> {
    match ctx.runtime.exec_sync(container_id, cmd, timeout).await {
        Ok(r) if r.exit_code == 0 => Ok(()),
        Ok(r) => {
            let mut out = String::from_utf8_lossy(&r.stdout).to_string();
            out.push_str(&String::from_utf8_lossy(&r.stderr));
            let out = out.trim().to_string();
            if out.is_empty() {
                Err(format!("command {cmd:?} exited with {}", r.exit_code))
            } else {
                Err(out)
            }
        }
        Err(CriError::Timeout(_)) => Err(format!("command {:?} timed out", cmd.join(" "))),
        Err(e) => Err(e.to_string()),
    }
}

/// One check of `probe`.
pub async fn run(
    ctx: &Context,
    c: &Container,
    container_id: &str,
    probe: &Probe,
    ip: IpAddr,
    timeout: Duration,
) -> Result<(), String> {
    if let Some(e) = &probe.exec {
        let cmd = e.command.clone().unwrap_or_default();
        return exec(ctx, container_id, &cmd, timeout).await;
    }
    if let Some(a) = &probe.http_get {
        let target = http_target(a, c, ip)?;
        let code = http::get(&target, timeout).await?;
        return if (200..400).contains(&code) {
            Ok(())
        } else {
            Err(format!("HTTP probe failed with statuscode: {code}"))
        };
    }
    if let Some(t) = &probe.tcp_socket {
        let port = resolve_port(&t.port, c)?;
        let host = t
            .host
            .clone()
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| ip.to_string());
        let addr = format!("{host}:{port}");
        return match tokio::time::timeout(timeout, TcpStream::connect(&addr)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(format!("dial tcp {addr}: connect: {e}")),
            Err(_) => Err(format!("dial tcp {addr}: i/o timeout")),
        };
    }
    if let Some(g) = &probe.grpc {
        let port = u16::try_from(g.port).map_err(|_| format!("invalid port {}", g.port))?;
        let service = g.service.clone().unwrap_or_default();
        return grpc::check(&ip.to_string(), port, &service, timeout).await;
    }
    Err("missing probe handler".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    #[test]
    fn named_ports_resolve_from_the_container() {
        let c: Container = serde_json::from_value(json!({
            "name": "web", "ports": [{"name": "http", "containerPort": 8080}]}))
        .unwrap();
        assert_eq!(resolve_port(&IntOrString::Int(80), &c), Ok(80));
        assert_eq!(
            resolve_port(&IntOrString::String("http".into()), &c),
            Ok(8080)
        );
        assert!(resolve_port(&IntOrString::String("grpc".into()), &c).is_err());
        let a: HTTPGetAction = serde_json::from_value(json!({
            "port": "http", "path": "healthz", "scheme": "HTTPS",
            "httpHeaders": [{"name": "X", "value": "1"}]}))
        .unwrap();
        let t = http_target(&a, &c, "10.244.0.5".parse().unwrap()).unwrap();
        assert_eq!(t.url(), "https://10.244.0.5:8080/healthz");
        assert_eq!(t.headers, vec![("X".to_string(), "1".to_string())]);
    }
}
