//! `hostPort`s, as the CNI portmap plugin maps them: a connection to one of
//! the node's own addresses on a pod's `hostPort` is DNATed to the pod's
//! address and `containerPort` (TCP, UDP or SCTP); a `hostIP` limits the
//! mapping to that one address. Lives in a table of its own,
//! `<pod network table>-hostport` (`rkube-podnet-hostport`), which the
//! pod network's start-up never replaces:
//!
//! - two maps of verdicts, `any-ip` (`proto . port`, for mappings without a
//!   `hostIP`, matched only when the destination is a local address — `fib
//!   daddr type local` — and not loopback) and `by-ip` (`hostIP . proto .
//!   port`), pointing at one chain per mapping, `hp-<hash>-<n>`, which
//!   DNATs and marks hairpin traffic;
//! - the `prerouting` (from outside and from pods) and `output` (from the
//!   node itself) hooks jump to `hostports`, which looks both maps up;
//! - `postrouting` masquerades what was marked (bit `0x2000`, portmap's
//!   default): connections from the node's own pod range, so that a pod
//!   reaching another pod (or itself) through a hostPort gets the replies
//!   back through the node, as portmap's hairpin SNAT does.
//!
//! Loopback is left out: DNAT of `127.0.0.1` needs `route_localnet`, which
//! opens the node's loopback services to its neighbours (a `hostIP` of
//! `127.0.0.0/8` is refused).
//!
//! A sandbox's mappings are recorded (`<state_dir>/hostports/<sandbox>`)
//! before its rules are added, so a restarted agent rebuilds the table from
//! the records ([`HostPorts::open`], [`HostPorts::gc`]); `add` and `del`
//! change only that sandbox's elements and chains, in one `nft -f`
//! transaction each. Two sandboxes on the same protocol, port and address
//! (a `hostIP` clashes with "every address") are refused at `add` with an
//! error naming the pod that holds the port: the scheduler's NodePorts
//! filter keeps them apart, and the kubelet reports a clash it meets as a
//! failed sandbox, never by overriding the other pod's mapping.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use rkube_cri::{PortMapping, Protocol};
use tokio::sync::Mutex;
use tracing::{debug, info, warn};

use crate::cidr::Ipv4Cidr;
use crate::cmd;
use crate::config::NetConfig;
use crate::error::NetError;

/// The mark bit of connections to masquerade (portmap's `markMasqBit` 13).
pub const MASQ_MARK: u32 = 0x2000;

/// The table's name for the pod network `config`.
pub fn table_name(config: &NetConfig) -> String {
    format!("{}-hostport", config.nft_table)
}

fn records_dir(config: &NetConfig) -> PathBuf {
    config.state_dir.join("hostports")
}

/// One mapping of a sandbox, as the rules and records hold it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub protocol: Protocol,
    pub host_port: u16,
    /// `None`: every local address but loopback.
    pub host_ip: Option<Ipv4Addr>,
    pub container_port: u16,
}

fn proto_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

fn parse_proto(s: &str) -> Option<Protocol> {
    match s {
        "tcp" => Some(Protocol::Tcp),
        "udp" => Some(Protocol::Udp),
        "sctp" => Some(Protocol::Sctp),
        _ => None,
    }
}

impl fmt::Display for Mapping {
    /// `8080/TCP on 10.0.0.5` or `8080/TCP` (every address).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}",
            self.host_port,
            proto_name(self.protocol).to_ascii_uppercase()
        )?;
        if let Some(ip) = self.host_ip {
            write!(f, " on {ip}")?;
        }
        Ok(())
    }
}

impl Mapping {
    /// Whether `self` and `other` want the same port of the same address.
    pub fn clashes(&self, other: &Mapping) -> bool {
        self.protocol == other.protocol
            && self.host_port == other.host_port
            && (self.host_ip.is_none() || other.host_ip.is_none() || self.host_ip == other.host_ip)
    }
}

