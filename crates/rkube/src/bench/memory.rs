//! The memory row: load many keys into a fresh embedded store and compare
//! its resident memory with the target `1.3 × keys × (key + value) + 50 MiB`.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use rkube_store::embedded::{EmbeddedOptions, EmbeddedStore};
use rkube_store::{KeyRange, RangeRequest, Store};
use tracing::info;

use super::plan::Plan;
use super::proc_status::read_rss;
use super::results::Measurements;
use super::workload::load_keys;

const MEMORY_PREFIX: &str = "/bench/mem/";
/// Length of every key written: the prefix and ten digits.
pub const KEY_BYTES: usize = MEMORY_PREFIX.len() + 10;
/// The fixed part of the target.
pub const TARGET_FIXED_BYTES: f64 = 50.0 * 1024.0 * 1024.0;
/// The factor on the raw key and value bytes.
pub const TARGET_FACTOR: f64 = 1.3;

/// The RSS target for `keys` keys with `value_size`-byte values.
pub fn target_bytes(keys: usize, value_size: usize) -> f64 {
    TARGET_FACTOR * keys as f64 * (KEY_BYTES + value_size) as f64 + TARGET_FIXED_BYTES
}

/// Run in a child process: open a fresh store in `plan.dir`, load the keys,
/// measure this process's RSS, close.
pub async fn run(plan: &Plan, out: &mut Measurements) -> anyhow::Result<()> {
    let dir = plan.dir.clone();
    let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(EmbeddedOptions::new(dir)))
        .await?
        .context("cannot open the embedded store")?;
    let keys = plan.memory_keys;
    info!(keys, value_size = plan.value_size, "phase: memory");
    out.set("memory.keys", keys);
    out.set("memory.kv_bytes", KEY_BYTES + plan.value_size);
    out.set("memory.target", target_bytes(keys, plan.value_size));
    let t0 = Instant::now();
    let bound = plan.phase_timeout;
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let loaded = tokio::time::timeout(
        bound,
        load_keys(shared, MEMORY_PREFIX, keys, plan.value_size, plan.batch),
    )
    .await;
    match loaded {
        Ok(Ok(())) => {
            out.set("memory.load_s", t0.elapsed().as_secs_f64());
            let rss = read_rss(None)?;
            out.set("memory.rss", rss.current);
            out.set("memory.peak", rss.peak);
            let req = RangeRequest::new(KeyRange::prefix(MEMORY_PREFIX)).count_only();
            let count = store.range(req).await?.count;
            if count != keys as i64 {
                out.set_error(
                    "memory",
                    format!("{count} keys in the store after loading {keys}"),
                );
            }
        }
        Ok(Err(err)) => out.set_error("memory", err),
        Err(_) => out.set_error("memory", format!("loading timed out after {bound:?}")),
    }
    tokio::task::spawn_blocking(move || store.close()).await?;
    Ok(())
}
