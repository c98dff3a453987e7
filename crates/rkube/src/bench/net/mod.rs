//! `rkube bench net`: Services, DNS and the pod network on one real node.
//!
//! In one scratch directory (removed at the end), `rkube up --real-node`
//! in a child process (`cluster.rs`) with a bridge, a /16 pod range and a
//! /16 service range of its own (`ranges.rs`), its DNS upstream a socket
//! of this process on loopback that never answers; then, in order:
//! - `rules.rs`: N Services without selectors, M made-up endpoints each
//!   (off the node, inside the cluster range: routed to rkube's dummy
//!   interface), then single changes timed to their effect in the proxy's
//!   table as `nft monitor` reports it (`monitor.rs`);
//! - `dns.rs`: dnsperf against the node's DNS with names rkube answers
//!   itself;
//! - `throughput.rs`: busybox nc pod to pod, pod to Service and on host
//!   loopback;
//! - `report.rs`: the table.
//!
//! Everything is removed at the end, also on failure: the child killed by
//! pid, `rkube reset` for what the node left, and any table named after
//! the run's bridge still there.

mod cluster;
mod dns;
mod monitor;
mod ranges;
mod report;
mod rules;
mod throughput;

use anyhow::Context;
use tracing::info;

use crate::bench::args::NetBenchArgs;
use cluster::FakeUpstream;
use ranges::{EndpointAddrs, Net};
use report::Report;

/// What one run measured, each part on its own.
struct Outcomes {
    rules: anyhow::Result<rules::RulesOutcome>,
    dns: anyhow::Result<dns::DnsOutcome>,
    throughput: anyhow::Result<throughput::ThroughputOutcome>,
}

impl Outcomes {
    fn failed(e: &anyhow::Error) -> Outcomes {
        let e = format!("{e:#}");
        Outcomes {
            rules: Err(anyhow::anyhow!("{e}")),
            dns: Err(anyhow::anyhow!("{e}")),
            throughput: Err(anyhow::anyhow!("{e}")),
        }
    }
}

/// The sizes of one run.
struct Sizes {
    services: usize,
    endpoints: usize,
    changes: usize,
    dns_seconds: u64,
    bytes: usize,
}

pub async fn run_net(args: NetBenchArgs) -> anyhow::Result<()> {
    let sizes = Sizes {
        services: args.services.unwrap_or(if args.quick { 50 } else { 1000 }),
        endpoints: args.endpoints.unwrap_or(if args.quick { 3 } else { 10 }),
        changes: if args.quick { 32 } else { 200 },
        dns_seconds: if args.quick { 2 } else { 10 },
        bytes: if args.quick { 64 << 20 } else { 1 << 30 },
    };
    anyhow::ensure!(sizes.services > 0, "--services must be at least 1");
    anyhow::ensure!(sizes.endpoints > 0, "--endpoints must be at least 1");
    cluster::preflight()?;
    std::fs::create_dir_all(&args.dir)?;
    let dir = args
        .dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", args.dir.display()))?;
    let base = tempfile::Builder::new()
        .prefix(".rkube-bench-net-")
        .tempdir_in(&dir)
        .context("cannot create a scratch directory")?;
    let scratch = base.path().to_path_buf();
    let net = Net::pick()?;
    let table = rkube_proxy::ProxyConfig::table_for(&net.bridge);
    info!(dir = %scratch.display(), bridge = %net.bridge, cluster_cidr = %net.cluster_cidr,
        service_range = %net.service_range, services = sizes.services, endpoints = sizes.endpoints, "bench net");

    let upstream = FakeUpstream::start().await?;
    let data = scratch.join("node");
    let outcomes = match cluster::build_image(&scratch).await {
        Ok(image) => on_cluster(&scratch, &data, &image, &net, &table, &upstream, &sizes).await,
        Err(e) => Outcomes::failed(&e),
    };
    cluster::reset(&data, &net).await;
    let forwarded = outcomes.dns.is_ok().then(|| upstream.received());

    let report = Report {
        services: sizes.services,
        endpoints: sizes.endpoints,
        table: &table,
        rules: &outcomes.rules,
        dns: &outcomes.dns,
        forwarded,
        throughput: &outcomes.throughput,
    };
    print!("{}", report.render());
    let failures = report.failures();
    drop(base);
    anyhow::ensure!(failures == 0, "{failures} part(s) of the benchmark failed");
    Ok(())
}

/// Start the cluster, run the three parts, stop it (by pid).
async fn on_cluster(
    scratch: &std::path::Path,
    data: &std::path::Path,
    image: &std::path::Path,
    net: &Net,
    table: &str,
    upstream: &FakeUpstream,
    sizes: &Sizes,
) -> Outcomes {
    let cluster = match cluster::start(data, image, net, upstream.addr).await {
        Ok(c) => c,
        Err(e) => return Outcomes::failed(&e),
    };
    // The throughput pods first: their containers keep the image in use.
    let created = throughput::create(&cluster.client).await;
    let needed =
        sizes.services * sizes.endpoints + sizes.changes.div_ceil(4) * (sizes.endpoints + 1);
    let capacity = EndpointAddrs::capacity(net.cluster_cidr, cluster.pod_cidr);
    let rules = if needed > capacity {
        Err(anyhow::anyhow!(
            "{needed} endpoint addresses needed, the cluster range {} has {capacity} off the node: fewer --services or --endpoints",
            net.cluster_cidr
        ))
    } else {
        let mut addrs = EndpointAddrs::new(net.cluster_cidr, cluster.pod_cidr);
        rules::measure(
            &cluster.client,
            table,
            &mut addrs,
            sizes.services,
            sizes.endpoints,
            sizes.changes,
        )
        .await
    };
    info!("bench net: DNS");
    let dns = dns::measure(
        cluster.pod_cidr.gateway(),
        scratch,
        sizes.services,
        sizes.dns_seconds,
    )
    .await;
    info!("bench net: TCP throughput");
    let throughput = throughput::measure(&cluster.client, created, sizes.bytes).await;
    cluster.server.stop().await;
    Outcomes {
        rules,
        dns,
        throughput,
    }
}
