//! The pod's resolv.conf from `dnsPolicy` and `dnsConfig`, as the kubelet
//! works it out: `ClusterFirst` uses cluster DNS (or, while the node has
//! none, the host's resolv.conf with a `MissingClusterDNS` event);
//! `ClusterFirstWithHostNet` does so for host-network pods too; `Default`
//! is the host's; `None` is `dnsConfig` alone. `dnsConfig` is merged into
//! the others, and the result is cut to the kubelet's limits (3 name
//! servers, 32 search domains of at most 2048 characters together).

use k8s_openapi::api::core::v1::Pod;
use rkube_cri::DnsConfig;

use crate::kubelet::config::KubeletConfig;

/// The upstream servers of systemd-resolved.
pub const SYSTEMD_RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// Whether every name server is a loopback address (a local stub
/// resolver a pod cannot reach).
pub fn only_loopback(r: &ResolvConf) -> bool {
    !r.nameservers.is_empty()
        && r.nameservers.iter().all(|n| {
            n.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
        })
}

/// Name servers a resolv.conf may hold (glibc's MAXNS).
const MAX_NAMESERVERS: usize = 3;
/// Search domains the kubelet passes on.
const MAX_SEARCH_PATHS: usize = 32;
/// Characters of the search line the kubelet passes on.
const MAX_SEARCH_CHARS: usize = 2048;

/// How the pod's DNS is resolved once `dnsPolicy` and `hostNetwork` are
/// taken together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Cluster,
    Host,
    None,
}

fn kind(pod: &Pod) -> Kind {
    let spec = pod.spec.as_ref();
    let host_network = spec.and_then(|s| s.host_network).unwrap_or(false);
    match spec
        .and_then(|s| s.dns_policy.as_deref())
        .unwrap_or("ClusterFirst")
    {
        "None" => Kind::None,
        "Default" => Kind::Host,
        "ClusterFirstWithHostNet" => Kind::Cluster,
        // ClusterFirst: host-network pods get the host's.
        _ if host_network => Kind::Host,
        _ => Kind::Cluster,
    }
}

/// Whether the pod asks for cluster DNS the node does not have: the pod
/// worker then records a Warning `MissingClusterDNS` event
/// ([`missing_cluster_dns_message`]) and the pod gets the host's
/// resolv.conf.
pub fn missing_cluster_dns(pod: &Pod, config: &KubeletConfig) -> bool {
    kind(pod) == Kind::Cluster && config.cluster_dns.is_empty()
}

/// The message of the `MissingClusterDNS` event, in the kubelet's words.
pub fn missing_cluster_dns_message(pod: &Pod) -> String {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let ns = pod.metadata.namespace.as_deref().unwrap_or_default();
    format!(
        "pod: \"{name}_{ns}({})\". kubelet does not have ClusterDNS IP configured and cannot \
         create Pod using \"ClusterFirst\" policy. Falling back to \"Default\" policy.",
        pod.metadata.uid.as_deref().unwrap_or_default()
    )
}

/// What a resolv.conf says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// Parse a resolv.conf as the kubelet does: every `nameserver`, the last
/// `search` line (trailing dots removed), every `options` entry.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut out = ResolvConf::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("nameserver") => out.nameservers.extend(fields.next().map(str::to_string)),
            Some("search") => {
                out.searches = fields
                    .map(|s| s.trim_end_matches('.').to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            Some("options") => out.options = merge_options(&out.options, fields),
            _ => {}
        }
    }
    out
}

fn option_name(o: &str) -> &str {
    o.split(':').next().unwrap_or(o)
}

/// `existing` with `more` added; an option named again takes the new value.
fn merge_options<'a>(existing: &[String], more: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = existing.to_vec();
    for o in more {
        match out.iter_mut().find(|e| option_name(e) == option_name(o)) {
            Some(e) => *e = o.to_string(),
            None => out.push(o.to_string()),
        }
    }
    out
}

