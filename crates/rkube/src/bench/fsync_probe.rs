//! The disk's floor: how long one fsync of a small append takes here.
//!
//! A durable write needs at least one, so concurrency-1 put latency is
//! judged against it.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use super::stats::Percentiles;

/// Bytes appended before each fsync.
pub const APPEND_BYTES: usize = 128;

/// Append [`APPEND_BYTES`] and `fdatasync`, up to `samples` times or until
/// `budget` runs out, in a scratch file in `dir` (removed afterwards).
pub fn measure(dir: &Path, samples: usize, budget: Duration) -> std::io::Result<Percentiles> {
    let path = dir.join("fsync-probe");
    let mut file = OpenOptions::new().create(true).append(true).open(&path)?;
    let record = [0x5au8; APPEND_BYTES];
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(samples);
    while latencies.len() < samples && start.elapsed() < budget {
        let t0 = Instant::now();
        file.write_all(&record)?;
        file.sync_data()?;
        latencies.push(t0.elapsed());
    }
    drop(file);
    std::fs::remove_file(&path)?;
    Ok(Percentiles::of(latencies))
}
