//! What the host has, measured: CPUs available to this process, memory
//! from `/proc/meminfo`, the file system of the kubelet's directory
//! (statvfs), process counts; and what the Node reports about it (kernel,
//! OS image, machine and boot ids). Capacity and allocatable are worked
//! out here as the kubelet does (allocatable = capacity minus the hard
//! eviction thresholds).

use std::path::Path;
use std::sync::OnceLock;

use crate::kubelet::container::fieldref::NodeAllocatable;

/// `memory.available<100Mi`: subtracted from allocatable memory.
pub const EVICTION_MEMORY_AVAILABLE: i128 = 100 << 20;
/// `nodefs.available<10%`: subtracted from allocatable ephemeral storage.
pub const EVICTION_NODEFS_PERCENT: i128 = 10;
/// Pods a node takes.
pub const MAX_PODS: u32 = 110;

/// `/proc/meminfo`'s totals, in bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemInfo {
    pub total: u64,
    pub available: u64,
}

/// Parse `/proc/meminfo` (kB values).
pub fn parse_meminfo(text: &str) -> MemInfo {
    let mut out = MemInfo::default();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let key = f.next().unwrap_or_default();
        let kb: u64 = f.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        match key {
            "MemTotal:" => out.total = kb * 1024,
            "MemAvailable:" => out.available = kb * 1024,
            _ => {}
        }
    }
    out
}

/// The host's memory now.
pub fn meminfo() -> MemInfo {
    parse_meminfo(&std::fs::read_to_string("/proc/meminfo").unwrap_or_default())
}

/// CPUs this process may run on (affinity and cgroup quota counted).
pub fn cpus() -> u64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u64)
        .unwrap_or(1)
}

/// A file system's size and use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FsStats {
    pub capacity: u64,
    pub available: u64,
    pub inodes: u64,
    pub inodes_free: u64,
}

/// The nearest existing directory at or above `path`.
fn existing(path: &Path) -> &Path {
    let mut p = path;
    while !p.exists() {
        match p.parent() {
            Some(parent) => p = parent,
            None => break,
        }
    }
    p
}

/// statvfs of the file system holding `path` (or its nearest existing
/// ancestor).
pub fn fs_stats(path: &Path) -> std::io::Result<FsStats> {
    let s = nix::sys::statvfs::statvfs(existing(path)).map_err(std::io::Error::from)?;
    let frag = s.fragment_size() as u64;
    Ok(FsStats {
        capacity: s.blocks() as u64 * frag,
        available: s.blocks_available() as u64 * frag,
        inodes: s.files() as u64,
        inodes_free: s.files_available() as u64,
    })
}

/// Processes (threads counted as the kernel counts tasks) now, and the
/// most there may be (`kernel/pid_max`).
pub fn pids() -> (u64, u64) {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(32768);
    // /proc/loadavg's fourth field: running/total scheduling entities.
    let running = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(3)
                .and_then(|f| f.split_once('/'))
                .and_then(|(_, total)| total.parse().ok())
        })
        .unwrap_or(0);
    (running, max)
}

/// Capacity of the host as the Node reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    pub cpu_milli: i128,
    pub memory: i128,
    pub ephemeral_storage: i128,
    pub pods: u32,
}

impl Capacity {
    /// Measure the host (`root_dir`'s file system for ephemeral storage).
    pub fn measure(root_dir: &Path) -> Self {
        Capacity {
            cpu_milli: cpus() as i128 * 1000,
            memory: meminfo().total as i128,
            ephemeral_storage: fs_stats(root_dir).map(|s| s.capacity as i128).unwrap_or(0),
            pods: MAX_PODS,
        }
    }

    /// Capacity minus the hard eviction thresholds, as the kubelet's
    /// allocatable (no reservations configured).
    pub fn allocatable(&self) -> NodeAllocatable {
        NodeAllocatable {
            cpu_milli: self.cpu_milli,
            memory: (self.memory - EVICTION_MEMORY_AVAILABLE).max(0),
            ephemeral_storage: self.ephemeral_storage
                - self.ephemeral_storage * EVICTION_NODEFS_PERCENT / 100,
            memory_capacity: self.memory,
        }
    }
}

/// The node's allocatable amounts, measured once per process.
pub fn allocatable(root_dir: &Path) -> NodeAllocatable {
    static CACHE: OnceLock<NodeAllocatable> = OnceLock::new();
    *CACHE.get_or_init(|| Capacity::measure(root_dir).allocatable())
}

/// `PRETTY_NAME` of an os-release file.
pub fn parse_os_release(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let v = l.strip_prefix("PRETTY_NAME=")?;
        Some(v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// What `nodeInfo` says about the host.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostInfo {
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub system_uuid: String,
    pub boot_id: String,
    pub architecture: String,
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// The Go name of the architecture (`amd64`, `arm64`).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

impl HostInfo {
    pub fn read() -> Self {
        let uname = nix::sys::utsname::uname().ok();
        let os_image = ["/etc/os-release", "/usr/lib/os-release"]
            .iter()
            .find_map(|p| {
                std::fs::read_to_string(p)
                    .ok()
                    .and_then(|t| parse_os_release(&t))
            })
            .unwrap_or_else(|| "Linux".to_string());
        let machine_id = read_trim("/etc/machine-id");
        let system_uuid = Some(read_trim("/sys/class/dmi/id/product_uuid"))
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| machine_id.clone());
        HostInfo {
            kernel_version: uname
                .map(|u| u.release().to_string_lossy().into_owned())
                .unwrap_or_default(),
            os_image,
            machine_id,
            system_uuid,
            boot_id: read_trim("/proc/sys/kernel/random/boot_id"),
            architecture: go_arch().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_meminfo_and_os_release() {
        let m =
            parse_meminfo("MemTotal:       16384 kB\nMemFree: 1 kB\nMemAvailable:    8192 kB\n");
        assert_eq!(
            m,
            MemInfo {
                total: 16384 * 1024,
                available: 8192 * 1024
            }
        );
        assert_eq!(
            parse_os_release("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n")
                .as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
    }

    #[test]
    fn allocatable_subtracts_hard_eviction() {
        let c = Capacity {
            cpu_milli: 2000,
            memory: 4 << 30,
            ephemeral_storage: 1000,
            pods: 110,
        };
        let a = c.allocatable();
        assert_eq!(a.memory, (4 << 30) - (100 << 20));
        assert_eq!(a.ephemeral_storage, 900);
        assert_eq!(a.cpu_milli, 2000);
    }

    #[test]
    fn measures_this_host() {
        let c = Capacity::measure(Path::new("/tmp/does/not/exist/yet"));
        assert!(c.cpu_milli >= 1000);
        assert!(c.memory > 0);
        assert!(c.ephemeral_storage > 0);
        let (running, max) = pids();
        assert!(running > 0 && max >= running);
        let info = HostInfo::read();
        assert!(!info.kernel_version.is_empty());
    }
}
