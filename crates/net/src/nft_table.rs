//! rkube's own nftables table (`rkube-podnet`, family `ip`): masquerade for
//! traffic from the pod range to addresses outside the cluster range (the
//! CNI bridge plugin's `ipMasq`), and forwarding to and from the bridge
//! accepted. Written as one `nft -f` transaction that replaces the whole
//! table, so start-up is idempotent and never touches another table.

use crate::cmd;
use crate::config::NetConfig;
use crate::error::NetError;

/// The table's text: what [`apply`] loads.
pub fn ruleset(config: &NetConfig) -> String {
    let t = &config.nft_table;
    let br = &config.bridge;
    let pods = config.pod_cidr;
    let cluster = config.cluster_cidr;
    format!(
        r#"table ip {t} {{
  chain postrouting {{
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr {pods} ip daddr != {cluster} ip daddr != 224.0.0.0/4 masquerade comment "rkube: pods to outside the cluster"
  }}
  chain forward {{
    type filter hook forward priority filter; policy accept;
    iifname "{br}" accept comment "rkube: from pods"
    oifname "{br}" accept comment "rkube: to pods"
  }}
}}
"#
    )
}

/// Creates or replaces the table, in one transaction.
pub async fn apply(config: &NetConfig) -> Result<(), NetError> {
    let t = &config.nft_table;
    // Declaring the table first makes the delete succeed when it is absent.
    let script = format!("table ip {t}\ndelete table ip {t}\n{}", ruleset(config));
    cmd::nft(&script).await
}

/// Removes the table; nothing if it is absent.
pub async fn remove(config: &NetConfig) -> Result<(), NetError> {
    let t = &config.nft_table;
    cmd::nft(&format!("table ip {t}\ndelete table ip {t}\n")).await
}

/// The table as `nft list` shows it, or `None` if absent.
pub async fn list(config: &NetConfig) -> Result<Option<String>, NetError> {
    match cmd::run(cmd::NFT, &["list", "table", "ip", &config.nft_table], None).await {
        Ok(s) => Ok(Some(s)),
        Err(NetError::Command { stderr, .. }) if stderr.contains("No such file or directory") => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masquerades_only_what_leaves_the_cluster() {
        let c = NetConfig::new("10.244.3.0/24", std::path::Path::new("/d")).expect("test");
        let r = ruleset(&c);
        assert!(r.contains("table ip rkube-podnet {"));
        assert!(r.contains(
            "ip saddr 10.244.3.0/24 ip daddr != 10.244.0.0/16 ip daddr != 224.0.0.0/4 masquerade"
        ));
        assert!(r.contains(r#"iifname "rkube0" accept"#));
    }
}
