//! `rkube bench cluster`: a whole simulated cluster under load. `rkube up
//! --sim-nodes N` runs in a child process (release build for real
//! numbers); the benchmark creates workloads through kube-rs and watches
//! their pods from outside, so every time measured is what a client sees.
//!
//! Four scenarios, each on a fresh cluster (for a clean peak RSS):
//! - one Deployment of `--replicas` pods;
//! - `--deployments` Deployments of `--per-deployment` pods;
//! - `--statefulsets` StatefulSets of `--per-statefulset` pods, without
//!   and then with a claim per pod (`cluster_storage.rs`).
//!
//! For each: time from the first create to every pod Running and Ready;
//! pod startup latency (the watch seeing the pod → the watch seeing it
//! Ready), p50 and p99; the scheduler's rate (pods bound per second while
//! it had work); peak RSS and CPU seconds of the `rkube up` process.

use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::watcher;
use serde_json::json;
use tracing::info;

use super::api::server::{Backend, Server};
use super::cluster_plan::{Outcome, Plan, Workload};
use super::cluster_storage;
use super::duration::human_seconds;
use super::proc_status::human_bytes;
use super::stats::Percentiles;
use crate::bench::args::ClusterBenchArgs;

pub async fn run_cluster(args: ClusterBenchArgs) -> anyhow::Result<()> {
    let q = args.quick;
    let plan = Plan {
        nodes: args.nodes.unwrap_or(if q { 20 } else { 1_000 }),
        replicas: args.replicas.unwrap_or(if q { 200 } else { 10_000 }),
        deployments: args.deployments.unwrap_or(if q { 10 } else { 1_000 }),
        per_deployment: args.per_deployment.unwrap_or(10),
        statefulsets: args.statefulsets.unwrap_or(if q { 2 } else { 10 }),
        per_statefulset: args.per_statefulset.unwrap_or(if q { 10 } else { 100 }),
        timeout: Duration::from_secs(if q { 60 } else { 300 }),
    };
    std::fs::create_dir_all(&args.dir)?;
    let base = tempfile::Builder::new()
        .prefix(".rkube-bench-cluster-")
        .tempdir_in(&args.dir)
        .context("cannot create a scratch directory")?;
    let one = scenario(
        &plan,
        &base.path().join("one"),
        Workload::Deployments(1, plan.replicas),
    )
    .await;
    let many = scenario(
        &plan,
        &base.path().join("many"),
        Workload::Deployments(plan.deployments, plan.per_deployment),
    )
    .await;
    let sets = |claims| Workload::StatefulSets {
        count: plan.statefulsets,
        replicas: plan.per_statefulset,
        claims,
    };
    let plain = scenario(&plan, &base.path().join("sts"), sets(false)).await;
    let claimed = scenario(&plan, &base.path().join("sts-claims"), sets(true)).await;
    print!("{}", render(&plan, &one, &many));
    println!();
    print!("{}", cluster_storage::render(&plan, &plain, &claimed));
    one?;
    many?;
    plain?;
    claimed?;
    Ok(())
}

