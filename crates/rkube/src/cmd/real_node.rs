//! The real-node options `rkube up` and `rkube node` share, and whether
//! this host can run one.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RealNodeArgs {
    /// Run a real node (containers through runc) beside simulated nodes;
    /// without --sim-nodes one runs whenever this host can run it.
    #[arg(long, conflicts_with = "no_real_node")]
    pub real_node: bool,

    /// Never run a real node (only the control plane, and --sim-nodes).
    #[arg(long)]
    pub no_real_node: bool,

    /// The real node's name. Default: the host name, lower-cased to a
    /// valid node name.
    #[arg(long, value_name = "NAME")]
    pub node_name: Option<String>,

    /// The real node's InternalIP (as the kubelet's --node-ip). Default:
    /// the advertised address.
    #[arg(long, value_name = "IP")]
    pub node_ip: Option<IpAddr>,

    /// The Linux bridge the real node's pods are attached to; the
    /// service range is routed to `<NAME>-svc`, and the masquerade rules
    /// live in the nftables table `rkube-<NAME>`.
    #[arg(long, value_name = "NAME", default_value = "rkube0", value_parser = parse_bridge)]
    pub pod_bridge: String,

    /// The real node's hard eviction thresholds, as the kubelet's
    /// --eviction-hard; signals not named keep their defaults.
    #[arg(
        long,
        value_name = "SIGNAL<VALUE,...",
        default_value = "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%"
    )]
    pub eviction_hard: rkube_node::kubelet::node::thresholds::EvictionThresholds,

    /// Where the cluster DNS forwards names outside the cluster domain, as
    /// IP or IP:PORT (repeatable). Default: the host's resolvers.
    #[arg(long = "dns-upstream", value_name = "IP[:PORT]", value_parser = parse_upstream)]
    pub dns_upstreams: Vec<std::net::SocketAddr>,
}

/// `--dns-upstream`: an IP (port 53) or IP:PORT.
fn parse_upstream(s: &str) -> Result<std::net::SocketAddr, String> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(std::net::SocketAddr::new(ip, 53));
    }
    s.parse()
        .map_err(|_| format!("{s:?}: expected an IP address, or IP:PORT (e.g. 127.0.0.1:5353)"))
}

impl RealNodeArgs {
    /// The real node's options, if one should run: asked for with
    /// --real-node (an error if this host cannot run one), or by default
    /// without --sim-nodes when this host can (otherwise one line says why
    /// not and what to do).
    pub fn options(
        &self,
        sim_nodes: u32,
        data_dir: &Path,
        advertise: IpAddr,
        cluster_cidr: &str,
        service_range: &str,
    ) -> anyhow::Result<Option<crate::real_node::RealNodeOptions>> {
        if self.no_real_node || (sim_nodes > 0 && !self.real_node) {
            return Ok(None);
        }
        if let Some(why) = cannot_run_real_node() {
            if self.real_node {
                anyhow::bail!("--real-node: {why}");
            }
            eprintln!("rkube: {why}");
            return Ok(None);
        }
        if cluster_cidr.is_empty() {
            anyhow::bail!("a real node needs a pod range: give --cluster-cidr");
        }
        Ok(Some(crate::real_node::RealNodeOptions {
            data_dir: data_dir.to_path_buf(),
            node_name: self
                .node_name
                .clone()
                .unwrap_or_else(|| node_name_from_host(&host_name())),
            node_ip: self.node_ip.unwrap_or(advertise),
            bridge: self.pod_bridge.clone(),
            cluster_cidr: cluster_cidr.to_string(),
            service_range: service_range.to_string(),
            eviction_hard: self.eviction_hard,
            node_api: crate::real_node::NodeApiTls::ClusterCa,
            dns_upstreams: self.dns_upstreams.clone(),
        }))
    }
}

fn parse_bridge(s: &str) -> Result<String, String> {
    let ok = !s.is_empty()
        && s.len() <= 11
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(s.to_string())
    } else {
        Err(format!(
            "{s:?}: a bridge name is 1 to 11 letters, digits, '-' or '_' (the service interface adds \"-svc\" within Linux's 15)"
        ))
    }
}

/// The node name from a host name: lower-cased, anything but letters,
/// digits, '-' and '.' becomes '-', trimmed to start and end with an
/// alphanumeric, at most 63 characters.
pub fn node_name_from_host(host: &str) -> String {
    let lowered: String = host
        .trim()
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let trimmed = lowered.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let mut name: String = trimmed.chars().take(63).collect();
    while name.ends_with(|c: char| !c.is_ascii_alphanumeric()) {
        name.pop();
    }
    if name.is_empty() {
        "rkube-node".to_string()
    } else {
        name
    }
}

/// This host's name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default()
}

/// Where `program` is on PATH.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| is_executable(p))
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Why this host cannot run a real node, with what to do about it; None
/// when it can.
pub fn cannot_run_real_node() -> Option<String> {
    if !cfg!(target_os = "linux") {
        return Some(
            "a real node needs Linux: running without one (use --sim-nodes N for simulated nodes)"
                .to_string(),
        );
    }
    if !is_root() {
        return Some(
            "a real node needs root: running without one (run as root, or use --sim-nodes N for simulated nodes)"
                .to_string(),
        );
    }
    for (program, package) in [("runc", "runc"), ("ip", "iproute2"), ("nft", "nftables")] {
        if find_on_path(program).is_none() {
            return Some(format!(
                "a real node needs {program}, which is not on PATH: running without one (install {package}, or use --sim-nodes N for simulated nodes)"
            ));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_come_from_host_names() {
        assert_eq!(
            node_name_from_host("MyHost.Example.COM\n"),
            "myhost.example.com"
        );
        assert_eq!(node_name_from_host("_weird_Host_"), "weird-host");
        assert_eq!(node_name_from_host("***"), "rkube-node");
        assert_eq!(node_name_from_host(&"a".repeat(80)).len(), 63);
    }

    #[test]
    fn bridge_names_fit_linux_interface_names() {
        assert!(parse_bridge("rkube0").is_ok());
        assert!(parse_bridge("much-too-long-name").is_err());
        assert!(parse_bridge("bad name").is_err());
    }
}
