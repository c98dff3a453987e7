//! Living with a host firewall that drops forwarded traffic (Docker's).
//!
//! With `br_netfilter` loaded (`net.bridge.bridge-nf-call-iptables=1`, as
//! Docker and kube-proxy want it) even traffic between two ports of the
//! bridge passes the IPv4 `forward` hook. Docker sets the iptables `FORWARD`
//! policy to DROP; a drop in any table is final in netfilter, so an accept
//! in rkube's own nftables table cannot let pod traffic through. As
//! flannel, the CNI firewall plugin and kube-proxy do, rkube then inserts
//! rules of its own at the top of that `FORWARD` chain, marked with a
//! comment naming the bridge: traffic from the bridge, and replies to it.
//! It changes no rule it did not create (nor the policy), does nothing
//! when the policy is ACCEPT, and removes exactly its own rules at
//! teardown. Both iptables back ends are looked at (`iptables-nft` and
//! `iptables-legacy`: their hooks both run); a missing binary means that
//! back end has no rules.

use tracing::info;

use crate::cmd::{self, Tool};
use crate::config::NetConfig;
use crate::error::NetError;

const BACKENDS: [Tool; 2] = [
    Tool {
        name: "iptables-nft",
        package: "iptables",
    },
    Tool {
        name: "iptables-legacy",
        package: "iptables",
    },
];

/// rkube's rules for `config`'s bridge, as iptables arguments after the
/// chain name.
fn rules(config: &NetConfig) -> [Vec<String>; 2] {
    let comment = format!("rkube-podnet {}", config.bridge);
    let s = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    [
        [
            s(&["-i", &config.bridge]),
            s(&["-m", "comment", "--comment", &comment, "-j", "ACCEPT"]),
        ]
        .concat(),
        [
            s(&["-o", &config.bridge, "-m", "conntrack"]),
            s(&["--ctstate", "RELATED,ESTABLISHED"]),
            s(&["-m", "comment", "--comment", &comment, "-j", "ACCEPT"]),
        ]
        .concat(),
    ]
}

/// Whether `iptables -S FORWARD` output shows a DROP policy.
pub fn drops_forwarded(listing: &str) -> bool {
    listing.lines().any(|l| l.trim() == "-P FORWARD DROP")
}

/// Inserts rkube's rules in each back end whose `FORWARD` policy drops.
pub async fn ensure(config: &NetConfig) -> Result<(), NetError> {
    for tool in BACKENDS {
        let listing = match cmd::run(tool, &["-w", "-S", "FORWARD"], None).await {
            Ok(l) => l,
            // Not installed, or its tables cannot be read: no rules there.
            Err(_) => continue,
        };
        if !drops_forwarded(&listing) {
            continue;
        }
        for rule in rules(config).iter().rev() {
            if has(tool, rule).await {
                continue;
            }
            let mut args = vec!["-w", "-I", "FORWARD", "1"];
            args.extend(rule.iter().map(String::as_str));
            cmd::run(tool, &args, None).await?;
            info!(iptables = tool.name, bridge = %config.bridge,
                "FORWARD policy is DROP (Docker?): accepted the pod bridge's traffic");
        }
    }
    Ok(())
}

/// Removes rkube's rules from both back ends (every copy of them).
pub async fn remove(config: &NetConfig) {
    for tool in BACKENDS {
        for rule in rules(config) {
            for _ in 0..16 {
                if !has(tool, &rule).await {
                    break;
                }
                let mut args = vec!["-w", "-D", "FORWARD"];
                args.extend(rule.iter().map(String::as_str));
                if cmd::run(tool, &args, None).await.is_err() {
                    break;
                }
            }
        }
    }
}

async fn has(tool: Tool, rule: &[String]) -> bool {
    let mut args = vec!["-w", "-C", "FORWARD"];
    args.extend(rule.iter().map(String::as_str));
    cmd::run(tool, &args, None).await.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_policy() {
        assert!(drops_forwarded(
            "-P FORWARD DROP\n-A FORWARD -j DOCKER-USER\n"
        ));
        assert!(!drops_forwarded("-P FORWARD ACCEPT\n"));
    }

    #[test]
    fn rules_name_the_bridge() {
        let c = NetConfig::new("10.244.0.0/24", std::path::Path::new("/d")).expect("test");
        let [from, to] = rules(&c);
        assert_eq!(from[..2], ["-i", "rkube0"]);
        assert!(to.contains(&"RELATED,ESTABLISHED".to_string()));
        assert!(from.contains(&"rkube-podnet rkube0".to_string()));
    }
}
