//! The table of `rkube bench net`: one row per figure with its target, a
//! failed part's error in its cells.

use std::fmt::Write as _;

use super::dns::{DnsOutcome, DnsRun, TARGET_QPS};
use super::rules::RulesOutcome;
use super::throughput::ThroughputOutcome;
use crate::bench::duration::human_seconds;
use crate::bench::stats::Percentiles;

/// Everything one run measured.
pub(super) struct Report<'a> {
    pub services: usize,
    pub endpoints: usize,
    pub table: &'a str,
    pub rules: &'a anyhow::Result<RulesOutcome>,
    pub dns: &'a anyhow::Result<DnsOutcome>,
    /// Queries that reached the fake upstream (must stay 0).
    pub forwarded: Option<u64>,
    pub throughput: &'a anyhow::Result<ThroughputOutcome>,
}

fn p50_p99(p: &Percentiles) -> String {
    format!("{} / {}", human_seconds(p.p50), human_seconds(p.p99))
}

fn failed(e: &anyhow::Error) -> String {
    format!(
        "failed: {}",
        format!("{e:#}").replace('|', "/").replace('\n', " ")
    )
}

fn mib(rate: f64) -> String {
    format!("{:.0} MiB/s", rate / (1024.0 * 1024.0))
}

impl Report<'_> {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let build = if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        };
        let _ = writeln!(
            out,
            "rkube bench net: {} Services × {} endpoints on one real node (rkube up --real-node, {build})\n",
            self.services, self.endpoints
        );
        let _ = writeln!(out, "| measurement | result | target |");
        let _ = writeln!(out, "| --- | --- | --- |");
        self.rules_rows(&mut out);
        self.dns_rows(&mut out);
        self.throughput_rows(&mut out);
        out
    }

    fn rules_rows(&self, out: &mut String) {
        let table = self.table;
        match self.rules {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| rules: all {} ClusterIPs and {} endpoints in `{table}` (first create → last seen by nft monitor) | {} | |",
                    r.services,
                    r.services * r.endpoints,
                    human_seconds(r.load.as_secs_f64()),
                );
                let _ = writeln!(
                    out,
                    "| rule programming, change → in place, p50 / p99 ({} changes, {} missed) | {} | p99 ≤ 100 ms |",
                    r.all.count,
                    r.missed,
                    p50_p99(&r.all),
                );
                for (kind, p) in &r.by_kind {
                    let _ = writeln!(
                        out,
                        "|   {}, p50 / p99 ({}) | {} | |",
                        kind.describe(),
                        p.count,
                        p50_p99(p)
                    );
                }
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| rule programming, change → in place in `{table}`, p50 / p99 | {} | p99 ≤ 100 ms |",
                    failed(e)
                );
            }
        }
    }

    fn dns_rows(&self, out: &mut String) {
        let d = match self.dns {
            Ok(d) => d,
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| DNS (dnsperf): queries/s, latency p50 / p99 | {} | ≥ 20,000 q/s, p99 ≤ 5 ms |",
                    failed(e)
                );
                return;
            }
        };
        let server = d.server.map(|s| s.to_string()).unwrap_or_default();
        let codes = |r: &DnsRun| {
            r.rcodes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| DNS at {server}, dnsperf unbounded (100 in flight, {} s, {} names): queries/s | {:.0} | ≥ 20,000 q/s |",
            d.seconds, d.names, d.max.qps
        );
        let _ = writeln!(
            out,
            "|   latency p50 / p99 | {} | p99 ≤ 5 ms |",
            p50_p99(&d.max.latency)
        );
        let _ = writeln!(
            out,
            "|   answers: {}; lost {}; wrong code {} | | 0 lost, 0 wrong |",
            codes(&d.max),
            d.max.lost,
            d.max.wrong
        );
        let _ = writeln!(
            out,
            "| DNS at {TARGET_QPS} q/s (dnsperf -Q): queries/s, latency p50 / p99 | {:.0} q/s, {} | p99 ≤ 5 ms |",
            d.fixed.qps,
            p50_p99(&d.fixed.latency)
        );
        let _ = writeln!(
            out,
            "|   answers: {}; lost {}; wrong code {} | | 0 lost, 0 wrong |",
            codes(&d.fixed),
            d.fixed.lost,
            d.fixed.wrong
        );
        if let Some(n) = self.forwarded {
            let _ = writeln!(
                out,
                "| queries that reached the (fake, loopback) upstream | {n} | 0 |"
            );
        }
    }

    fn throughput_rows(&self, out: &mut String) {
        let t = match self.throughput {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| TCP throughput (busybox nc): pod → pod, pod → Service, host loopback | {} | |",
                    failed(e)
                );
                return;
            }
        };
        let size = if t.bytes >= 1 << 30 {
            format!("{:.0} GiB", t.bytes as f64 / (1u64 << 30) as f64)
        } else {
            format!("{} MiB", t.bytes >> 20)
        };
        let cell = |r: &Result<f64, String>| match r {
            Ok(v) => mib(*v),
            Err(e) => format!("failed: {}", e.replace('|', "/").replace('\n', " ")),
        };
        let ratio = |a: &Result<f64, String>, b: &Result<f64, String>| match (a, b) {
            (Ok(a), Ok(b)) if *b > 0.0 => Some(100.0 * a / b),
            _ => None,
        };
        let _ = writeln!(
            out,
            "| TCP pod → pod (busybox dd piped into nc, {size}, best of 3) | {} | |",
            cell(&t.pod_to_pod)
        );
        let vs_pod = ratio(&t.pod_to_service, &t.pod_to_pod)
            .map(|r| format!(" ({r:.0} % of pod → pod)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| TCP pod → Service (ClusterIP) | {}{vs_pod} | ≥ 80 % of pod → pod |",
            cell(&t.pod_to_service),
        );
        let vs_lo = ratio(&t.pod_to_pod, &t.loopback)
            .map(|r| format!(" (pod → pod is {r:.0} % of it)"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "| TCP host loopback, same tools{vs_lo} | {} | |",
            cell(&t.loopback)
        );
    }

    /// The parts that failed.
    pub fn failures(&self) -> usize {
        let mut n = [
            self.rules.is_err(),
            self.dns.is_err(),
            self.throughput.is_err(),
        ]
        .iter()
        .filter(|f| **f)
        .count();
        if let Ok(t) = self.throughput {
            n += [&t.pod_to_pod, &t.pod_to_service, &t.loopback]
                .iter()
                .filter(|r| r.is_err())
                .count();
        }
        if self.forwarded.is_some_and(|f| f > 0) {
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::bench::net::rules::Change;

    #[test]
    fn renders_results_and_failures() {
        let p = Percentiles {
            count: 8,
            p50: 0.004,
            p99: 0.020,
        };
        let rules = Ok(RulesOutcome {
            services: 50,
            endpoints: 3,
            load: Duration::from_millis(1500),
            all: p,
            by_kind: Change::ALL.iter().map(|k| (*k, p)).collect(),
            missed: 0,
            monitor_lines: 10,
        });
        let dns = Err(anyhow::anyhow!("the node's DNS does not answer"));
        let throughput = Ok(ThroughputOutcome {
            bytes: 64 << 20,
            pod_to_pod: Ok(200.0 * 1024.0 * 1024.0),
            pod_to_service: Ok(180.0 * 1024.0 * 1024.0),
            loopback: Ok(400.0 * 1024.0 * 1024.0),
        });
        let report = Report {
            services: 50,
            endpoints: 3,
            table: "rkube-proxy-rkbt000001",
            rules: &rules,
            dns: &dns,
            forwarded: Some(0),
            throughput: &throughput,
        };
        let text = report.render();
        assert!(
            text.contains("| 4.00 ms / 20.00 ms | p99 ≤ 100 ms |"),
            "{text}"
        );
        assert!(
            text.contains("failed: the node's DNS does not answer"),
            "{text}"
        );
        assert!(text.contains("180 MiB/s (90 % of pod → pod)"), "{text}");
        assert!(text.contains("pod → pod is 50 % of it"), "{text}");
        assert_eq!(report.failures(), 1);
    }
}
