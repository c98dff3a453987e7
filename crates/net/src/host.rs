//! The node's side of the pod network: the bridge with the gateway address,
//! rkube's dummy interface, the routes of the cluster and service ranges,
//! `ip_forward`, the nftables table and the host firewall's exceptions.
//! [`setup`] is idempotent (a restarted agent finds and keeps everything);
//! [`teardown`] removes all of it.

use std::path::Path;

use tracing::{info, warn};

use crate::cmd;
use crate::config::NetConfig;
use crate::error::NetError;
use crate::{host_firewall, nft_table};

/// Whether the interface `name` exists in the host's namespace.
pub fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The interfaces attached to `bridge`.
pub fn bridge_ports(bridge: &str) -> Vec<String> {
    let dir = Path::new("/sys/class/net").join(bridge).join("brif");
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect()
}

/// The `ip -batch` commands that bring the host side to what `config`
/// says, given whether the bridge exists already (the dummy interface is
/// made before, by [`create_dummy`]).
pub fn setup_batch(config: &NetConfig, bridge_exists: bool) -> String {
    let br = &config.bridge;
    let dummy = &config.dummy;
    let mut b = String::new();
    if !bridge_exists {
        b.push_str(&format!("link add {br} type bridge\n"));
    }
    // The kernel adds the route of the pod range on the bridge with it.
    b.push_str(&format!(
        "addr replace {}/{} dev {br}\n",
        config.pod_cidr.gateway(),
        config.pod_cidr.prefix_len()
    ));
    b.push_str(&format!("link set {br} up\n"));
    b.push_str(&format!("link set {dummy} up\n"));
    // More specific than the cluster range, the pod range stays on the
    // bridge; the rest of the cluster range and the service range end on
    // the dummy (dropped there unless kube-proxy's DNAT rewrote them).
    // (A cluster range that is the node's own pod range has no rest: a
    // route of it to the dummy would take the bridge's place.)
    if config.cluster_cidr != config.pod_cidr {
        b.push_str(&format!(
            "route replace {} dev {dummy}\n",
            config.cluster_cidr
        ));
    }
    b.push_str(&format!(
        "route replace {} dev {dummy}\n",
        config.service_cidr
    ));
    b
}

/// Brings up the node's side of the pod network (idempotent).
pub async fn setup(config: &NetConfig) -> Result<(), NetError> {
    config.validate()?;
    if !link_exists(&config.dummy) {
        create_dummy(&config.dummy).await?;
    }
    cmd::ip_batch(&setup_batch(config, link_exists(&config.bridge))).await?;
    enable_forwarding()?;
    nft_table::apply(config).await?;
    host_firewall::ensure(config).await?;
    info!(bridge = %config.bridge, pod_cidr = %config.pod_cidr, cluster_cidr = %config.cluster_cidr,
        service_cidr = %config.service_cidr, dummy = %config.dummy, "pod network ready");
    Ok(())
}

/// Makes the interface the cluster and service ranges are routed to: a
/// `dummy`, or where the kernel has no dummy driver (this development
/// host's has none) an `ifb` — equally without ARP, and dropping whatever
/// is sent to it that tc did not redirect there.
pub async fn create_dummy(name: &str) -> Result<(), NetError> {
    match cmd::ip_batch(&format!("link add {name} type dummy\n")).await {
        Err(NetError::Command { stderr, .. }) if stderr.contains("Unknown device type") => {
            info!(name, "the kernel has no dummy interfaces: using an ifb");
            cmd::ip_batch(&format!("link add {name} type ifb\n")).await
        }
        other => other,
    }
}

/// `net.ipv4.ip_forward=1` (pods' traffic leaves through the host).
fn enable_forwarding() -> Result<(), NetError> {
    let path = "/proc/sys/net/ipv4/ip_forward";
    if std::fs::read_to_string(path).is_ok_and(|v| v.trim() == "1") {
        return Ok(());
    }
    std::fs::write(path, "1").map_err(NetError::io(format!("writing 1 to {path}")))
}

/// Removes the bridge's ports, the bridge, the dummy (and with them their
/// routes), the nftables table and the host firewall's exceptions.
/// Leaves `ip_forward` as it is (other programs may rely on it).
pub async fn teardown(config: &NetConfig) -> Result<(), NetError> {
    let mut batch = String::new();
    for port in bridge_ports(&config.bridge) {
        batch.push_str(&format!("link del {port}\n"));
    }
    if link_exists(&config.dummy) {
        batch.push_str(&format!(
            "route del {} dev {}\n",
            config.service_cidr, config.dummy
        ));
        if config.cluster_cidr != config.pod_cidr {
            batch.push_str(&format!(
                "route del {} dev {}\n",
                config.cluster_cidr, config.dummy
            ));
        }
        batch.push_str(&format!("link del {}\n", config.dummy));
    }
    if link_exists(&config.bridge) {
        batch.push_str(&format!("link del {}\n", config.bridge));
    }
    let mut first_error = None;
    if !batch.is_empty() {
        // -force: go on past a line that fails (a route already gone).
        if let Err(e) = cmd::run(cmd::IP, &["-force", "-batch", "-"], Some(&batch)).await {
            warn!(error = %e, "removing the pod network's interfaces");
            first_error = Some(e);
        }
    }
    if let Err(e) = nft_table::remove(config).await {
        warn!(error = %e, "removing the pod network's nftables table");
        first_error.get_or_insert(e);
    }
    host_firewall::remove(config).await;
    match first_error {
        Some(e) if link_exists(&config.bridge) || link_exists(&config.dummy) => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setup_creates_only_what_is_missing() {
        let c = NetConfig::new("10.244.5.0/24", Path::new("/d")).expect("test");
        let fresh = setup_batch(&c, false);
        assert!(fresh.contains("link add rkube0 type bridge\n"));
        assert!(fresh.contains("addr replace 10.244.5.1/24 dev rkube0\n"));
        assert!(fresh.contains("route replace 10.244.0.0/16 dev rkube-svc0\n"));
        assert!(fresh.contains("route replace 10.96.0.0/12 dev rkube-svc0\n"));
        let again = setup_batch(&c, true);
        assert!(!again.contains("link add"));
        assert!(again.contains("route replace 10.96.0.0/12 dev rkube-svc0\n"));
    }
}
