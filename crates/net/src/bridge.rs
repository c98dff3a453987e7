//! [`BridgeNetwork`]: the [`NetworkPlugin`] of a real node, after the CNI
//! bridge plugin (`isGateway`, `ipMasq`, `hairpinMode`) with host-local
//! IPAM.
//!
//! Each pod gets a veth pair: the pod end `eth0` with the pod's address and
//! a default route via the bridge, the host end `rkv` + 8 hex digits of a
//! hash of the sandbox id, a port of the bridge with hairpin on. One `ip`
//! process per pod, inside its namespace (through `nsenter`), makes the
//! pair with its host end in the host's namespace and sets up the pod's
//! side; the host-side lines of all pods being attached at the same time go
//! to one `ip -batch` (`LinkBatcher`).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use rkube_cri::{CriError, NetworkAttachment, NetworkPlugin, PodAddress};
use tracing::{debug, info, warn};

use crate::cmd;
use crate::config::NetConfig;
use crate::error::NetError;
use crate::host;
use crate::ipam::Ipam;
use crate::link_batcher::LinkBatcher;
use crate::portmap::HostPorts;
pub use crate::veth::{veth_name, VETH_PREFIX};

/// The node's pod network: its bridge, routes and table set up by
/// [`BridgeNetwork::start`], pods attached by [`NetworkPlugin::add`].
pub struct BridgeNetwork {
    config: NetConfig,
    ipam: Ipam,
    host_links: Arc<LinkBatcher>,
    /// The pods' `hostPort`s (CNI portmap).
    hostports: HostPorts,
    /// This process's network namespace, the host's: where the host ends
    /// of the veths go (`/proc/<pid>/ns/net`).
    host_netns: PathBuf,
}

impl BridgeNetwork {
    /// Sets up the node's side (bridge, dummy interface, routes,
    /// `ip_forward`, nftables table, host firewall exceptions) and reads
    /// back the address records: everything a previous run made is kept.
    pub async fn start(config: NetConfig) -> Result<BridgeNetwork, NetError> {
        config.validate()?;
        host::setup(&config).await?;
        let ipam = Ipam::open(&ipam_dir(&config), config.pod_cidr)?;
        let held = ipam.allocations().len();
        let hostports = HostPorts::open(&config).await?;
        info!(state_dir = %config.state_dir.display(), addresses_held = held, "pod network started");
        Ok(BridgeNetwork {
            config,
            ipam,
            host_links: Arc::default(),
            hostports,
            host_netns: PathBuf::from(format!("/proc/{}/ns/net", std::process::id())),
        })
    }

    pub fn config(&self) -> &NetConfig {
        &self.config
    }

    /// Runs the node's set-up again (idempotent): to restore what someone
    /// removed, or to let pod traffic through a firewall that started
    /// after rkube (Docker setting the FORWARD policy to DROP).
    pub async fn resync(&self) -> Result<(), NetError> {
        host::setup(&self.config).await?;
        self.hostports.restore().await
    }

    /// The pods' `hostPort` mappings.
    pub fn hostports(&self) -> &HostPorts {
        &self.hostports
    }

    /// The address recorded for `sandbox_id`, if any.
    pub fn address_of(&self, sandbox_id: &str) -> Option<Ipv4Addr> {
        self.ipam.get(sandbox_id)
    }

    /// Removes everything [`BridgeNetwork::start`] and the attachments
    /// made; see [`teardown`]. Not for a normal stop: pods keep running
    /// across agent restarts and keep their network.
    pub async fn teardown_all(self) -> Result<(), NetError> {
        teardown(&self.config).await
    }

