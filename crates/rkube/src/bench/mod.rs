//! `rkube bench store`: the embedded store against etcd, same workload,
//! same run, same disk.
//!
//! Where a newcomer starts: [`run_store`] (below) runs the phases in order:
//! - `fsync_probe.rs`: one fsync of a small append on this disk (the floor);
//! - `child.rs`: the embedded workload in a child process, for a clean
//!   peak RSS;
//! - `etcd_peer.rs`: etcd started by the benchmark, the same workload;
//! - `memory.rs`: the embedded store's RSS for a large key set (a child);
//! - `workload.rs`: the phases themselves, through the `Store` trait only;
//! - `report.rs`: the table;
//! - `args.rs`: every benchmark's options, as `cmd/bench.rs` parses them.

pub mod api;
pub mod args;
pub mod cluster;
mod cluster_plan;
pub mod cluster_storage;
pub mod duration;
pub mod net;
pub mod node;
mod node_streams;

mod child;
mod etcd_peer;
mod fsync_probe;
mod memory;
mod plan;
mod proc_status;
mod report;
mod results;
mod stats;
mod workload;

use std::time::Duration;

use anyhow::Context;
use tracing::info;

use crate::bench::args::{BenchBackend, ChildRole, StoreBenchArgs};
use plan::Plan;
use report::{Outcome, Report};

/// fsync samples, and the time they may take.
const FSYNC_SAMPLES: usize = 200;
const FSYNC_BUDGET: Duration = Duration::from_secs(3);

/// Run `rkube bench store` (or, with `--child`, one part of it).
pub async fn run_store(args: StoreBenchArgs) -> anyhow::Result<()> {
    let plan = Plan::from_args(&args)?;
    if let Some(role) = args.child {
        return child::run_child(role, &plan).await;
    }

    std::fs::create_dir_all(&plan.dir)
        .with_context(|| format!("cannot create {}", plan.dir.display()))?;
    let base = tempfile::Builder::new()
        .prefix(".rkube-bench-")
        .tempdir_in(&plan.dir)
        .with_context(|| {
            format!(
                "cannot create a scratch directory in {}",
                plan.dir.display()
            )
        })?;
    info!(dir = %base.path().display(), quick = plan.quick, "benchmark scratch directory");

    let probe_dir = base.path().to_path_buf();
    let fsync = tokio::task::spawn_blocking(move || {
        fsync_probe::measure(&probe_dir, FSYNC_SAMPLES, FSYNC_BUDGET)
    })
    .await
    .context("the fsync probe task failed")?
    .map_err(|err| err.to_string());

    let wants = |b: BenchBackend| plan.backends.contains(&b);
    let embedded = if wants(BenchBackend::Embedded) {
        info!("embedded: running the workload in a child process");
        outcome(child::spawn(ChildRole::Embedded, &plan, &base.path().join("embedded")).await)
    } else {
        Outcome::Skipped
    };
    let (etcd, etcd_version) = if wants(BenchBackend::Etcd) {
        info!("etcd: starting etcd and running the workload");
        (
            outcome(etcd_peer::run(&plan, &base.path().join("etcd")).await),
            etcd_peer::version(),
        )
    } else {
        (Outcome::Skipped, None)
    };
    let memory = if wants(BenchBackend::Embedded) && plan.memory_keys > 0 {
        info!(
            keys = plan.memory_keys,
            "memory: loading keys in a child process"
        );
        outcome(child::spawn(ChildRole::Memory, &plan, &base.path().join("memory")).await)
    } else {
        Outcome::Skipped
    };

    let report = Report {
        plan: &plan,
        fsync,
        embedded,
        etcd,
        etcd_version,
        memory,
    };
    print!("{}", report.render());
    let errors = report.errors();
    drop(base);
    if !errors.is_empty() {
        anyhow::bail!(
            "{} benchmark phase(s) failed (see the errors under the table)",
            errors.len()
        );
    }
    Ok(())
}

fn outcome(result: anyhow::Result<results::Measurements>) -> Outcome {
    match result {
        Ok(m) => Outcome::Ran(m),
        Err(err) => Outcome::Failed(format!("{err:#}")),
    }
}
