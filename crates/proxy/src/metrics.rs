//! The proxy's metrics under kube-proxy's names, in a registry of their
//! own ([`metrics`]) that a metrics endpoint can encode later:
//! - `kubeproxy_sync_proxy_rules_duration_seconds`: each sync (computing
//!   and applying the transaction);
//! - `kubeproxy_sync_full_proxy_rules_duration_seconds` and
//!   `kubeproxy_sync_partial_proxy_rules_duration_seconds`: the same, by
//!   kind;
//! - `kubeproxy_network_programming_duration_seconds`: from the change that
//!   triggered an EndpointSlice update (its
//!   `endpoints.kubernetes.io/last-change-trigger-time`) to its rules in
//!   place;
//! - `kubeproxy_sync_proxy_rules_nftables_failures_total` (kube-proxy's
//!   `…_iptables_restore_failures_total`, named for nft).

use std::sync::OnceLock;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// See the module's docs.
pub struct ProxyMetrics {
    pub registry: Registry,
    pub sync: Histogram,
    pub sync_full: Histogram,
    pub sync_partial: Histogram,
    pub network_programming: Histogram,
    pub failures: Counter,
}

impl ProxyMetrics {
    fn new() -> ProxyMetrics {
        let mut registry = Registry::default();
        let h = || Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let m = ProxyMetrics {
            sync: h(),
            sync_full: h(),
            sync_partial: h(),
            network_programming: Histogram::new(exponential_buckets(0.001, 2.0, 20)),
            failures: Counter::default(),
            registry: Registry::default(),
        };
        registry.register(
            "kubeproxy_sync_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds",
            m.sync.clone(),
        );
        registry.register(
            "kubeproxy_sync_full_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for full resyncs",
            m.sync_full.clone(),
        );
        registry.register(
            "kubeproxy_sync_partial_proxy_rules_duration_seconds",
            "SyncProxyRules latency in seconds for partial resyncs",
            m.sync_partial.clone(),
        );
        registry.register(
            "kubeproxy_network_programming_duration_seconds",
            "In Cluster Network Programming Latency in seconds",
            m.network_programming.clone(),
        );
        registry.register(
            "kubeproxy_sync_proxy_rules_nftables_failures",
            "Cumulative proxy nft -f failures",
            m.failures.clone(),
        );
        ProxyMetrics { registry, ..m }
    }

    /// One sync took `d`.
    pub fn observe_sync(&self, full: bool, d: Duration) {
        self.sync.observe(d.as_secs_f64());
        if full {
            self.sync_full.observe(d.as_secs_f64());
        } else {
            self.sync_partial.observe(d.as_secs_f64());
        }
    }

    /// The registry in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut s = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut s, &self.registry);
        s
    }
}

/// The process's proxy metrics.
pub fn metrics() -> &'static ProxyMetrics {
    static METRICS: OnceLock<ProxyMetrics> = OnceLock::new();
    METRICS.get_or_init(ProxyMetrics::new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kube_proxy_names() {
        metrics().observe_sync(false, Duration::from_millis(3));
        let text = metrics().encode();
        assert!(text.contains("kubeproxy_sync_proxy_rules_duration_seconds_bucket"));
        assert!(text.contains("kubeproxy_network_programming_duration_seconds_count"));
        assert!(text.contains("kubeproxy_sync_proxy_rules_nftables_failures_total"));
    }
}
