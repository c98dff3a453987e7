//! What the runtime and the shim keep on disk, one JSON file per record,
//! each written atomically: enough for a new agent to adopt every sandbox
//! and container (see the layout in `mod.rs`).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `sandboxes/<id>/sandbox.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct SandboxRecord {
    pub id: String,
    pub pod_uid: String,
    pub pod_name: String,
    pub pod_namespace: String,
    pub attempt: u32,
    pub hostname: String,
    pub host_network: bool,
    /// `/var/run/netns/<prefix><id>`; none with `host_network`.
    pub netns_path: Option<PathBuf>,
    pub ipc_ns: PathBuf,
    /// None with `host_network` (the host's UTS namespace, as containerd).
    pub uts_ns: Option<PathBuf>,
    pub ip: Option<IpAddr>,
    /// True from `run_pod_sandbox` until `stop_pod_sandbox`.
    pub ready: bool,
    pub created_at: u64,
    /// The boot the namespaces were made in: after a reboot they are gone
    /// and the sandbox is NotReady.
    #[serde(default)]
    pub boot_id: String,
    pub cgroup_parent: String,
    pub log_directory: PathBuf,
    pub labels: BTreeMap<String, String>,
}

/// `containers/<id>/container.json`: written once, at creation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ContainerRecord {
    pub id: String,
    pub sandbox_id: String,
    pub name: String,
    pub attempt: u32,
    pub image: String,
    pub image_id: String,
    pub log_path: PathBuf,
    pub labels: BTreeMap<String, String>,
    pub created_at: u64,
    /// The host file behind `terminationMessagePath`, if any.
    pub termination_log: Option<PathBuf>,
    /// cgroupfs-style path of the container's cgroup.
    pub cgroups_path: String,
}

/// `containers/<id>/shim.json`: written by the shim once the container is
/// created.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ShimRecord {
    pub shim_pid: i32,
    pub init_pid: i32,
    pub boot_id: String,
}

/// `containers/<id>/exit.json`: written by the shim when the container's
/// init process ended (or by the runtime when the shim vanished first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExitRecord {
    /// The exit code, or 128 + the signal that ended it.
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub finished_at: u64,
    pub oom_killed: bool,
    /// Set when the exit was not seen (the shim died): the reason and
    /// message to report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
}

/// `containers/<id>/io.json`: the container's standard streams, read by
/// the shim (absent for containers made before it existed: no terminal,
/// no stdin).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IoRecord {
    /// A terminal (`tty: true`): output is one stream, logged as stdout.
    pub tty: bool,
    /// Keep the container's stdin open for attached clients.
    pub stdin: bool,
    /// Close the container's stdin when the first attached client's stdin
    /// ends.
    pub stdin_once: bool,
}
