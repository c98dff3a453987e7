//! The node's port: the kubelet's 10250 unless something else holds it,
//! then the next free one (several nodes on one host, tests in parallel).

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpListener;

/// The kubelet's port.
pub const DEFAULT_PORT: u16 = 10250;
/// How many ports after the first are tried.
pub const PORTS_TRIED: u16 = 200;

/// Bind `address` on `first`, or on the next port that is free, trying
/// [`PORTS_TRIED`] ports. Errors other than "in use" end the search.
pub async fn bind_first_free(address: IpAddr, first: u16) -> std::io::Result<TcpListener> {
    let mut last = None;
    for port in (first..=u16::MAX).take(usize::from(PORTS_TRIED)) {
        match TcpListener::bind(SocketAddr::new(address, port)).await {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("no free port from {first}"),
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_port_is_skipped() {
        let ip = IpAddr::from([127, 0, 0, 1]);
        let held = TcpListener::bind((ip, 0)).await.expect("test");
        let taken = held.local_addr().expect("test").port();
        let got = bind_first_free(ip, taken).await.expect("test");
        assert!(got.local_addr().expect("test").port() > taken);
    }
}
