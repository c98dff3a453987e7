//! Where the rules go: the tools the proxy runs (`nft`, `conntrack`, `ip`,
//! `sysctl`), in the host's network namespace or — for tests — inside a
//! named one (`ip netns exec <name> …`).

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use rkube_net::cmd::{self, Tool};
use rkube_net::NetError;

pub const CONNTRACK: Tool = Tool {
    name: "conntrack",
    package: "conntrack",
};

/// The network namespace the proxy programs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Host {
    /// `None`: the namespace the process runs in.
    pub netns: Option<String>,
}

impl Host {
    /// The process's own namespace.
    pub fn current() -> Host {
        Host { netns: None }
    }

    /// A namespace made with `ip netns add <name>`.
    pub fn netns(name: &str) -> Host {
        Host {
            netns: Some(name.to_string()),
        }
    }

    async fn run(
        &self,
        tool: Tool,
        args: &[&str],
        stdin: Option<&str>,
    ) -> Result<String, NetError> {
        match &self.netns {
            None => cmd::run(tool, args, stdin).await,
            Some(ns) => {
                let mut full = vec!["netns", "exec", ns.as_str(), tool.name];
                full.extend_from_slice(args);
                match cmd::run(cmd::IP, &full, stdin).await {
                    Err(NetError::Command { stderr, .. })
                        if stderr.contains("No such file or directory")
                            && stderr.contains(tool.name)
                            && stderr.contains("exec") =>
                    {
                        Err(NetError::ToolMissing {
                            tool: tool.name,
                            package: tool.package,
                        })
                    }
                    other => other,
                }
            }
        }
    }

    /// `nft -f -`: one atomic transaction.
    pub async fn nft(&self, script: &str) -> Result<(), NetError> {
        self.run(cmd::NFT, &["-f", "-"], Some(script))
            .await
            .map(drop)
    }

    /// `nft list table ip <table>`, or `None` if there is none.
    pub async fn list_table(&self, table: &str) -> Result<Option<String>, NetError> {
        match self
            .run(cmd::NFT, &["list", "table", "ip", table], None)
            .await
        {
            Ok(s) => Ok(Some(s)),
            Err(NetError::Command { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the table; nothing if it is absent.
    pub async fn delete_table(&self, table: &str) -> Result<(), NetError> {
        self.nft(&format!("table ip {table}\ndelete table ip {table}\n"))
            .await
    }

    /// `conntrack …`; a delete that matched nothing is not an error.
    pub async fn conntrack(&self, args: &[&str]) -> Result<(), NetError> {
        match self.run(CONNTRACK, args, None).await {
            Ok(_) => Ok(()),
            Err(NetError::Command { stderr, .. }) if stderr.contains("0 flow entries") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The namespace's IPv4 addresses (`ip -4 -o addr show`).
    pub async fn local_addresses(&self) -> Result<BTreeSet<Ipv4Addr>, NetError> {
        let out = self
            .run(cmd::IP, &["-4", "-o", "addr", "show"], None)
            .await?;
        Ok(parse_addresses(&out))
    }

    /// `net.ipv4.conf.<iface>.route_localnet=1`: packets DNATed to a
    /// loopback address may arrive on `iface` (and replies leave by it).
    pub async fn route_localnet(&self, iface: &str) -> Result<(), NetError> {
        let path = format!("/proc/sys/net/ipv4/conf/{iface}/route_localnet");
        match &self.netns {
            None => {
                if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
                    return Ok(());
                }
                std::fs::write(&path, "1").map_err(NetError::io(format!("writing 1 to {path}")))
            }
            Some(_) => {
                let key = format!("net.ipv4.conf.{iface}.route_localnet=1");
                let sysctl = Tool {
                    name: "sysctl",
                    package: "procps",
                };
                self.run(sysctl, &["-q", "-w", &key], None).await.map(drop)
            }
        }
    }
}

/// The addresses in `ip -4 -o addr show`'s output.
pub fn parse_addresses(out: &str) -> BTreeSet<Ipv4Addr> {
    out.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_from_ip_output() {
        let out = "1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n\
                   5: rkube0    inet 10.244.0.1/24 brd 10.244.0.255 scope global rkube0\\ valid_lft forever\n";
        let a = parse_addresses(out);
        assert!(a.contains(&Ipv4Addr::new(127, 0, 0, 1)));
        assert!(a.contains(&Ipv4Addr::new(10, 244, 0, 1)));
        assert_eq!(a.len(), 2);
    }
}