fn dedup(v: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(v.len());
    for s in v {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// The pod's DNS configuration, given the host's resolv.conf.
pub fn dns_config(pod: &Pod, config: &KubeletConfig, host: &ResolvConf) -> DnsConfig {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let domain = config.cluster_domain.trim_end_matches('.');
    let mut kind = kind(pod);
    if kind == Kind::Cluster && config.cluster_dns.is_empty() {
        kind = Kind::Host;
    }
    let mut dns = match kind {
        Kind::Cluster => {
            let mut searches = vec![
                format!("{ns}.svc.{domain}"),
                format!("svc.{domain}"),
                domain.to_string(),
            ];
            searches.extend(host.searches.iter().cloned());
            DnsConfig {
                servers: config.cluster_dns.iter().map(|ip| ip.to_string()).collect(),
                searches,
                options: vec!["ndots:5".to_string()],
            }
        }
        Kind::Host => DnsConfig {
            servers: host.nameservers.clone(),
            searches: host.searches.clone(),
            options: host.options.clone(),
        },
        Kind::None => DnsConfig::default(),
    };
    if let Some(extra) = pod.spec.as_ref().and_then(|s| s.dns_config.as_ref()) {
        dns.servers
            .extend(extra.nameservers.iter().flatten().cloned());
        dns.searches
            .extend(extra.searches.iter().flatten().cloned());
        let opts: Vec<String> = extra
            .options
            .iter()
            .flatten()
            .filter_map(|o| {
                let name = o.name.as_deref()?;
                Some(match o.value.as_deref() {
                    Some(v) => format!("{name}:{v}"),
                    None => name.to_string(),
                })
            })
            .collect();
        dns.options = merge_options(&dns.options, opts.iter().map(String::as_str));
    }
    dns.servers = dedup(dns.servers);
    dns.servers.truncate(MAX_NAMESERVERS);
    dns.searches = fit_searches(dedup(dns.searches));
    dns
}

/// The search domains cut to the kubelet's limits.
fn fit_searches(searches: Vec<String>) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = 0;
    for s in searches.into_iter().take(MAX_SEARCH_PATHS) {
        let add = s.len() + usize::from(!out.is_empty());
        if chars + add > MAX_SEARCH_CHARS {
            break;
        }
        chars += add;
        out.push(s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::net::IpAddr;

    fn pod(spec: serde_json::Value) -> Pod {
        let mut spec = spec;
        spec["containers"] = json!([{"name": "c"}]);
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "team", "uid": "u"},
            "spec": spec,
        }))
        .expect("test input")
    }

    fn config(dns: &[&str]) -> KubeletConfig {
        let mut c = KubeletConfig::new(
            "n".into(),
            "127.0.0.1".parse().expect("test input"),
            std::path::Path::new("/tmp/x"),
        );
        c.cluster_dns = dns
            .iter()
            .map(|s| s.parse::<IpAddr>().expect("test input"))
            .collect();
        c
    }

    fn host() -> ResolvConf {
        parse_resolv_conf(
            "# comment\nnameserver 192.0.2.1\nnameserver 192.0.2.2\nsearch corp.example. lab\n\
             options edns0 ndots:2\n",
        )
    }

    #[test]
    fn parses_host_resolv_conf() {
        let h = host();
        assert_eq!(h.nameservers, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(h.searches, ["corp.example", "lab"]);
        assert_eq!(h.options, ["edns0", "ndots:2"]);
    }

    #[test]
    fn loopback_stub_resolvers_are_recognised() {
        assert!(only_loopback(&parse_resolv_conf("nameserver 127.0.0.53\n")));
        assert!(!only_loopback(&host()));
        assert!(!only_loopback(&ResolvConf::default()));
    }

    #[test]
    fn cluster_first_with_cluster_dns() {
        let p = pod(json!({}));
        let c = config(&["10.96.0.10"]);
        assert!(!missing_cluster_dns(&p, &c));
        let d = dns_config(&p, &c, &host());
        assert_eq!(d.servers, ["10.96.0.10"]);
        assert_eq!(
            d.searches,
            [
                "team.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "corp.example",
                "lab"
            ]
        );
        assert_eq!(d.options, ["ndots:5"]);
    }

    #[test]
    fn cluster_first_without_cluster_dns_falls_back_to_host() {
        let p = pod(json!({"dnsPolicy": "ClusterFirst"}));
        let c = config(&[]);
        assert!(missing_cluster_dns(&p, &c));
        assert!(missing_cluster_dns_message(&p).contains("Falling back to \"Default\" policy"));
        let d = dns_config(&p, &c, &host());
        assert_eq!(d.servers, ["192.0.2.1", "192.0.2.2"]);
        assert_eq!(d.searches, ["corp.example", "lab"]);
    }

    #[test]
    fn host_network_policies() {
        let c = config(&["10.96.0.10"]);
        let hn = pod(json!({"hostNetwork": true}));
        assert!(!missing_cluster_dns(&hn, &config(&[])));
        assert_eq!(
            dns_config(&hn, &c, &host()).servers,
            ["192.0.2.1", "192.0.2.2"]
        );
        let hnc = pod(json!({"hostNetwork": true, "dnsPolicy": "ClusterFirstWithHostNet"}));
        assert_eq!(dns_config(&hnc, &c, &host()).servers, ["10.96.0.10"]);
        let def = pod(json!({"dnsPolicy": "Default"}));
        assert_eq!(dns_config(&def, &c, &host()).options, ["edns0", "ndots:2"]);
    }

    #[test]
    fn none_takes_dns_config_with_limits() {
        let searches: Vec<String> = (0..40).map(|i| format!("s{i}.example")).collect();
        let p = pod(json!({"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["1.1.1.1", "8.8.8.8", "1.1.1.1", "9.9.9.9", "4.4.4.4"],
            "searches": searches,
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        }}));
        let d = dns_config(&p, &config(&["10.96.0.10"]), &host());
        assert_eq!(d.servers, ["1.1.1.1", "8.8.8.8", "9.9.9.9"]);
        assert_eq!(d.searches.len(), 32);
        assert_eq!(d.options, ["ndots:2", "edns0"]);
    }

    #[test]
    fn dns_config_merges_into_cluster_first() {
        let p = pod(json!({"dnsConfig": {
            "nameservers": ["192.0.2.9"], "searches": ["extra.example"],
            "options": [{"name": "ndots", "value": "1"}],
        }}));
        let d = dns_config(&p, &config(&["10.96.0.10"]), &ResolvConf::default());
        assert_eq!(d.servers, ["10.96.0.10", "192.0.2.9"]);
        assert_eq!(d.searches.last().expect("test input"), "extra.example");
        assert_eq!(d.options, ["ndots:1"]);
    }
}