async fn scenario(plan: &Plan, dir: &Path, workload: Workload) -> anyhow::Result<Outcome> {
    std::fs::create_dir_all(dir)?;
    let extra = vec![
        "--sim-nodes".to_string(),
        plan.nodes.to_string(),
        "--sim-pod-start-delay".to_string(),
        "0s".to_string(),
    ];
    let (server, _) = Server::start_with(&dir.join("data"), Backend::Embedded, None, "up", &extra)
        .await
        .context("cannot start rkube up")?;
    let client = server.client().await?;
    let nodes: Api<Node> = Api::all(client.clone());
    let deadline = Instant::now() + plan.timeout;
    loop {
        let n = nodes
            .list_metadata(&ListParams::default())
            .await?
            .items
            .len();
        if n >= plan.nodes {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {n} of {} nodes registered",
            plan.nodes
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let ns: Api<Namespace> = Api::all(client.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "bench"}}))?,
    )
    .await?;
    let cpu_before = server.cpu_seconds().unwrap_or(0.0);
    let total: usize = match workload {
        Workload::Deployments(d, r) => d * r,
        Workload::StatefulSets {
            count, replicas, ..
        } => count * replicas,
    };
    info!(
        total,
        nodes = plan.nodes,
        ?workload,
        "bench cluster: creating"
    );

    // Watch first, so every pod (and claim) is seen from its creation.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "bench");
    let watch = tokio::spawn(observe(pods, total, plan.timeout));
    let claims = match workload {
        Workload::StatefulSets { claims: true, .. } => {
            Some(tokio::spawn(cluster_storage::observe_claims(
                Api::namespaced(client.clone(), "bench"),
                total,
                plan.timeout,
            )))
        }
        _ => None,
    };
    let started = Instant::now();
    match workload {
        Workload::Deployments(count, replicas) => {
            create_deployments(&client, count, replicas).await?
        }
        Workload::StatefulSets {
            count,
            replicas,
            claims,
        } => cluster_storage::create_statefulsets(&client, count, replicas, claims).await?,
    }
    let seen = watch.await.context("the pod watch failed")?;
    let bound = match claims {
        Some(w) => Some(w.await.context("the claim watch failed")?),
        None => None,
    };
    let (seen, claims_bound) = match (seen, bound) {
        (Ok(seen), None) => (seen, 0),
        (Ok(seen), Some(Ok(b))) => (seen, b),
        (Err(e), None) => return Err(e),
        (Err(e), Some(Ok(_))) => return Err(e),
        (Ok(_), Some(Err(c))) => return Err(c),
        (Err(e), Some(Err(c))) => return Err(e.context(format!("{c:#}"))),
    };
    let all_ready = started.elapsed();
    let rss = server.rss()?;
    let cpu = server.cpu_seconds().unwrap_or(0.0) - cpu_before;
    server.stop().await;
    Ok(outcome(&seen, claims_bound, all_ready, rss.peak, cpu))
}