/// The CRI's port mappings as rules can hold them: `hostIP` empty or
/// `0.0.0.0` is every address; an IPv6 or loopback `hostIP`, a zero port
/// or two different targets for one host port are refused.
pub fn mappings(given: &[PortMapping]) -> Result<Vec<Mapping>, NetError> {
    let mut out: Vec<Mapping> = Vec::new();
    for m in given {
        let host_ip = match m.host_ip.trim() {
            "" | "0.0.0.0" => None,
            s => {
                let ip: Ipv4Addr = s.parse().map_err(|_| {
                    NetError::Config(format!(
                        "hostIP {s:?} of hostPort {}: only IPv4 addresses are mapped",
                        m.host_port
                    ))
                })?;
                if ip.is_loopback() {
                    return Err(NetError::Config(format!(
                        "hostIP {ip} of hostPort {}: loopback addresses are not mapped \
                         (use the node's address)",
                        m.host_port
                    )));
                }
                if ip.is_unspecified() {
                    None
                } else {
                    Some(ip)
                }
            }
        };
        if m.host_port == 0 || m.container_port == 0 {
            return Err(NetError::Config(format!(
                "hostPort {} → containerPort {}: ports must be 1-65535",
                m.host_port, m.container_port
            )));
        }
        let mapping = Mapping {
            protocol: m.protocol,
            host_port: m.host_port,
            host_ip,
            container_port: m.container_port,
        };
        if out.contains(&mapping) {
            continue;
        }
        if let Some(other) = out.iter().find(|o| o.clashes(&mapping)) {
            return Err(NetError::Config(format!(
                "hostPort {mapping} is asked for twice by the pod (containerPorts {} and {})",
                other.container_port, mapping.container_port
            )));
        }
        out.push(mapping);
    }
    Ok(out)
}

/// What is recorded for one sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// `namespace/name`, for the clash message.
    pub pod: String,
    pub pod_ip: Ipv4Addr,
    pub mappings: Vec<Mapping>,
}

impl Record {
    /// The record file's text: `pod ip` then one `proto host_ip|* host_port
    /// container_port` a line.
    pub fn to_text(&self) -> String {
        let mut s = format!("{} {}\n", self.pod, self.pod_ip);
        for m in &self.mappings {
            let ip = m.host_ip.map_or_else(|| "*".to_string(), |i| i.to_string());
            s.push_str(&format!(
                "{} {ip} {} {}\n",
                proto_name(m.protocol),
                m.host_port,
                m.container_port
            ));
        }
        s
    }

    /// Reads [`Record::to_text`]; `None` for anything else.
    pub fn parse(text: &str) -> Option<Record> {
        let mut lines = text.lines();
        let (pod, ip) = lines.next()?.split_once(' ')?;
        let pod_ip = ip.trim().parse().ok()?;
        let mut mappings = Vec::new();
        for line in lines.filter(|l| !l.trim().is_empty()) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [proto, ip, hp, cp] = f.as_slice() else {
                return None;
            };
            mappings.push(Mapping {
                protocol: parse_proto(proto)?,
                host_ip: if *ip == "*" {
                    None
                } else {
                    Some(ip.parse().ok()?)
                },
                host_port: hp.parse().ok()?,
                container_port: cp.parse().ok()?,
            });
        }
        Some(Record {
            pod: pod.to_string(),
            pod_ip,
            mappings,
        })
    }
}

/// `hp-` and 8 hex digits of the sandbox id's hash: the prefix of its
/// chains.
pub fn chain_prefix(sandbox_id: &str) -> String {
    let veth = crate::veth::veth_name(sandbox_id);
    format!("hp-{}", &veth[crate::veth::VETH_PREFIX.len()..])
}

fn element_key(m: &Mapping) -> String {
    let p = proto_name(m.protocol);
    match m.host_ip {
        Some(ip) => format!("{ip} . {p} . {}", m.host_port),
        None => format!("{p} . {}", m.host_port),
    }
}

fn map_of(m: &Mapping) -> &'static str {
    if m.host_ip.is_some() {
        "by-ip"
    } else {
        "any-ip"
    }
}

/// The table's fixed part (maps, hooks, masquerade), without mappings.
pub fn base_ruleset(table: &str, pod_cidr: Ipv4Cidr) -> String {
    format!(
        r#"table ip {table} {{
  map any-ip {{
    type inet_proto . inet_service : verdict
  }}
  map by-ip {{
    type ipv4_addr . inet_proto . inet_service : verdict
  }}
  chain hostports {{
    ip daddr . meta l4proto . th dport vmap @by-ip
    ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @any-ip
  }}
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    jump hostports
  }}
  chain output {{
    type nat hook output priority -100; policy accept;
    fib daddr type local jump hostports
  }}
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    meta mark & {MASQ_MARK:#x} == {MASQ_MARK:#x} ip saddr {pod_cidr} masquerade comment "rkube: hostPort hairpin"
  }}
}}
"#
    )
}

