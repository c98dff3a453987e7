//! The fixed part of the proxy's table: base chains on the netfilter hooks,
//! the dispatch chains and the maps the per-Service objects are reached
//! through — kube-proxy's nftables layout. Written once per full sync
//! ([`base_commands`]); incremental syncs only touch per-Service objects
//! and map elements.
//!
//! Priorities are numbers (nft 1.0.6 takes `dstnat` only on prerouting):
//! the filter chains at -110 (before DNAT, so they see the Service's
//! address), NAT at -100 (`dstnat`) and 100 (`srcnat`), and
//! `filter-output-post-dnat` at -90.

use std::fmt::Write as _;

use rkube_net::Ipv4Cidr;

use crate::rules::{
    CLUSTER_IPS, FIREWALL_IPS, HAIRPIN_IPS, MARK_MASQ_CHAIN, NO_ENDPOINT_NODEPORTS,
    NO_ENDPOINT_SERVICES, REJECT_CHAIN, SERVICE_IPS, SERVICE_NODEPORTS,
};

/// The packet mark that asks for masquerade (kube-proxy's bit 14).
pub const MASQ_MARK: &str = "0x4000";

/// What the fixed part depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseConfig {
    pub table: String,
    /// The pods' bridge: loopback destinations from it are dropped unless
    /// they were DNATed (the bridge has `route_localnet=1` for the
    /// `kubernetes` Service's 127.0.0.1 endpoint).
    pub bridge: String,
    pub cluster_cidr: Ipv4Cidr,
}

const BASE_CHAINS: &[(&str, &str, &str, i32)] = &[
    ("filter-prerouting", "filter", "prerouting", -110),
    ("filter-input", "filter", "input", -110),
    ("filter-forward", "filter", "forward", -110),
    ("filter-output", "filter", "output", -110),
    ("filter-output-post-dnat", "filter", "output", -90),
    ("nat-prerouting", "nat", "prerouting", -100),
    ("nat-output", "nat", "output", -100),
    ("nat-postrouting", "nat", "postrouting", 100),
];

const MAPS: &[(&str, &str)] = &[
    (
        SERVICE_IPS,
        "ipv4_addr . inet_proto . inet_service : verdict",
    ),
    (SERVICE_NODEPORTS, "inet_proto . inet_service : verdict"),
    (
        NO_ENDPOINT_SERVICES,
        "ipv4_addr . inet_proto . inet_service : verdict",
    ),
    (NO_ENDPOINT_NODEPORTS, "inet_proto . inet_service : verdict"),
    (
        FIREWALL_IPS,
        "ipv4_addr . inet_proto . inet_service : verdict",
    ),
];

/// The table from scratch: `add` commands for the table, its fixed chains,
/// maps and rules (the caller deletes the old table first, in the same
/// transaction).
pub fn base_commands(c: &BaseConfig) -> String {
    let t = format!("ip {}", c.table);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "add table {t} {{ comment \"rkube-proxy: Services (after kube-proxy's nftables mode)\" ; }}"
    );
    for (name, kind, hook, prio) in BASE_CHAINS {
        let _ = writeln!(
            s,
            "add chain {t} {name} {{ type {kind} hook {hook} priority {prio} ; policy accept ; }}"
        );
    }
    for (name, kind) in MAPS {
        let _ = writeln!(s, "add map {t} {name} {{ type {kind} ; }}");
    }
    let _ = writeln!(s, "add set {t} {CLUSTER_IPS} {{ type ipv4_addr ; }}");
    let _ = writeln!(
        s,
        "add set {t} {HAIRPIN_IPS} {{ type ipv4_addr . ipv4_addr ; }}"
    );
    for chain in [
        "services",
        "endpoints-check",
        "firewall-check",
        "cluster-ips-check",
        "masquerading",
        MARK_MASQ_CHAIN,
        REJECT_CHAIN,
    ] {
        let _ = writeln!(s, "add chain {t} {chain}");
    }
    let not_loopback = "ip daddr != 127.0.0.0/8";
    let br = &c.bridge;
    let rules: &[(&str, String)] = &[
        ("filter-prerouting", "ct state new jump firewall-check".into()),
        ("filter-input", "ct state new jump endpoints-check".into()),
        (
            "filter-input",
            format!(
                "iifname \"{br}\" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop comment \"loopback from pods only through a Service\""
            ),
        ),
        ("filter-forward", "ct state new jump endpoints-check".into()),
        ("filter-forward", "ct state new jump cluster-ips-check".into()),
        ("filter-output", "ct state new jump endpoints-check".into()),
        ("filter-output", "ct state new jump firewall-check".into()),
        (
            "filter-output-post-dnat",
            "ct state new jump cluster-ips-check".into(),
        ),
        ("nat-prerouting", "jump services".into()),
        ("nat-output", "jump services".into()),
        ("nat-postrouting", "jump masquerading".into()),
        (
            "services",
            format!("ip daddr . meta l4proto . th dport vmap @{SERVICE_IPS}"),
        ),
        (
            "services",
            format!(
                "fib daddr type local {not_loopback} meta l4proto . th dport vmap @{SERVICE_NODEPORTS}"
            ),
        ),
        (
            "endpoints-check",
            format!("ip daddr . meta l4proto . th dport vmap @{NO_ENDPOINT_SERVICES}"),
        ),
        (
            "endpoints-check",
            format!(
                "fib daddr type local {not_loopback} meta l4proto . th dport vmap @{NO_ENDPOINT_NODEPORTS}"
            ),
        ),
        (
            "firewall-check",
            format!("ip daddr . meta l4proto . th dport vmap @{FIREWALL_IPS}"),
        ),
        (
            "cluster-ips-check",
            format!(
                "ip daddr @{CLUSTER_IPS} reject comment \"no such port on this ClusterIP\""
            ),
        ),
        (MARK_MASQ_CHAIN, format!("meta mark set meta mark or {MASQ_MARK}")),
        (
            "masquerading",
            format!(
                "ct status dnat ip saddr . ip daddr @{HAIRPIN_IPS} masquerade fully-random comment \"hairpin\""
            ),
        ),
        ("masquerading", format!("meta mark & {MASQ_MARK} == 0 return")),
        (
            "masquerading",
            format!("meta mark set meta mark xor {MASQ_MARK}"),
        ),
        ("masquerading", "masquerade fully-random".into()),
        (REJECT_CHAIN, "reject".into()),
    ];
    for (chain, rule) in rules {
        let _ = writeln!(s, "add rule {t} {chain} {rule}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_has_kube_proxys_layout() {
        let s = base_commands(&BaseConfig {
            table: "rkube-proxy".into(),
            bridge: "rkube0".into(),
            cluster_cidr: "10.244.0.0/16".parse().expect("cidr"),
        });
        assert!(s.contains(
            "add chain ip rkube-proxy nat-prerouting { type nat hook prerouting priority -100 ; policy accept ; }"
        ));
        assert!(s.contains("add map ip rkube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }"));
        assert!(s.contains("add rule ip rkube-proxy services fib daddr type local ip daddr != 127.0.0.0/8 meta l4proto . th dport vmap @service-nodeports"));
        assert!(s.contains("add rule ip rkube-proxy reject-chain reject"));
        assert!(s.contains("iifname \"rkube0\" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop"));
    }
}
