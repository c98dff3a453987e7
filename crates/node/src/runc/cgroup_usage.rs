//! CPU and memory usage of a cgroup, as the kubelet's summary API reports
//! it, read from whichever hierarchy holds each controller on this host
//! (see `cgroups.rs`): v1 `cpuacct.usage`, `memory.usage_in_bytes` and
//! `memory.stat`; v2 `cpu.stat`, `memory.current` and `memory.stat`.

use std::path::{Path, PathBuf};

use super::cgroups;

const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// The usage figures of one cgroup.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Cumulative CPU time, nanoseconds.
    pub cpu_ns: u64,
    /// Memory used, page cache included.
    pub memory_usage: u64,
    /// `memory_usage` minus inactive file pages.
    pub working_set: u64,
    /// Anonymous memory (and swap cache on v1).
    pub rss: u64,
}

/// The value of `key N` in a flat-keyed cgroup file.
pub(crate) fn flat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn read_text(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The first of `controllers`' v1 directories that holds `rel`.
fn v1_dir(controllers: &[&str], rel: &str) -> Option<PathBuf> {
    controllers
        .iter()
        .map(|c| Path::new(CGROUP_MOUNT).join(c).join(rel))
        .find(|p| p.is_dir())
}

/// Working set from usage and `memory.stat`'s inactive file pages.
pub(crate) fn working_set(usage: u64, inactive_file: u64) -> u64 {
    usage.saturating_sub(inactive_file)
}

/// The usage of the cgroup at `cgroup_path` (cgroupfs-style, relative to
/// every hierarchy's root); None when the cgroup does not exist.
pub(crate) fn read(cgroup_path: &str) -> Option<Usage> {
    let rel = cgroup_path.trim_start_matches('/');
    if cgroups::unified() {
        return read_v2(&Path::new(CGROUP_MOUNT).join(rel));
    }
    let mut found = false;
    let mut usage = Usage::default();
    if let Some(dir) = v1_dir(&["cpuacct", "cpu,cpuacct", "cpuacct,cpu"], rel) {
        found = true;
        usage.cpu_ns = read_u64(&dir.join("cpuacct.usage")).unwrap_or(0);
    } else {
        // Hybrid host without a v1 cpuacct hierarchy: the unified one.
        let dir = Path::new(CGROUP_MOUNT).join("unified").join(rel);
        if let Some(stat) = read_text(&dir.join("cpu.stat")) {
            found = true;
            usage.cpu_ns = flat_value(&stat, "usage_usec").unwrap_or(0) * 1000;
        }
    }
    if let Some(dir) = v1_dir(&["memory"], rel) {
        found = true;
        usage.memory_usage = read_u64(&dir.join("memory.usage_in_bytes")).unwrap_or(0);
        let stat = read_text(&dir.join("memory.stat")).unwrap_or_default();
        let inactive = flat_value(&stat, "total_inactive_file")
            .or_else(|| flat_value(&stat, "inactive_file"))
            .unwrap_or(0);
        usage.working_set = working_set(usage.memory_usage, inactive);
        usage.rss = flat_value(&stat, "total_rss")
            .or_else(|| flat_value(&stat, "rss"))
            .unwrap_or(0);
    }
    found.then_some(usage)
}

fn read_v2(dir: &Path) -> Option<Usage> {
    if !dir.is_dir() {
        return None;
    }
    let cpu = read_text(&dir.join("cpu.stat")).unwrap_or_default();
    let memory_usage = read_u64(&dir.join("memory.current")).unwrap_or(0);
    let stat = read_text(&dir.join("memory.stat")).unwrap_or_default();
    Some(Usage {
        cpu_ns: flat_value(&cpu, "usage_usec").unwrap_or(0) * 1000,
        memory_usage,
        working_set: working_set(
            memory_usage,
            flat_value(&stat, "inactive_file").unwrap_or(0),
        ),
        rss: flat_value(&stat, "anon").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_values_and_working_set() {
        let stat = "cache 10\nrss 20\ntotal_inactive_file 4096\ntotal_rss 8192\n";
        assert_eq!(flat_value(stat, "total_inactive_file"), Some(4096));
        assert_eq!(flat_value(stat, "total_rss"), Some(8192));
        assert_eq!(flat_value(stat, "rss"), Some(20));
        assert_eq!(flat_value(stat, "anon"), None);
        assert_eq!(working_set(10_000, 4096), 5904);
        assert_eq!(working_set(100, 4096), 0);
    }

    #[test]
    fn a_missing_cgroup_has_no_usage() {
        assert_eq!(read("/rkube-no-such-cgroup/x"), None);
    }
}