/// The `nft -f` lines that add `record`'s chains and elements for
/// `sandbox` (idempotent: an element already there is replaced).
pub fn add_script(table: &str, pod_cidr: Ipv4Cidr, sandbox: &str, record: &Record) -> String {
    let prefix = chain_prefix(sandbox);
    let mut s = String::new();
    for (i, m) in record.mappings.iter().enumerate() {
        let chain = format!("{prefix}-{i}");
        s.push_str(&format!("add chain ip {table} {chain}\n"));
        s.push_str(&format!("flush chain ip {table} {chain}\n"));
        s.push_str(&format!(
            "add rule ip {table} {chain} ip saddr {pod_cidr} meta mark set meta mark | {MASQ_MARK:#x}\n"
        ));
        s.push_str(&format!(
            "add rule ip {table} {chain} meta l4proto {} dnat to {}:{} comment \"{} {m}\"\n",
            proto_name(m.protocol),
            record.pod_ip,
            m.container_port,
            record.pod.replace('"', "")
        ));
        let (map, key) = (map_of(m), element_key(m));
        // Declared, deleted, added: replaces whatever verdict was there.
        s.push_str(&format!(
            "add element ip {table} {map} {{ {key} : jump {chain} }}\n"
        ));
        s.push_str(&format!("delete element ip {table} {map} {{ {key} }}\n"));
        s.push_str(&format!(
            "add element ip {table} {map} {{ {key} : jump {chain} }}\n"
        ));
    }
    s
}

/// The `nft -f` lines that remove `record`'s elements and chains.
pub fn del_script(table: &str, sandbox: &str, record: &Record) -> String {
    let prefix = chain_prefix(sandbox);
    let mut s = String::new();
    for m in &record.mappings {
        s.push_str(&format!(
            "delete element ip {table} {} {{ {} }}\n",
            map_of(m),
            element_key(m)
        ));
    }
    for i in 0..record.mappings.len() {
        s.push_str(&format!("flush chain ip {table} {prefix}-{i}\n"));
        s.push_str(&format!("delete chain ip {table} {prefix}-{i}\n"));
    }
    s
}

/// The whole table for `records`, replacing what was there (one
/// transaction).
pub fn full_script(table: &str, pod_cidr: Ipv4Cidr, records: &BTreeMap<String, Record>) -> String {
    let mut s = format!("table ip {table}\ndelete table ip {table}\n");
    s.push_str(&base_ruleset(table, pod_cidr));
    for (sandbox, r) in records {
        s.push_str(&add_script(table, pod_cidr, sandbox, r));
    }
    s
}

/// The node's hostPort mappings: the records and the table.
pub struct HostPorts {
    table: String,
    pod_cidr: Ipv4Cidr,
    dir: PathBuf,
    /// Sandbox id → its record; the lock also orders the `nft` runs.
    records: Mutex<BTreeMap<String, Record>>,
}