async fn create_deployments(
    client: &kube::Client,
    count: usize,
    replicas: usize,
) -> anyhow::Result<()> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "bench");
    let creates = (1..=count).map(|i| {
        let d: Result<Deployment, _> = serde_json::from_value(json!({
            "metadata": {"name": format!("d{i}")},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": format!("d{i}")}},
                "template": {
                    "metadata": {"labels": {"app": format!("d{i}")}},
                    "spec": {"containers": [{"name": "c", "image": "registry.local/app:1",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
                },
            },
        }));
        let deployments = deployments.clone();
        async move {
            deployments
                .create(&PostParams::default(), &d?)
                .await
                .map_err(anyhow::Error::from)
        }
    });
    let results: Vec<anyhow::Result<Deployment>> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .collect()
        .await;
    for r in results {
        r?;
    }
    Ok(())
}

fn outcome(
    seen: &HashMap<String, Seen>,
    claims: usize,
    all_ready: Duration,
    peak_rss: u64,
    cpu_s: f64,
) -> Outcome {
    let startup: Vec<Duration> = seen
        .values()
        .filter_map(|p| Some(p.ready? - p.added))
        .collect();
    let binding: Vec<Duration> = seen
        .values()
        .filter_map(|p| Some(p.bound? - p.added))
        .collect();
    let first = seen.values().map(|p| p.added).min();
    let last_added = seen.values().map(|p| p.added).max();
    let last_bound = seen.values().filter_map(|p| p.bound).max();
    let rate = |from: Option<Instant>, to: Option<Instant>| match (from, to) {
        (Some(a), Some(b)) if b > a => seen.len() as f64 / (b - a).as_secs_f64(),
        _ => 0.0,
    };
    Outcome {
        pods: seen.len(),
        claims,
        all_ready,
        startup: (!startup.is_empty()).then(|| Percentiles::of(startup)),
        binding: (!binding.is_empty()).then(|| Percentiles::of(binding)),
        created_per_s: rate(first, last_added),
        scheduled_per_s: rate(first, last_bound),
        peak_rss,
        cpu_s,
    }
}

struct Seen {
    added: Instant,
    bound: Option<Instant>,
    ready: Option<Instant>,
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Watches the pods until `total` are Ready; when each was first seen,
/// seen bound, seen Ready.
async fn observe(
    pods: Api<Pod>,
    total: usize,
    timeout: Duration,
) -> anyhow::Result<HashMap<String, Seen>> {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut ready = 0;
    let mut events = watcher(pods, watcher::Config::default()).boxed();
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    while ready < total {
        let event = tokio::select! {
            e = events.next() => e,
            _ = &mut deadline => anyhow::bail!("only {ready} of {total} pods Ready in {}", human_seconds(timeout.as_secs_f64())),
        };
        let Some(event) = event else {
            anyhow::bail!("the pod watch ended");
        };
        let pod = match event? {
            watcher::Event::Apply(p) | watcher::Event::InitApply(p) => p,
            _ => continue,
        };
        let now = Instant::now();
        let uid = pod.metadata.uid.clone().unwrap_or_default();
        let entry = seen.entry(uid).or_insert(Seen {
            added: now,
            bound: None,
            ready: None,
        });
        if entry.bound.is_none()
            && pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.as_ref())
                .is_some()
        {
            entry.bound = Some(now);
        }
        if entry.ready.is_none() && is_ready(&pod) {
            entry.ready = Some(now);
            ready += 1;
        }
    }
    Ok(seen)
}

/// How a row shows one scenario's outcome.
type Cell = dyn Fn(&Outcome) -> String;

fn render(plan: &Plan, one: &anyhow::Result<Outcome>, many: &anyhow::Result<Outcome>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "rkube bench cluster: rkube up --sim-nodes {} (one process: API server, embedded store, controllers, scheduler, nodes)\n",
        plan.nodes
    );
    let one_name = format!("1 Deployment × {}", plan.replicas);
    let many_name = format!("{} Deployments × {}", plan.deployments, plan.per_deployment);
    let _ = writeln!(out, "| measurement | {one_name} | {many_name} | target |");
    let _ = writeln!(out, "| --- | --- | --- | --- |");
    let cell = |o: &anyhow::Result<Outcome>, f: &dyn Fn(&Outcome) -> String| match o {
        Ok(o) => f(o),
        Err(e) => format!("failed: {e:#}"),
    };
    let rows: [(&str, &Cell, &str); 10] = [
        ("pods Running and Ready", &|o| o.pods.to_string(), ""),
        (
            "time to all Running and Ready",
            &|o| human_seconds(o.all_ready.as_secs_f64()),
            "≤ 30 s (10,000 pods)",
        ),
        (
            "pod startup p50",
            &|o| {
                o.startup
                    .as_ref()
                    .map_or("-".into(), |p| human_seconds(p.p50))
            },
            "",
        ),
        (
            "pod startup p99",
            &|o| {
                o.startup
                    .as_ref()
                    .map_or("-".into(), |p| human_seconds(p.p99))
            },
            "≤ 5 s",
        ),
        (
            "  of which created → bound, p50",
            &|o| {
                o.binding
                    .as_ref()
                    .map_or("-".into(), |p| human_seconds(p.p50))
            },
            "",
        ),
        (
            "  of which created → bound, p99",
            &|o| {
                o.binding
                    .as_ref()
                    .map_or("-".into(), |p| human_seconds(p.p99))
            },
            "",
        ),
        (
            "pods created (by the ReplicaSet controller)",
            &|o| format!("{:.0} pods/s", o.created_per_s),
            "",
        ),
        (
            "scheduler throughput",
            &|o| format!("{:.0} pods/s", o.scheduled_per_s),
            "≥ 1,000 pods/s",
        ),
        (
            "peak RSS of rkube up",
            &|o| human_bytes(o.peak_rss as f64),
            "≤ 1 GiB",
        ),
        ("CPU time of rkube up", &|o| format!("{:.1} s", o.cpu_s), ""),
    ];
    for (label, f, target) in rows {
        let _ = writeln!(
            out,
            "| {label} | {} | {} | {target} |",
            cell(one, f),
            cell(many, f)
        );
    }
    out
}