    async fn attach(&self, a: &NetworkAttachment) -> Result<PodAddress, NetError> {
        let sandbox = &a.sandbox_id;
        if !a.netns_path.exists() {
            return Err(NetError::Config(format!(
                "the network namespace {} of sandbox {sandbox} does not exist",
                a.netns_path.display()
            )));
        }
        let known = self.ipam.get(sandbox).is_some();
        let ip = self.ipam.allocate(sandbox)?;
        let veth = veth_name(sandbox);
        let address = PodAddress {
            ip: IpAddr::V4(ip),
            gateway: IpAddr::V4(self.config.pod_cidr.gateway()),
            prefix_len: self.config.pod_cidr.prefix_len(),
        };
        let host_lines = host_lines(&self.config.bridge, &veth);
        let pod_side = pod_batch(
            ip,
            self.config.pod_cidr.prefix_len(),
            self.config.pod_cidr.gateway(),
        );
        if host::link_exists(&veth) {
            // Attached before (an agent restart): make sure both sides are
            // as they should be.
            if known
                && cmd::ip_batch_in(&a.netns_path, &pod_side).await.is_ok()
                && self.host_links.run(host_lines.clone()).await.is_ok()
            {
                debug!(sandbox, %ip, veth, "pod network already attached");
                return Ok(address);
            }
            warn!(sandbox, veth, "replacing a stale veth");
            cmd::ip_batch(&format!("link del {veth}\n")).await?;
        }
        let create = format!(
            "link add eth0 type veth peer name {veth} netns {}\n{pod_side}",
            self.host_netns.display()
        );
        let result = async {
            cmd::ip_batch_in(&a.netns_path, &create).await?;
            self.host_links.run(host_lines).await
        }
        .await;
        if let Err(e) = result {
            if host::link_exists(&veth) {
                let _ = cmd::ip_batch(&format!("link del {veth}\n")).await;
            }
            if !known {
                let _ = self.ipam.release(sandbox);
            }
            return Err(e);
        }
        debug!(sandbox, %ip, veth, pod = %format!("{}/{}", a.pod_namespace, a.pod_name),
            "pod network attached");
        Ok(address)
    }

    async fn detach(&self, sandbox: &str) -> Result<(), NetError> {
        let veth = veth_name(sandbox);
        if host::link_exists(&veth) {
            match cmd::ip_batch(&format!("link del {veth}\n")).await {
                // Gone meanwhile (its namespace was removed).
                Err(NetError::Command { stderr, .. }) if stderr.contains("Cannot find device") => {}
                other => other?,
            }
        }
        if let Some(ip) = self.ipam.release(sandbox)? {
            debug!(sandbox, %ip, veth, "pod network detached");
        }
        Ok(())
    }

    async fn collect(&self, live: &[String]) -> Result<(), NetError> {
        let live: HashSet<&str> = live.iter().map(String::as_str).collect();
        let dead: Vec<String> = self
            .ipam
            .allocations()
            .into_iter()
            .map(|(sandbox, _)| sandbox)
            .filter(|s| !live.contains(s.as_str()))
            .collect();
        // The veths of sandboxes that are gone, and ports whose record was
        // lost: one `ip` for all of them.
        let live_veths: HashSet<String> = live.iter().map(|s| veth_name(s)).collect();
        let mut doomed: HashSet<String> = dead
            .iter()
            .map(|s| veth_name(s))
            .filter(|v| host::link_exists(v))
            .collect();
        doomed.extend(
            host::bridge_ports(&self.config.bridge)
                .into_iter()
                .filter(|p| p.starts_with(VETH_PREFIX) && !live_veths.contains(p)),
        );
        let batch: String = doomed.iter().map(|v| format!("link del {v}\n")).collect();
        if !batch.is_empty() {
            // -force: one already gone does not stop the others.
            if let Err(e) = cmd::run(cmd::IP, &["-force", "-batch", "-"], Some(&batch)).await {
                warn!(error = %e, "removing the veths of sandboxes that are gone");
            }
        }
        for sandbox in &dead {
            self.ipam.release(sandbox)?;
        }
        if !dead.is_empty() || !doomed.is_empty() {
            info!(
                released = dead.len(),
                veths_removed = doomed.len(),
                "released the addresses of sandboxes that are gone"
            );
        }
        Ok(())
    }
}

