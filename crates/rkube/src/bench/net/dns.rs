//! DNS: Debian's `dnsperf` against the node's DNS server (the pod
//! bridge's address, port 53) with names rkube answers itself — the
//! Services' A records, the SRV records of their named port and a few
//! names under the cluster domain that do not exist (NXDOMAIN) — never a
//! name that would be forwarded. Two runs: as fast as one dnsperf client
//! with 100 queries in flight goes, and at a fixed 20,000 queries/s.
//! Latency percentiles come from dnsperf's per-query lines (`-v`).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::process::Command;

use super::rules::{service_name, NAMESPACE, PORT_NAME};
use crate::bench::stats::Percentiles;

/// The rate of the fixed-rate run (the target).
pub(super) const TARGET_QPS: u32 = 20_000;

/// What one dnsperf run reported.
#[derive(Debug, Default, Clone)]
pub(super) struct DnsRun {
    pub sent: u64,
    pub completed: u64,
    pub lost: u64,
    pub qps: f64,
    pub latency: Percentiles,
    /// Response codes seen, by name (`NOERROR`, `NXDOMAIN`, …).
    pub rcodes: Vec<(String, u64)>,
    /// Answers whose code is not the one the name must get.
    pub wrong: u64,
}

/// What the DNS phase measured.
#[derive(Debug, Default)]
pub(super) struct DnsOutcome {
    pub server: Option<SocketAddr>,
    pub names: usize,
    pub seconds: u64,
    pub max: DnsRun,
    pub fixed: DnsRun,
}

/// The query file: per Service its A and SRV records, and a few names
/// that do not exist; with the response code each must get.
pub(super) fn queries(services: usize) -> (String, HashMap<String, &'static str>) {
    let domain = format!("{NAMESPACE}.svc.{}", rkube_dns::CLUSTER_DOMAIN);
    let mut file = String::new();
    let mut expect = HashMap::new();
    let missing = (services / 20).max(3);
    for i in 0..services {
        let a = format!("{}.{domain}", service_name(i));
        let srv = format!("_{PORT_NAME}._tcp.{}.{domain}", service_name(i));
        let _ = writeln!(file, "{a} A");
        let _ = writeln!(file, "{srv} SRV");
        expect.insert(a, "NOERROR");
        expect.insert(srv, "NOERROR");
        if i % 20 == 0 && i / 20 < missing {
            let nx = format!("no-such-service-{}.{domain}", i / 20);
            let _ = writeln!(file, "{nx} A");
            expect.insert(nx, "NXDOMAIN");
        }
    }
    for k in services.div_ceil(20)..missing {
        let nx = format!("no-such-service-{k}.{domain}");
        let _ = writeln!(file, "{nx} A");
        expect.insert(nx, "NXDOMAIN");
    }
    (file, expect)
}