impl HostPorts {
    /// Reads the records and (re)builds the table from them.
    pub async fn open(config: &NetConfig) -> Result<HostPorts, NetError> {
        let dir = records_dir(config);
        std::fs::create_dir_all(&dir)
            .map_err(NetError::io(format!("creating {}", dir.display())))?;
        let mut records = BTreeMap::new();
        let entries =
            std::fs::read_dir(&dir).map_err(NetError::io(format!("reading {}", dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(sandbox) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            match std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| Record::parse(&t))
            {
                Some(r) => {
                    records.insert(sandbox, r);
                }
                None => {
                    warn!(path = %path.display(), "dropping an unreadable hostPort record");
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let hp = HostPorts {
            table: table_name(config),
            pod_cidr: config.pod_cidr,
            dir,
            records: Mutex::new(records),
        };
        hp.restore().await?;
        Ok(hp)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Rebuilds the whole table from the records (start-up, resync).
    pub async fn restore(&self) -> Result<(), NetError> {
        let records = self.records.lock().await;
        cmd::nft(&full_script(&self.table, self.pod_cidr, &records)).await?;
        let mapped: usize = records.values().map(|r| r.mappings.len()).sum();
        if mapped > 0 {
            info!(table = %self.table, sandboxes = records.len(), mappings = mapped, "hostPorts restored");
        }
        Ok(())
    }

    /// Maps `ports` of the sandbox to `pod_ip`; nothing when there are
    /// none. Refuses a port another sandbox holds.
    pub async fn add(
        &self,
        sandbox: &str,
        pod: &str,
        pod_ip: Ipv4Addr,
        ports: &[PortMapping],
    ) -> Result<(), NetError> {
        let wanted = mappings(ports)?;
        let mut records = self.records.lock().await;
        if wanted.is_empty() && !records.contains_key(sandbox) {
            return Ok(());
        }
        for (other, r) in records.iter().filter(|(s, _)| s.as_str() != sandbox) {
            for m in &wanted {
                if let Some(held) = r.mappings.iter().find(|h| h.clashes(m)) {
                    return Err(NetError::Config(format!(
                        "hostPort {m} is already in use by pod {} ({held}, sandbox {other})",
                        r.pod
                    )));
                }
            }
        }
        let record = Record {
            pod: pod.to_string(),
            pod_ip,
            mappings: wanted,
        };
        let mut script = String::new();
        if let Some(old) = records.get(sandbox) {
            if *old == record {
                // Re-attached after a restart: make sure the rules are there.
                script.push_str(&add_script(&self.table, self.pod_cidr, sandbox, &record));
                cmd::nft(&script).await?;
                return Ok(());
            }
            script.push_str(&del_script(&self.table, sandbox, old));
        }
        script.push_str(&add_script(&self.table, self.pod_cidr, sandbox, &record));
        let path = self.dir.join(sandbox);
        std::fs::write(&path, record.to_text())
            .map_err(NetError::io(format!("writing {}", path.display())))?;
        if let Err(e) = cmd::nft(&script).await {
            // What the table holds is what the old record said.
            match records.get(sandbox) {
                Some(old) => {
                    let _ = std::fs::write(&path, old.to_text());
                }
                None => {
                    let _ = std::fs::remove_file(&path);
                }
            }
            return Err(e);
        }
        debug!(sandbox, pod, %pod_ip, mappings = record.mappings.len(), "hostPorts mapped");
        if record.mappings.is_empty() {
            records.remove(sandbox);
            let _ = std::fs::remove_file(&path);
        } else {
            records.insert(sandbox.to_string(), record);
        }
        Ok(())
    }

    /// Removes the sandbox's mappings; nothing if it has none.
    pub async fn del(&self, sandbox: &str) -> Result<(), NetError> {
        let mut records = self.records.lock().await;
        let Some(record) = records.get(sandbox) else {
            return Ok(());
        };
        if let Err(e) = cmd::nft(&del_script(&self.table, sandbox, record)).await {
            // Gone already (someone removed the table): rebuild instead.
            warn!(sandbox, error = %e, "removing hostPort rules; rebuilding the table");
            let mut rest = records.clone();
            rest.remove(sandbox);
            cmd::nft(&full_script(&self.table, self.pod_cidr, &rest)).await?;
        }
        records.remove(sandbox);
        remove_file(&self.dir.join(sandbox))?;
        debug!(sandbox, "hostPorts unmapped");
        Ok(())
    }

    /// Drops the records of sandboxes not in `live` and rebuilds the table
    /// from the rest (connections already made keep their NAT entries).
    pub async fn gc(&self, live: &[String]) -> Result<(), NetError> {
        let mut records = self.records.lock().await;
        let dead: Vec<String> = records
            .keys()
            .filter(|s| !live.contains(s))
            .cloned()
            .collect();
        for s in &dead {
            records.remove(s);
            remove_file(&self.dir.join(s))?;
        }
        cmd::nft(&full_script(&self.table, self.pod_cidr, &records)).await?;
        if !dead.is_empty() {
            info!(
                removed = dead.len(),
                "hostPorts of sandboxes that are gone removed"
            );
        }
        Ok(())
    }

    /// The sandboxes with mappings and their records.
    pub async fn records(&self) -> BTreeMap<String, Record> {
        self.records.lock().await.clone()
    }
}

fn remove_file(path: &Path) -> Result<(), NetError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::io(format!("removing {}", path.display()))(e))
        }
        _ => Ok(()),
    }
}

/// Removes the table and the records (`rkube reset`); nothing if absent.
pub async fn remove(config: &NetConfig) -> Result<(), NetError> {
    let t = table_name(config);
    cmd::nft(&format!("table ip {t}\ndelete table ip {t}\n")).await?;
    let dir = records_dir(config);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::io(format!("removing {}", dir.display()))(e))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(proto: Protocol, hp: u16, ip: &str, cp: u16) -> PortMapping {
        PortMapping {
            protocol: proto,
            container_port: cp,
            host_port: hp,
            host_ip: ip.to_string(),
        }
    }

