//! [`RuncConfig`]: where the runc runtime keeps its state and which
//! programs it runs.

use std::path::{Path, PathBuf};

/// How the runc runtime is set up. [`RuncConfig::new`] gives the defaults
/// for a data directory.
#[derive(Clone, Debug)]
pub struct RuncConfig {
    /// The runc binary (default `runc`, found on `PATH`).
    pub runc: PathBuf,
    /// runc's `--root`: its own state of every container (default
    /// `DATA_DIR/runc`).
    pub runc_root: PathBuf,
    /// The runtime's records, bundles and exit files (default
    /// `DATA_DIR/containers`).
    pub state_dir: PathBuf,
    /// The program started as `<shim> shim …` beside each container: the
    /// rkube binary (default: this process's executable).
    pub shim_program: PathBuf,
    /// Prefix of every container's cgroup (cgroupfs-style, relative to the
    /// root of each hierarchy): a container's cgroup is
    /// `/<cgroup_root>/<cgroup_parent>/<container id>`. Default empty.
    pub cgroup_root: String,
    /// Prefix of the network namespaces' names (`<prefix><sandbox id>` under
    /// `/var/run/netns`). Default `rkube-`.
    pub netns_prefix: String,
}

impl RuncConfig {
    /// The defaults for a data directory.
    pub fn new(data_dir: &Path) -> RuncConfig {
        RuncConfig {
            runc: PathBuf::from("runc"),
            runc_root: data_dir.join("runc"),
            state_dir: data_dir.join("containers"),
            shim_program: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("rkube")),
            cgroup_root: String::new(),
            netns_prefix: "rkube-".to_string(),
        }
    }
}