/// Wait until `server` answers the A record of `name` (NOERROR with an
/// answer): the DNS server has seen the Services.
pub(super) async fn wait_answers(
    server: SocketAddr,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let socket = tokio::net::UdpSocket::bind("0.0.0.0:0").await?;
    let deadline = Instant::now() + timeout;
    let mut id: u16 = 1;
    loop {
        id = id.wrapping_add(1);
        let query = query_packet(id, name, 1)?;
        socket.send_to(&query, server).await?;
        let mut buf = [0u8; 1500];
        let last = match tokio::time::timeout(
            Duration::from_millis(500),
            socket.recv_from(&mut buf),
        )
        .await
        {
            Ok(Ok((n, _))) => match answer_summary(&buf[..n], id) {
                Some((0, answers)) if answers > 0 => return Ok(()),
                Some((rcode, answers)) => format!("response code {rcode} with {answers} answers"),
                None => "a malformed response".to_string(),
            },
            Ok(Err(e)) => e.to_string(),
            Err(_) => "no answer within 500 ms".to_string(),
        };
        anyhow::ensure!(
            Instant::now() < deadline,
            "the node's DNS at {server} does not answer {name} A after {timeout:?} (last: {last}; is rkube-dns running?)"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A DNS query (RD set) for `name` of type `qtype`.
fn query_packet(id: u16, name: &str, qtype: u16) -> anyhow::Result<Vec<u8>> {
    let mut p = Vec::with_capacity(64);
    p.extend_from_slice(&id.to_be_bytes());
    p.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        anyhow::ensure!(
            !label.is_empty() && label.len() < 64,
            "bad DNS name {name:?}"
        );
        p.push(label.len() as u8);
        p.extend_from_slice(label.as_bytes());
    }
    p.push(0);
    p.extend_from_slice(&qtype.to_be_bytes());
    p.extend_from_slice(&1u16.to_be_bytes());
    Ok(p)
}

/// The response code and answer count of a response to query `id`.
fn answer_summary(p: &[u8], id: u16) -> Option<(u8, u16)> {
    if p.len() < 12 || u16::from_be_bytes([p[0], p[1]]) != id || p[2] & 0x80 == 0 {
        return None;
    }
    Some((p[3] & 0x0f, u16::from_be_bytes([p[6], p[7]])))
}

/// Run dnsperf against `server` for `seconds` (at `rate` queries/s, or
/// as fast as it goes), its per-query output in `out`.
pub(super) async fn run_dnsperf(
    server: SocketAddr,
    file: &Path,
    seconds: u64,
    rate: Option<u32>,
    out: &Path,
    expect: &HashMap<String, &'static str>,
) -> anyhow::Result<DnsRun> {
    let stdout =
        std::fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut cmd = Command::new("dnsperf");
    cmd.arg("-s")
        .arg(server.ip().to_string())
        .arg("-p")
        .arg(server.port().to_string())
        .arg("-d")
        .arg(file)
        .arg("-l")
        .arg(seconds.to_string())
        .args(["-q", "100", "-t", "2", "-v"])
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(r) = rate {
        cmd.arg("-Q").arg(r.to_string());
    }
    let child = cmd
        .spawn()
        .context("cannot run dnsperf (install the Debian package dnsperf)")?;
    let bound = Duration::from_secs(seconds + 30);
    let result = tokio::time::timeout(bound, child.wait_with_output())
        .await
        .with_context(|| format!("dnsperf ran longer than {bound:?}"))?
        .context("dnsperf failed")?;
    anyhow::ensure!(
        result.status.success(),
        "dnsperf failed ({}): {}",
        result.status,
        String::from_utf8_lossy(&result.stderr).trim()
    );
    let text =
        std::fs::read_to_string(out).with_context(|| format!("cannot read {}", out.display()))?;
    parse(&text, expect)
}

/// dnsperf's `-v` output: the per-query lines and the statistics.
pub(super) fn parse(text: &str, expect: &HashMap<String, &'static str>) -> anyhow::Result<DnsRun> {
    let mut run = DnsRun::default();
    let mut latencies = Vec::new();
    let mut seen_stats = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("> ") {
            // > RCODE NAME TYPE LATENCY, or > T NAME TYPE (timed out).
            let f: Vec<&str> = rest.split_whitespace().collect();
            if let [rcode, name, _qtype, latency] = f.as_slice() {
                if let Ok(s) = latency.parse::<f64>() {
                    latencies.push(Duration::from_secs_f64(s.max(0.0)));
                }
                if expect.get(*name).is_some_and(|want| want != rcode) {
                    run.wrong += 1;
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        let first = value.split_whitespace().next().unwrap_or("");
        match key.trim() {
            "Queries sent" => {
                seen_stats = true;
                run.sent = first.parse().unwrap_or(0);
            }
            "Queries completed" => run.completed = first.parse().unwrap_or(0),
            "Queries lost" => run.lost = first.parse().unwrap_or(0),
            "Queries per second" => run.qps = first.parse().unwrap_or(0.0),
            "Response codes" => {
                run.rcodes = value
                    .split(',')
                    .filter_map(|part| {
                        let mut w = part.split_whitespace();
                        Some((w.next()?.to_string(), w.next()?.parse().ok()?))
                    })
                    .collect();
            }
            _ => {}
        }
    }
    anyhow::ensure!(
        seen_stats,
        "dnsperf printed no statistics: {}",
        text.lines().rev().take(5).collect::<Vec<_>>().join(" / ")
    );
    run.latency = Percentiles::of(latencies);
    Ok(run)
}

/// The DNS phase: wait for the server to know the last Service, write
/// the query file, run dnsperf twice.
pub(super) async fn measure(
    gateway: Ipv4Addr,
    scratch: &Path,
    services: usize,
    seconds: u64,
) -> anyhow::Result<DnsOutcome> {
    let server = SocketAddr::new(gateway.into(), 53);
    let last = format!(
        "{}.{NAMESPACE}.svc.{}",
        service_name(services.saturating_sub(1)),
        rkube_dns::CLUSTER_DOMAIN
    );
    wait_answers(server, &last, Duration::from_secs(60)).await?;
    let (text, expect) = queries(services);
    let file = scratch.join("dns-queries.txt");
    std::fs::write(&file, &text).with_context(|| format!("cannot write {}", file.display()))?;
    let max = run_dnsperf(
        server,
        &file,
        seconds,
        None,
        &scratch.join("dnsperf-max.out"),
        &expect,
    )
    .await
    .context("dnsperf, unbounded")?;
    let fixed = run_dnsperf(
        server,
        &file,
        seconds,
        Some(TARGET_QPS),
        &scratch.join("dnsperf-fixed.out"),
        &expect,
    )
    .await
    .context("dnsperf at a fixed rate")?;
    Ok(DnsOutcome {
        server: Some(server),
        names: expect.len(),
        seconds,
        max,
        fixed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// dnsperf 2.10's output, as `-v` prints it (cut).
    const SAMPLE: &str = "DNS Performance Testing Tool
Version 2.10.0

[Status] Command line: dnsperf -s 10.212.0.1 -p 53 -d q.txt -l 2 -q 100 -t 2 -v
[Status] Sending queries (to 10.212.0.1:53)
[Status] Started at: Mon Dec  7 21:53:29 2026
[Status] Stopping after 2.000000 seconds
> NOERROR _http._tcp.svc-0.default.svc.cluster.local SRV 0.000174
> NOERROR svc-0.default.svc.cluster.local A 0.000233
> NXDOMAIN no-such-service-0.default.svc.cluster.local A 0.000369
> NXDOMAIN svc-1.default.svc.cluster.local A 0.004000
> T svc-0.default.svc.cluster.local A
[Status] Testing complete (time limit)

Statistics:

  Queries sent:         5
  Queries completed:    4 (80.00%)
  Queries lost:         1 (20.00%)

  Response codes:       NOERROR 2 (50.00%), NXDOMAIN 2 (50.00%)
  Average packet size:  request 52, response 52
  Run time (s):         2.000258
  Queries per second:   2.000000

  Average Latency (s):  0.001194 (min 0.000174, max 0.004000)
  Latency StdDev (s):   0.001666
";

    #[test]
    fn parses_dnsperf_statistics_and_per_query_lines() {
        let (_, expect) = queries(2);
        let run = parse(SAMPLE, &expect).expect("parses");
        assert_eq!((run.sent, run.completed, run.lost), (5, 4, 1));
        assert!((run.qps - 2.0).abs() < 1e-9);
        assert_eq!(
            run.rcodes,
            vec![("NOERROR".to_string(), 2), ("NXDOMAIN".to_string(), 2)]
        );
        assert_eq!(run.latency.count, 4);
        assert!((run.latency.p50 - 0.000233).abs() < 1e-9);
        assert!((run.latency.p99 - 0.004).abs() < 1e-9);
        // svc-1 exists: NXDOMAIN for it is wrong.
        assert_eq!(run.wrong, 1);
    }

    #[test]
    fn no_statistics_is_an_error() {
        assert!(parse("[Status] Command line: dnsperf\n", &HashMap::new()).is_err());
    }

    #[test]
    fn queries_stay_in_the_cluster_domain() {
        let (text, expect) = queries(50);
        assert_eq!(text.lines().count(), 50 * 2 + 3);
        assert_eq!(expect.len(), 50 * 2 + 3);
        for line in text.lines() {
            let name = line.split_whitespace().next().expect("a name");
            assert!(name.ends_with(".default.svc.cluster.local"), "{name}");
        }
        assert_eq!(expect.values().filter(|v| **v == "NXDOMAIN").count(), 3);
        let (_, big) = queries(1000);
        assert_eq!(big.values().filter(|v| **v == "NXDOMAIN").count(), 50);
    }

    #[test]
    fn query_and_response_headers() {
        let q = query_packet(7, "svc-0.default.svc.cluster.local", 1).expect("packet");
        assert_eq!(&q[..4], &[0, 7, 1, 0]);
        assert_eq!(q[12], 5);
        assert_eq!(&q[13..18], b"svc-0");
        let mut r = q.clone();
        r[2] |= 0x80;
        r[3] = 0x03;
        r[7] = 0;
        assert_eq!(answer_summary(&r, 7), Some((3, 0)));
        assert_eq!(answer_summary(&r, 8), None);
        assert_eq!(answer_summary(&q, 7), None);
    }
}
