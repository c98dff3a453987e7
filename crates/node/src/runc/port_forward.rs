//! `port_forward`: a TCP connection to the loopback address inside a
//! sandbox's network namespace (`kubectl port-forward`), made on a thread
//! of its own that entered the namespace; the socket keeps that namespace
//! and is handed to tokio.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rkube_cri::CriError;

use super::locks::lock;
use super::netns;
use super::runtime::RuncRuntime;

/// How long a connection may take to be accepted.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connect to `127.0.0.1:port` in the calling thread's namespace.
fn connect(port: u16) -> Result<std::net::TcpStream, CriError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let stream = std::net::TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|e| {
        CriError::Runtime(format!(
            "port {port}: cannot connect to 127.0.0.1:{port} in the pod: {e}"
        ))
    })?;
    stream
        .set_nonblocking(true)
        .map_err(CriError::io("making the socket non-blocking"))?;
    Ok(stream)
}

impl RuncRuntime {
    pub(crate) async fn forward_port(
        &self,
        sandbox_id: &str,
        port: u16,
    ) -> Result<tokio::net::TcpStream, CriError> {
        let entry = self.sandbox(sandbox_id)?;
        let (ready, netns_path) = {
            let r = lock(&entry.record);
            (r.ready, r.netns_path.clone())
        };
        if !ready {
            return Err(CriError::Runtime(format!(
                "sandbox {sandbox_id} is not ready: cannot forward port {port}"
            )));
        }
        let stream = match netns_path {
            Some(path) => netns::in_netns(&path, move || connect(port)).await??,
            // hostNetwork: the pod's loopback is the host's.
            None => tokio::task::spawn_blocking(move || connect(port))
                .await
                .map_err(|e| CriError::Runtime(format!("port {port}: {e}")))??,
        };
        tracing::debug!(sandbox = %sandbox_id, port, "port forwarded");
        tokio::net::TcpStream::from_std(stream).map_err(CriError::io("registering the socket"))
    }
}
