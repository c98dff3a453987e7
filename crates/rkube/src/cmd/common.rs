//! Arguments shared by the subcommands that serve the API (`up`, `server`).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use clap::Args;

/// Where to keep data and where to listen.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Directory for all of rkube's data (the store lives in DIR/store).
    #[arg(
        long,
        value_name = "DIR",
        env = "RKUBE_DATA_DIR",
        default_value = "./.rkube"
    )]
    pub data_dir: PathBuf,

    /// Address to serve on, as IP:PORT (port 0 picks a free port).
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:6443", value_parser = parse_listen)]
    pub listen: SocketAddr,

    /// The address this API server advertises to the cluster: the
    /// endpoint of the `default/kubernetes` Service (as kube-apiserver's
    /// --advertise-address). Default: the --listen IP, or 127.0.0.1 when
    /// listening on every address.
    #[arg(long, value_name = "IP")]
    pub advertise_address: Option<IpAddr>,

    /// The range Services' cluster IPs come from (as kube-apiserver's
    /// --service-cluster-ip-range); its first address is the `kubernetes`
    /// Service's. A real node routes the whole range to rkube's own
    /// interface.
    #[arg(long, value_name = "CIDR", default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: rkube_apiserver::resources::ServiceIpRange,

    /// How often the embedded store compacts history older than one
    /// interval (as kube-apiserver's --etcd-compaction-interval; 0 turns it
    /// off). Watches and paged lists from compacted revisions get 410 Gone.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::bench::duration::parse_duration)]
    pub compaction_interval: std::time::Duration,

    /// How often an idle watch that allows bookmarks is sent one (kube-apiserver
    /// sends them about once a minute).
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = crate::bench::duration::parse_duration)]
    pub watch_bookmark_interval: std::time::Duration,
}

impl ServeArgs {
    /// The advertised address (see `--advertise-address`), never a
    /// wildcard one.
    pub fn advertise_ip(&self) -> IpAddr {
        advertise_ip(self.advertise_address, self.listen.ip())
    }

    /// The embedded store's directory.
    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }
}

/// The IP to advertise: the one given, else the listen IP unless it is
/// a wildcard, else 127.0.0.1.
pub fn advertise_ip(given: Option<IpAddr>, listen: IpAddr) -> IpAddr {
    match given {
        Some(ip) => ip,
        None if listen.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        None => listen,
    }
}

/// Parse `--listen`: an IP address and a port; host names are not resolved.
pub fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.parse::<SocketAddr>().map_err(|_| {
        "expected ADDR:PORT with an IP address and a port, \
         e.g. 127.0.0.1:6443, 0.0.0.0:6443 or [::1]:6443"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::{advertise_ip, parse_listen};
    use std::net::IpAddr;

    #[test]
    fn advertise_defaults_to_the_listen_ip_unless_wildcard() {
        let ip = |s: &str| s.parse::<IpAddr>().ok();
        let lo = ip("127.0.0.1");
        assert_eq!(
            Some(advertise_ip(
                None,
                ip("0.0.0.0").unwrap_or(IpAddr::from([0; 4]))
            )),
            lo
        );
        assert_eq!(
            Some(advertise_ip(
                None,
                ip("::").unwrap_or(IpAddr::from([0u8; 16]))
            )),
            lo
        );
        let given = ip("10.1.2.3");
        let listen = ip("192.168.1.5").unwrap_or(IpAddr::from([0; 4]));
        assert_eq!(Some(advertise_ip(None, listen)), Some(listen));
        assert_eq!(advertise_ip(given, listen), given.unwrap_or(listen));
    }

    #[test]
    fn listen_accepts_ip_and_port() {
        assert_eq!(parse_listen("127.0.0.1:6443").map(|a| a.port()), Ok(6443));
        assert_eq!(parse_listen("[::1]:0").map(|a| a.port()), Ok(0));
    }

    #[test]
    fn listen_rejects_the_rest() {
        for bad in [
            "",
            "6443",
            "localhost:6443",
            "127.0.0.1",
            "127.0.0.1:99999",
            "1.2.3.4:x",
        ] {
            assert!(parse_listen(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
