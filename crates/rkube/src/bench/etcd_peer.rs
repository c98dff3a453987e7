//! The benchmark's etcd: started by the benchmark, the same workload run on
//! it in this process through the `Store` trait, and its peak RSS read from
//! `/proc/<etcd pid>/status`.

use std::path::Path;

use super::plan::Plan;
use super::results::Measurements;

/// Start etcd, run the workload on it, stop it.
pub async fn run(_plan: &Plan, _dir: &Path) -> anyhow::Result<Measurements> {
    // TODO(etcd backend): start rkube_store::testing::EtcdServer and connect
    // rkube_store::etcd::EtcdStore once they land.
    anyhow::bail!("the etcd backend is not built yet")
}

/// `etcd 3.4.23`, from `etcd --version`, if etcd is installed.
pub fn version() -> Option<String> {
    let out = std::process::Command::new("etcd")
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