#[async_trait]
impl NetworkPlugin for BridgeNetwork {
    async fn add(&self, attachment: &NetworkAttachment) -> Result<PodAddress, CriError> {
        let known = self.ipam.get(&attachment.sandbox_id).is_some();
        let address = self.attach(attachment).await?;
        let IpAddr::V4(ip) = address.ip else {
            return Ok(address);
        };
        let pod = format!("{}/{}", attachment.pod_namespace, attachment.pod_name);
        let mapped = self
            .hostports
            .add(&attachment.sandbox_id, &pod, ip, &attachment.port_mappings)
            .await;
        if let Err(e) = mapped {
            // A clash (or a failed rule) fails the sandbox: nothing of a
            // new one stays behind.
            if !known {
                if let Err(d) = self.detach(&attachment.sandbox_id).await {
                    warn!(sandbox = %attachment.sandbox_id, error = %d, "undoing the attachment");
                }
            }
            return Err(e.into());
        }
        Ok(address)
    }

    async fn del(&self, sandbox_id: &str) -> Result<(), CriError> {
        self.hostports.del(sandbox_id).await?;
        Ok(self.detach(sandbox_id).await?)
    }

    async fn gc(&self, live: &[String]) -> Result<(), CriError> {
        self.collect(live).await?;
        Ok(self.hostports.gc(live).await?)
    }
}

/// Removes the node's pod network as `config` names it: every port of the
/// bridge, the bridge, the dummy interface and their routes, the nftables
/// tables (the pod network's and the hostPorts'), the host firewall exceptions and the address records. Works
/// without a running [`BridgeNetwork`] (`rkube`'s explicit clean-up).
pub async fn teardown(config: &NetConfig) -> Result<(), NetError> {
    host::teardown(config).await?;
    crate::portmap::remove(config).await?;
    crate::node_routes::remove_all(None, config.cluster_cidr).await?;
    let dir = ipam_dir(config);
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(NetError::io(format!("removing {}", dir.display()))(e))
        }
        _ => Ok(()),
    }
}

fn ipam_dir(config: &NetConfig) -> std::path::PathBuf {
    config.state_dir.join("ipam")
}

/// Host side (idempotent): the host end on the bridge, up, hairpin on.
fn host_lines(bridge: &str, veth: &str) -> String {
    format!(
        "link set dev {veth} master {bridge} up\n\
         link set dev {veth} type bridge_slave hairpin on\n"
    )
}

/// Pod side (idempotent): `lo` up, the address, `eth0` up, the default
/// route via the bridge.
fn pod_batch(ip: Ipv4Addr, prefix_len: u8, gateway: Ipv4Addr) -> String {
    format!(
        "link set lo up\n\
         addr replace {ip}/{prefix_len} dev eth0\n\
         link set eth0 up\n\
         route replace default via {gateway} dev eth0\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn veth_names_are_short_stable_and_distinct() {
        let a = veth_name("0123456789abcdef0123456789abcdef");
        assert_eq!(a.len(), 11);
        assert!(a.starts_with("rkv"));
        assert_eq!(a, veth_name("0123456789abcdef0123456789abcdef"));
        assert_ne!(a, veth_name("0123456789abcdef0123456789abcdee"));
        assert_eq!(veth_name(""), "rkv811c9dc5");
    }

    #[test]
    fn batches_as_iproute2_reads_them() {
        let h = host_lines("rkube0", "rkv00000001");
        assert!(h.starts_with("link set dev rkv00000001 master rkube0 up\n"));
        assert!(h.contains("hairpin on"));
        let p = pod_batch(
            Ipv4Addr::new(10, 244, 0, 2),
            24,
            Ipv4Addr::new(10, 244, 0, 1),
        );
        assert!(p.contains("addr replace 10.244.0.2/24 dev eth0\n"));
        assert!(p.contains("route replace default via 10.244.0.1 dev eth0\n"));
    }
}
