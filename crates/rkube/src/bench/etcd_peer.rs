//! The benchmark's etcd: started by the benchmark with its data on the same
//! filesystem as the embedded store's, the same workload run on it from this
//! process through the `Store` trait, and its peak RSS read from
//! `/proc/<etcd pid>/status`.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rkube_store::etcd::EtcdStore;
use rkube_store::testing::{EtcdServer, EtcdServerOptions};
use tracing::info;

use super::plan::Plan;
use super::proc_status::read_rss;
use super::results::Measurements;
use super::workload;

/// Start etcd under `dir`, run the workload on it, stop it.
pub async fn run(plan: &Plan, dir: &Path) -> anyhow::Result<Measurements> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let opts = EtcdServerOptions {
        temp_parent: Some(dir.to_path_buf()),
        ..Default::default()
    };
    let server = EtcdServer::start_with_async(opts)
        .await
        .context("cannot start etcd")?;
    info!(pid = server.pid(), endpoints = ?server.endpoints(), "etcd started");
    let store = EtcdStore::connect(&server.endpoints(), "/rkube-bench")
        .await
        .context("cannot connect to the benchmark's etcd")?;
    let mut out = Measurements::default();
    workload::run(Arc::new(store), plan, &mut out).await;
    let rss = read_rss(Some(server.pid())).context("cannot read etcd's memory use")?;
    out.set("rss.peak", rss.peak);
    drop(server);
    Ok(out)
}

/// `etcd 3.4.23`, from `etcd --version`, if etcd is installed.
pub fn version() -> Option<String> {
    let bin = std::env::var_os("RKUBE_ETCD_BIN").unwrap_or_else(|| "etcd".into());
    let out = std::process::Command::new(bin)
        .arg("--version")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.starts_with("etcd Version:"))?;
    Some(format!(
        "etcd {}",
        line.trim_start_matches("etcd Version:").trim()
    ))
}
