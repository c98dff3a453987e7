//! Where names outside the cluster go when `--dns-upstream` names none:
//! the host's resolv.conf name servers, or — when those are only loopback
//! stubs such as systemd-resolved's 127.0.0.53, which would answer
//! nothing useful from here — the upstreams systemd-resolved itself uses
//! (`/run/systemd/resolve/resolv.conf`), as the kubelet picks pods'.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

/// The host's resolv.conf.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// systemd-resolved's upstreams.
pub const SYSTEMD_RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// The `nameserver` addresses of a resolv.conf's text (port 53).
pub fn nameservers(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next() == Some("nameserver")).then_some(())?;
            // A scoped IPv6 address (fe80::1%eth0) is left out.
            let ip: IpAddr = words.next()?.parse().ok()?;
            Some(SocketAddr::new(ip, 53))
        })
        .collect()
}

/// The upstreams from these files: the first's name servers unless they
/// are all loopback, then the second's (if it has any). `own` (this
/// server's address) is never an upstream.
pub fn from_files(host: &Path, resolved: &Path, own: SocketAddr) -> Vec<SocketAddr> {
    let read = |p: &Path| nameservers(&std::fs::read_to_string(p).unwrap_or_default());
    let mut servers = read(host);
    if !servers.is_empty() && servers.iter().all(|s| s.ip().is_loopback()) {
        let systemd = read(resolved);
        if !systemd.is_empty() {
            servers = systemd;
        }
    }
    servers.retain(|s| *s != own);
    servers
}

/// The configured upstreams, or the host's.
pub fn resolve(configured: &[SocketAddr], own: SocketAddr) -> Vec<SocketAddr> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    from_files(
        Path::new(HOST_RESOLV_CONF),
        Path::new(SYSTEMD_RESOLVED_UPSTREAM),
        own,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_stubs_give_way_to_systemd_resolveds_upstreams() {
        let dir = std::env::temp_dir().join(format!("rkube-dns-up-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let host = dir.join("resolv.conf");
        let resolved = dir.join("resolved.conf");
        std::fs::write(&host, "# stub\nnameserver 127.0.0.53\noptions edns0\n").expect("w");
        std::fs::write(&resolved, "nameserver 192.0.2.1\nnameserver 2001:db8::1\n").expect("w");
        let own: SocketAddr = "10.0.0.1:53".parse().expect("addr");
        assert_eq!(
            from_files(&host, &resolved, own),
            vec![
                "192.0.2.1:53".parse::<SocketAddr>().expect("a"),
                "[2001:db8::1]:53".parse().expect("a")
            ]
        );
        std::fs::write(&host, "nameserver 192.0.2.9\nnameserver 10.0.0.1\n").expect("w");
        assert_eq!(
            from_files(&host, &resolved, own),
            vec!["192.0.2.9:53".parse::<SocketAddr>().expect("a")]
        );
        std::fs::remove_dir_all(&dir).expect("rm");
    }
}
