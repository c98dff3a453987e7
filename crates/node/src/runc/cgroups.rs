//! Container cgroups: the cgroupfs-style path runc is given, the layout of
//! the host (v1, hybrid, v2) and whether the kernel killed a container for
//! lack of memory.

use std::path::{Path, PathBuf};

const CGROUP_MOUNT: &str = "/sys/fs/cgroup";

/// `/<root>/<parent>/<id>` with empty parts and stray slashes dropped.
pub(crate) fn container_cgroup_path(root: &str, parent: &str, id: &str) -> String {
    let mut path = String::new();
    for part in [root, parent, id] {
        for seg in part
            .split('/')
            .filter(|s| !s.is_empty() && *s != "." && *s != "..")
        {
            path.push('/');
            path.push_str(seg);
        }
    }
    if path.is_empty() {
        path.push('/');
    }
    path
}

/// True on a unified (v2-only) host; false on v1 and hybrid hosts, where
/// runc puts memory limits into the v1 `memory` hierarchy.
pub(crate) fn unified() -> bool {
    Path::new(CGROUP_MOUNT).join("cgroup.controllers").exists()
}

/// Every directory a cgroup path names, one per hierarchy that exists on
/// this host (for removing a pod's cgroup once it is empty).
pub(crate) fn hierarchy_dirs(cgroup_path: &str) -> Vec<PathBuf> {
    let rel = cgroup_path.trim_start_matches('/');
    if rel.is_empty() {
        return Vec::new();
    }
    if unified() {
        return vec![Path::new(CGROUP_MOUNT).join(rel)];
    }
    let Ok(entries) = std::fs::read_dir(CGROUP_MOUNT) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().map(|t| t.is_dir()).unwrap_or(false))
        .map(|e| e.path().join(rel))
        .filter(|p| p.is_dir())
        .collect()
}

/// Remove the (empty) cgroup directories of `cgroup_path` and of its
/// parents, deepest first, keeping the first `keep_levels` segments.
/// Failures (a cgroup still in use) are ignored.
pub(crate) fn remove_dirs(cgroup_path: &str, keep_levels: usize) {
    let segs: Vec<&str> = cgroup_path.split('/').filter(|s| !s.is_empty()).collect();
    for depth in (keep_levels + 1..=segs.len()).rev() {
        let path = format!("/{}", segs[..depth].join("/"));
        for dir in hierarchy_dirs(&path) {
            let _ = std::fs::remove_dir(&dir);
        }
    }
}

/// How many times the kernel's OOM killer acted in the container's
/// cgroup (v1: `memory.oom_control`'s `oom_kill`; v2: `memory.events`'s
/// `oom_kill`). Zero when unknown.
pub(crate) fn oom_kills(cgroup_path: &str) -> u64 {
    let rel = cgroup_path.trim_start_matches('/');
    let (file, key) = if unified() {
        (
            Path::new(CGROUP_MOUNT).join(rel).join("memory.events"),
            "oom_kill",
        )
    } else {
        (
            Path::new(CGROUP_MOUNT)
                .join("memory")
                .join(rel)
                .join("memory.oom_control"),
            "oom_kill",
        )
    };
    std::fs::read_to_string(file)
        .ok()
        .and_then(|text| parse_counter(&text, key))
        .unwrap_or(0)
}

/// The value of `key N` in a flat-keyed cgroup file.
fn parse_counter(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let mut parts = line.split_whitespace();
        (parts.next() == Some(key))
            .then(|| parts.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_joined_and_cleaned() {
        assert_eq!(
            container_cgroup_path("", "kubepods/burstable/podX", "c1"),
            "/kubepods/burstable/podX/c1"
        );
        assert_eq!(container_cgroup_path("/rk/", "/a/../b/", "c"), "/rk/a/b/c");
    }

    #[test]
    fn counters_are_read() {
        let text = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(parse_counter(text, "oom_kill"), Some(2));
        assert_eq!(parse_counter("low 0\noom 1\n", "oom_kill"), None);
    }
}