    fn record() -> Record {
        Record {
            pod: "default/web".into(),
            pod_ip: Ipv4Addr::new(10, 244, 0, 5),
            mappings: mappings(&[
                pm(Protocol::Tcp, 8080, "", 80),
                pm(Protocol::Udp, 5353, "192.168.1.10", 53),
            ])
            .expect("test"),
        }
    }

    #[test]
    fn base_table_dnats_local_addresses_and_masquerades_hairpin() {
        let r = base_ruleset("rkube-podnet-hostport", "10.244.0.0/24".parse().expect("t"));
        assert!(r.contains("type nat hook prerouting priority dstnat"));
        assert!(r.contains("type nat hook output priority -100"));
        assert!(r.contains(
            "ip daddr != 127.0.0.0/8 fib daddr type local meta l4proto . th dport vmap @any-ip"
        ));
        assert!(r.contains("ip daddr . meta l4proto . th dport vmap @by-ip"));
        assert!(r.contains("meta mark & 0x2000 == 0x2000 ip saddr 10.244.0.0/24 masquerade"));
    }

    #[test]
    fn add_script_has_one_chain_and_element_per_mapping() {
        let s = add_script("T", "10.244.0.0/24".parse().expect("t"), "sb1", &record());
        let p = chain_prefix("sb1");
        assert!(s.contains(&format!("add chain ip T {p}-0\n")));
        assert!(s.contains(&format!(
            "add rule ip T {p}-0 ip saddr 10.244.0.0/24 meta mark set meta mark | 0x2000\n"
        )));
        assert!(s.contains(&format!(
            "add rule ip T {p}-0 meta l4proto tcp dnat to 10.244.0.5:80 comment \"default/web 8080/TCP\"\n"
        )));
        assert!(s.contains(&format!(
            "add element ip T any-ip {{ tcp . 8080 : jump {p}-0 }}\n"
        )));
        assert!(s.contains(&format!(
            "add element ip T by-ip {{ 192.168.1.10 . udp . 5353 : jump {p}-1 }}\n"
        )));
        let d = del_script("T", "sb1", &record());
        assert_eq!(
            d,
            format!(
                "delete element ip T any-ip {{ tcp . 8080 }}\n\
                 delete element ip T by-ip {{ 192.168.1.10 . udp . 5353 }}\n\
                 flush chain ip T {p}-0\ndelete chain ip T {p}-0\n\
                 flush chain ip T {p}-1\ndelete chain ip T {p}-1\n"
            )
        );
    }

    #[test]
    fn records_read_back() {
        let r = record();
        assert_eq!(Record::parse(&r.to_text()), Some(r));
        assert_eq!(Record::parse("garbage"), None);
    }

    #[test]
    fn clashes_as_the_scheduler_sees_them() {
        let any = Mapping {
            protocol: Protocol::Tcp,
            host_port: 80,
            host_ip: None,
            container_port: 8080,
        };
        let one = Mapping {
            host_ip: Some(Ipv4Addr::new(10, 0, 0, 1)),
            ..any.clone()
        };
        let other = Mapping {
            host_ip: Some(Ipv4Addr::new(10, 0, 0, 2)),
            ..any.clone()
        };
        let udp = Mapping {
            protocol: Protocol::Udp,
            ..any.clone()
        };
        assert!(any.clashes(&one));
        assert!(!one.clashes(&other));
        assert!(!any.clashes(&udp));
        assert_eq!(one.to_string(), "80/TCP on 10.0.0.1");
    }

    #[test]
    fn refuses_loopback_ipv6_and_double_ports() {
        assert!(mappings(&[pm(Protocol::Tcp, 80, "127.0.0.1", 80)]).is_err());
        assert!(mappings(&[pm(Protocol::Tcp, 80, "::1", 80)]).is_err());
        assert!(mappings(&[pm(Protocol::Tcp, 80, "", 80), pm(Protocol::Tcp, 80, "", 81)]).is_err());
        // The same mapping twice (two containers) is one.
        let m = mappings(&[
            pm(Protocol::Tcp, 80, "0.0.0.0", 8),
            pm(Protocol::Tcp, 80, "", 8),
        ])
        .expect("test");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].host_ip, None);
    }
}
