//! The node's own usage from the host's `/proc` and its filesystem, as
//! the kubelet reads its root cgroup: CPU time (`/proc/stat`, all but
//! idle and iowait), memory (`/proc/meminfo`: usage is total minus free,
//! the working set is usage minus inactive file pages, available is
//! total minus the working set), the filesystem of the kubelet's
//! directory (statvfs), network bytes per interface (`/proc/net/dev`).

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `/proc/stat` counts in USER_HZ, 100 per second on Linux.
const USER_HZ: u64 = 100;

/// The node's figures at one time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostUsage {
    pub time: Option<SystemTime>,
    /// When the host booted.
    pub boot_time: Option<SystemTime>,
    pub cpu_usage_core_nanoseconds: u64,
    pub memory_total: u64,
    pub memory_usage: u64,
    pub memory_working_set: u64,
    pub memory_rss: u64,
    pub memory_available: u64,
    pub page_faults: u64,
    pub major_page_faults: u64,
    pub fs: Option<FsUsage>,
    /// `(name, rx bytes, tx bytes)` of each interface but loopback.
    pub interfaces: Vec<(String, u64, u64)>,
}

/// A filesystem's size and use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsUsage {
    pub capacity: u64,
    pub available: u64,
    pub used: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

fn kib_field(meminfo: &str, name: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// CPU time in nanoseconds and the boot time from `/proc/stat`.
pub fn parse_stat(stat: &str) -> (u64, Option<SystemTime>) {
    let cpu = stat
        .lines()
        .find(|l| l.starts_with("cpu "))
        .map(|l| {
            // user nice system idle iowait irq softirq steal
            let v: Vec<u64> = l
                .split_whitespace()
                .skip(1)
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            let at = |i: usize| v.get(i).copied().unwrap_or(0);
            at(0) + at(1) + at(2) + at(5) + at(6) + at(7)
        })
        .unwrap_or(0);
    let boot = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|s| UNIX_EPOCH + Duration::from_secs(s));
    (cpu.saturating_mul(1_000_000_000 / USER_HZ), boot)
}

/// Memory figures from `/proc/meminfo`: (total, usage, working set, rss,
/// available).
pub fn parse_meminfo(meminfo: &str) -> (u64, u64, u64, u64, u64) {
    let total = kib_field(meminfo, "MemTotal");
    let usage = total.saturating_sub(kib_field(meminfo, "MemFree"));
    let working_set = usage.saturating_sub(kib_field(meminfo, "Inactive(file)"));
    let rss = kib_field(meminfo, "AnonPages");
    (
        total,
        usage,
        working_set,
        rss,
        total.saturating_sub(working_set),
    )
}

/// `(name, rx, tx)` of each interface but `lo` in `/proc/net/dev`.
pub fn parse_net_dev(dev: &str) -> Vec<(String, u64, u64)> {
    dev.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let name = name.trim();
            let v: Vec<u64> = rest
                .split_whitespace()
                .map(|x| x.parse().unwrap_or(0))
                .collect();
            if name == "lo" {
                return None;
            }
            Some((name.to_string(), *v.first()?, *v.get(8)?))
        })
        .collect()
}

fn vmstat_field(vmstat: &str, name: &str) -> u64 {
    vmstat
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

/// The filesystem holding `path`.
pub fn fs_usage(path: &Path) -> Option<FsUsage> {
    let s = nix::sys::statvfs::statvfs(path).ok()?;
    let frsize = s.fragment_size() as u64;
    let blocks = s.blocks() as u64;
    Some(FsUsage {
        capacity: blocks * frsize,
        available: s.blocks_available() as u64 * frsize,
        used: blocks.saturating_sub(s.blocks_free() as u64) * frsize,
        inodes: s.files() as u64,
        inodes_free: s.files_free() as u64,
    })
}

/// Read the host's figures now; `fs_path` is the kubelet's directory.
pub fn read(fs_path: &Path) -> HostUsage {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let time = SystemTime::now();
    let (cpu, boot_time) = parse_stat(&read("/proc/stat"));
    let (total, usage, working_set, rss, available) = parse_meminfo(&read("/proc/meminfo"));
    let vmstat = read("/proc/vmstat");
    HostUsage {
        time: Some(time),
        boot_time,
        cpu_usage_core_nanoseconds: cpu,
        memory_total: total,
        memory_usage: usage,
        memory_working_set: working_set,
        memory_rss: rss,
        memory_available: available,
        page_faults: vmstat_field(&vmstat, "pgfault"),
        major_page_faults: vmstat_field(&vmstat, "pgmajfault"),
        fs: fs_usage(fs_path).or_else(|| fs_usage(Path::new("/"))),
        interfaces: parse_net_dev(&read("/proc/net/dev")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_files_parse() {
        let (cpu, boot) =
            parse_stat("cpu  100 5 50 1000 7 3 2 1 0 0\ncpu0 1 1 1 1\nbtime 1700000000\n");
        assert_eq!(cpu, (100 + 5 + 50 + 3 + 2 + 1) * 10_000_000);
        assert_eq!(boot, Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
        let m = parse_meminfo(
            "MemTotal: 1000 kB\nMemFree: 200 kB\nAnonPages: 300 kB\nInactive(file): 100 kB\n",
        );
        assert_eq!(m, (1_024_000, 819_200, 716_800, 307_200, 307_200));
        let dev = "Inter-|   Receive\n face |bytes\n    lo: 5 1 0 0 0 0 0 0 5 1 0 0 0 0 0 0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        assert_eq!(parse_net_dev(dev), vec![("eth0".to_string(), 1000, 2000)]);
        let host = read(Path::new("/"));
        assert!(host.cpu_usage_core_nanoseconds > 0 && host.memory_total > 0);
        assert!(host.fs.is_some_and(|f| f.capacity > 0));
    }
}
