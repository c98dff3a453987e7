//! `rkube bench api`: the API server end to end, over HTTPS, through
//! kube-rs clients, on the embedded store and on etcd, side by side.
//!
//! Where a newcomer starts: [`run_api`] runs, for each backend,
//! - `server.rs`: start `rkube server` (this binary) in a child process and
//!   time it to `/readyz`; read its RSS from `/proc`;
//! - `phases.rs`: config map creates at N clients, pod loading, full and
//!   paged lists, watch fan-out with per-event delivery latency;
//! - `writes.rs`: strategic-merge patches and server-side applies of
//!   deployments, schema-validated custom resource creates;
//! - `plan.rs`: [`ApiPlan`], the sizes of one run;
//! - `report.rs`: the table.

mod phases;
mod plan;
mod report;
pub(crate) mod server;
mod writes;

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use rkube_store::testing::{EtcdServer, EtcdServerOptions};
use tracing::info;

use super::results::Measurements;
use crate::bench::args::{ApiBenchArgs, BenchBackend};
use plan::ApiPlan;
use report::ApiReport;
use server::{Backend, Server};

/// Run `rkube bench api` and print the table.
pub async fn run_api(args: ApiBenchArgs) -> anyhow::Result<()> {
    let plan = ApiPlan::from_args(&args);
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let base = tempfile::Builder::new()
        .prefix(".rkube-bench-api-")
        .tempdir_in(&args.dir)
        .context("cannot create a scratch directory")?;
    let mut report = ApiReport::new(plan.clone());
    for backend in plan.backends.clone() {
        let dir = base.path().join(format!("{backend:?}").to_lowercase());
        std::fs::create_dir_all(&dir)?;
        info!(?backend, "bench api: starting");
        let result = run_backend(&plan, backend, &dir).await;
        report.add(backend, result.map_err(|e| format!("{e:#}")));
    }
    print!("{}", report.render());
    let errors = report.errors();
    drop(base);
    anyhow::ensure!(
        errors.is_empty(),
        "{} benchmark run(s) failed: {}",
        errors.len(),
        errors.join("; ")
    );
    Ok(())
}

async fn run_backend(
    plan: &ApiPlan,
    backend: BenchBackend,
    dir: &Path,
) -> anyhow::Result<Measurements> {
    let mut m = Measurements::default();
    let etcd = match backend {
        BenchBackend::Embedded => None,
        BenchBackend::Etcd => Some(
            EtcdServer::start_with_async(EtcdServerOptions {
                temp_parent: Some(dir.to_path_buf()),
                ..Default::default()
            })
            .await
            .context("cannot start etcd")?,
        ),
    };
    let server_backend = match &etcd {
        None => Backend::Embedded,
        Some(e) => Backend::Etcd(e.endpoints()),
    };
    let (server, ready) = Server::start(&dir.join("data"), server_backend, None).await?;
    m.set("ready.empty", ready.as_secs_f64());
    tokio::time::sleep(Duration::from_secs(1)).await;
    m.set("rss.idle", server.rss()?.current);

    let mut clients = Vec::with_capacity(plan.clients);
    for _ in 0..plan.clients {
        clients.push(server.client().await?);
    }
    for ns in ["bench", "pods", "watch", "deploys", "crs"] {
        phases::namespace(&clients[0], ns).await?;
    }

    // The pods go first, into a store holding nothing else: "RSS with
    // 100,000 pods" is then that, not that plus however many objects the
    // write phases managed to create (a faster server created more).
    info!(pods = plan.pods, "bench api: loading pods");
    let pods = phases::create_pods(&clients, "pods", plan.pods).await?;
    m.set("pods.rate", pods.rate());
    m.set("pods.p99", pods.latency.p99);
    tokio::time::sleep(Duration::from_millis(500)).await;
    m.set("rss.pods", server.rss()?.current);
    // Loading writes a log the store snapshots in the background; the
    // lists measure listing, not listing beside a snapshot.
    let loaded = server.wait_idle(Duration::from_secs(60)).await;
    m.set("settle.pods", loaded.as_secs_f64());

    info!(settled_ms = loaded.as_millis() as u64, "bench api: lists");
    let mut full = Vec::new();
    for _ in 0..3 {
        let l = phases::list_full(&clients[0], "pods").await?;
        anyhow::ensure!(
            l.items == plan.pods,
            "full list returned {} pods, not {}",
            l.items,
            plan.pods
        );
        m.set("list.full.bytes", l.bytes);
        full.push(l.elapsed.as_secs_f64());
    }
    m.set("list.full", super::stats::median(full));
    let paged = phases::list_paged(&clients[0], "pods", plan.page).await?;
    anyhow::ensure!(
        paged.items == plan.pods,
        "paged list returned {} pods",
        paged.items
    );
    m.set("list.paged", paged.elapsed.as_secs_f64());

    info!(clients = plan.clients, "bench api: config map creates");
    let creates = phases::create_configmaps(&clients, "bench", plan.duration).await?;
    m.set("create.rate", creates.rate());
    m.set("create.p50", creates.latency.p50);
    m.set("create.p99", creates.latency.p99);

    info!(
        clients = plan.clients,
        "bench api: deployment patches and applies"
    );
    let dc = writes::deployment_creates(&clients, "deploys", plan.duration).await?;
    m.set("deploy.rate", dc.rate());
    m.set("deploy.p99", dc.latency.p99);
    writes::create_deployments(&clients, "deploys").await?;
    let smp = writes::strategic_patches(&clients, "deploys", plan.duration).await?;
    m.set("smp.rate", smp.rate());
    m.set("smp.p99", smp.latency.p99);
    let ssa = writes::server_side_applies(&clients, "deploys", plan.duration).await?;
    m.set("ssa.rate", ssa.rate());
    m.set("ssa.p99", ssa.latency.p99);
    info!(clients = plan.clients, "bench api: custom resource creates");
    writes::install_crd(&clients[0]).await?;
    let crs = writes::create_custom(&clients, "crs", plan.duration).await?;
    m.set("cr.rate", crs.rate());
    m.set("cr.p99", crs.latency.p99);

    let settled = server.wait_idle(Duration::from_secs(60)).await;
    m.set("settle", settled.as_secs_f64());
    info!(
        watchers = plan.watchers,
        events = plan.watch_events,
        settled_ms = settled.as_millis() as u64,
        "bench api: watch fan-out"
    );
    let watch_clients: Vec<_> = clients.iter().take(8).cloned().collect();
    let timeout = Duration::from_secs_f64(plan.watch_events as f64 / plan.watch_rate + 60.0);
    let w = phases::watch_fanout(
        &watch_clients,
        "watch",
        plan.watchers,
        plan.watch_events,
        plan.watch_rate,
        timeout,
    )
    .await?;
    m.set("watch.expected", w.expected);
    m.set("watch.delivered", w.delivered);
    m.set("watch.p50", w.latency.p50);
    m.set("watch.p99", w.latency.p99);
    m.set(
        "watch.write_rate",
        plan.watch_events as f64 / w.write_elapsed.as_secs_f64().max(1e-9),
    );
    m.set("rss.peak", server.rss()?.peak);
    drop(clients);
    drop(watch_clients);

    info!("bench api: restart with the objects stored");
    let (server, ready) = server.restart().await?;
    m.set("ready.loaded", ready.as_secs_f64());
    server.stop().await;
    if let Some(e) = etcd {
        if let Ok(rss) = super::proc_status::read_rss(Some(e.pid())) {
            m.set("etcd.rss.peak", rss.peak);
        }
    }
    Ok(m)
}
