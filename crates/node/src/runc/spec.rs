//! The OCI runtime spec of one container (`bundle/config.json`), after
//! containerd's defaults (`pkg/oci/spec.go`) and its CRI plugin's options:
//! namespaces joined from the sandbox, the 14 default capabilities,
//! RLIMIT_NOFILE 1024, masked and read-only paths, the standard mounts, the
//! pod's hostname and resolv.conf, the termination-message file, the
//! config's bind mounts, resources under the pod's cgroup, seccomp.

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    LinuxBuilder, LinuxCapabilitiesBuilder, LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder,
    LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemoryBuilder, LinuxNamespace,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};
use rkube_cri::{ContainerConfig, CriError, Seccomp};

use super::caps;
use super::records::SandboxRecord;
use super::seccomp;
use super::user::ResolvedUser;

/// `PATH` when neither the image nor the pod sets one.
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// containerd's masked paths.
const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// containerd's read-only paths.
const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Everything the spec is made from.
pub(crate) struct SpecInputs<'a> {
    pub config: &'a ContainerConfig,
    pub sandbox: &'a SandboxRecord,
    /// The sandbox's directory (its `hostname` and `resolv.conf`).
    pub sandbox_dir: &'a Path,
    pub rootfs: &'a Path,
    pub user: &'a ResolvedUser,
    pub cgroups_path: &'a str,
    /// The host file behind `terminationMessagePath`.
    pub termination_log: Option<&'a Path>,
    /// The pid namespace to join (`/proc/<pid>/ns/pid` of the target
    /// container of an ephemeral one); None: a new one.
    pub pid_ns: Option<&'a Path>,
}

fn oci_err(e: oci_spec::OciSpecError) -> CriError {
    CriError::InvalidConfig(format!("OCI spec: {e}"))
}

/// Build the container's spec.
pub(crate) fn build(inputs: &SpecInputs<'_>) -> Result<Spec, CriError> {
    let config = inputs.config;
    let security = &config.security;
    if config.argv.is_empty() {
        return Err(CriError::InvalidConfig(
            "no command specified: the image has no entrypoint or cmd and the pod no command"
                .to_string(),
        ));
    }
    let caps = caps::capabilities(security)?;
    // oci-spec's builders start from its `Default`s (a youki hostname,
    // ambient capabilities, default masked paths …): every field that
    // matters is set here, unwanted ones cleared.
    let mut capabilities = LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps.clone())
        .build()
        .map_err(oci_err)?;
    capabilities.set_inheritable(None);
    capabilities.set_ambient(None);
    let user = UserBuilder::default()
        .uid(inputs.user.uid)
        .gid(inputs.user.gid)
        .additional_gids(inputs.user.additional_gids.clone())
        .build()
        .map_err(oci_err)?;
    let nofile = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(1024u64)
        .hard(1024u64)
        .build()
        .map_err(oci_err)?;
    let cwd = if config.working_dir.is_empty() {
        "/".to_string()
    } else {
        config.working_dir.clone()
    };
    let mut process = ProcessBuilder::default()
        .terminal(config.tty)
        .user(user)
        .args(config.argv.clone())
        .env(environment(config, &inputs.sandbox.hostname))
        .cwd(cwd)
        .capabilities(capabilities)
        .rlimits(vec![nofile])
        .no_new_privileges(security.no_new_privs && !security.privileged);
    if config.resources.oom_score_adj != 0 {
        process = process.oom_score_adj(config.resources.oom_score_adj);
    }
    let process = process.build().map_err(oci_err)?;

    let root = RootBuilder::default()
        .path(inputs.rootfs.to_path_buf())
        .readonly(security.readonly_rootfs)
        .build()
        .map_err(oci_err)?;

    let mut linux = LinuxBuilder::default()
        .namespaces(namespaces(inputs.sandbox, inputs.pid_ns)?)
        .cgroups_path(PathBuf::from(inputs.cgroups_path))
        .resources(resources(config)?);
    if security.privileged {
        linux = linux.devices(host_devices());
    } else {
        linux = linux
            .masked_paths(
                MASKED_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            )
            .readonly_paths(
                READONLY_PATHS
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>(),
            );
        if security.seccomp == Seccomp::RuntimeDefault {
            linux = linux.seccomp(seccomp::runtime_default(&caps)?);
        }
    }
    let mut linux = linux.build().map_err(oci_err)?;
    if security.privileged {
        linux.set_masked_paths(None);
        linux.set_readonly_paths(None);
    }

    let mut spec = SpecBuilder::default()
        .version("1.0.2")
        .process(process)
        .root(root)
        .mounts(mounts(inputs)?)
        .linux(linux)
        .build()
        .map_err(oci_err)?;
    // The sandbox's UTS namespace already has the pod's hostname.
    spec.set_hostname(None);
    spec.set_domainname(None);
    spec.set_annotations(None);
    Ok(spec)
}

/// The container's environment: `PATH` if missing, `HOSTNAME`, then the
/// config's variables (later entries win, as the kubelet orders them).
fn environment(config: &ContainerConfig, hostname: &str) -> Vec<String> {
    let mut env: Vec<String> = Vec::with_capacity(config.env.len() + 2);
    if !config.env.iter().any(|(k, _)| k == "PATH") {
        env.push(DEFAULT_PATH.to_string());
    }
    env.push(format!("HOSTNAME={hostname}"));
    for (key, value) in &config.env {
        let prefix = format!("{key}=");
        env.retain(|e| !e.starts_with(&prefix));
        env.push(format!("{key}={value}"));
    }
    env
}

fn namespace(typ: LinuxNamespaceType, path: Option<&Path>) -> Result<LinuxNamespace, CriError> {
    let mut ns = LinuxNamespaceBuilder::default().typ(typ);
    if let Some(path) = path {
        ns = ns.path(path.to_path_buf());
    }
    ns.build().map_err(oci_err)
}

/// New pid (or `pid_ns`, joined) and mount namespaces; the sandbox's
/// network, IPC and UTS ones (the host's network and UTS with
/// `hostNetwork`).
fn namespaces(
    sandbox: &SandboxRecord,
    pid_ns: Option<&Path>,
) -> Result<Vec<LinuxNamespace>, CriError> {
    let mut list = vec![
        namespace(LinuxNamespaceType::Pid, pid_ns)?,
        namespace(LinuxNamespaceType::Mount, None)?,
        namespace(LinuxNamespaceType::Ipc, Some(&sandbox.ipc_ns))?,
    ];
    if let Some(uts) = &sandbox.uts_ns {
        list.push(namespace(LinuxNamespaceType::Uts, Some(uts))?);
    }
    if let Some(netns) = &sandbox.netns_path {
        list.push(namespace(LinuxNamespaceType::Network, Some(netns))?);
    }
    Ok(list)
}

/// Devices denied but for runc's defaults (all allowed when privileged),
/// CPU shares and quota, the memory limit with no swap beyond it.
fn resources(config: &ContainerConfig) -> Result<oci_spec::runtime::LinuxResources, CriError> {
    let res = &config.resources;
    let devices = LinuxDeviceCgroupBuilder::default()
        .allow(config.security.privileged)
        .access("rwm")
        .build()
        .map_err(oci_err)?;
    let mut builder = LinuxResourcesBuilder::default().devices(vec![devices]);
    if res.cpu_shares > 0 || res.cpu_quota > 0 {
        let mut cpu = LinuxCpuBuilder::default();
        if res.cpu_shares > 0 {
            cpu = cpu.shares(res.cpu_shares);
        }
        if res.cpu_quota > 0 {
            cpu = cpu.quota(res.cpu_quota).period(if res.cpu_period > 0 {
                res.cpu_period
            } else {
                100_000
            });
        }
        builder = builder.cpu(cpu.build().map_err(oci_err)?);
    }
    if res.memory_limit > 0 {
        let mut memory = LinuxMemoryBuilder::default().limit(res.memory_limit);
        if super::cgroups::unified()
            || Path::new("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        {
            memory = memory.swap(res.memory_limit);
        }
        builder = builder.memory(memory.build().map_err(oci_err)?);
    }
    builder.build().map_err(oci_err)
}

fn mount(dest: &str, typ: &str, source: &Path, options: &[&str]) -> Result<Mount, CriError> {
    MountBuilder::default()
        .destination(PathBuf::from(dest))
        .typ(typ)
        .source(source.to_path_buf())
        .options(options.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        .build()
        .map_err(oci_err)
}

fn bind(dest: &str, source: &Path, readonly: bool) -> Result<Mount, CriError> {
    mount(
        dest,
        "bind",
        source,
        &["rbind", "rprivate", if readonly { "ro" } else { "rw" }],
    )
}

/// containerd's standard mounts, then hostname, resolv.conf and the
/// termination-message file, then the config's mounts (parents first).
fn mounts(inputs: &SpecInputs<'_>) -> Result<Vec<Mount>, CriError> {
    let config = inputs.config;
    let privileged = config.security.privileged;
    let mut list = vec![
        mount(
            "/proc",
            "proc",
            Path::new("proc"),
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/dev",
            "tmpfs",
            Path::new("tmpfs"),
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        mount(
            "/dev/pts",
            "devpts",
            Path::new("devpts"),
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        )?,
        mount(
            "/dev/shm",
            "tmpfs",
            Path::new("shm"),
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        mount(
            "/dev/mqueue",
            "mqueue",
            Path::new("mqueue"),
            &["nosuid", "noexec", "nodev"],
        )?,
        mount(
            "/sys",
            "sysfs",
            Path::new("sysfs"),
            &[
                "nosuid",
                "noexec",
                "nodev",
                if privileged { "rw" } else { "ro" },
            ],
        )?,
        mount(
            "/sys/fs/cgroup",
            "cgroup",
            Path::new("cgroup"),
            &[
                "nosuid",
                "noexec",
                "nodev",
                "relatime",
                if privileged { "rw" } else { "ro" },
            ],
        )?,
    ];
    let taken = |dest: &str| config.mounts.iter().any(|m| m.container_path == dest);
    let readonly = config.security.readonly_rootfs;
    if !taken("/etc/hostname") {
        list.push(bind(
            "/etc/hostname",
            &inputs.sandbox_dir.join("hostname"),
            readonly,
        )?);
    }
    if !taken("/etc/resolv.conf") {
        list.push(bind(
            "/etc/resolv.conf",
            &inputs.sandbox_dir.join("resolv.conf"),
            readonly,
        )?);
    }
    if let Some(log) = inputs.termination_log {
        if !taken(&config.termination_message_path) {
            list.push(bind(&config.termination_message_path, log, false)?);
        }
    }
    let mut user_mounts: Vec<&rkube_cri::Mount> = config.mounts.iter().collect();
    user_mounts.sort_by_key(|m| Path::new(&m.container_path).components().count());
    for m in user_mounts {
        if !m.container_path.starts_with('/') {
            return Err(CriError::InvalidConfig(format!(
                "mount path {:?} is not absolute",
                m.container_path
            )));
        }
        list.push(bind(&m.container_path, &m.host_path, m.readonly)?);
    }
    Ok(list)
}

/// Every character and block device under the host's `/dev` (privileged
/// containers get them all, as with containerd).
fn host_devices() -> Vec<LinuxDevice> {
    let mut devices = Vec::new();
    collect_devices(Path::new("/dev"), 0, &mut devices);
    devices
}

fn collect_devices(dir: &Path, depth: usize, out: &mut Vec<LinuxDevice>) {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
    const SKIP: [&str; 5] = ["pts", "shm", "mqueue", "fd", "console"];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if depth == 0 && SKIP.iter().any(|s| name == *s) {
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
            continue;
        };
        let ft = meta.file_type();
        if ft.is_dir() && depth < 3 {
            collect_devices(&entry.path(), depth + 1, out);
            continue;
        }
        let typ = if ft.is_char_device() {
            LinuxDeviceType::C
        } else if ft.is_block_device() {
            LinuxDeviceType::B
        } else {
            continue;
        };
        let rdev = meta.rdev();
        let device = LinuxDeviceBuilder::default()
            .path(entry.path())
            .typ(typ)
            .major(i64::try_from(nix::sys::stat::major(rdev)).unwrap_or(0))
            .minor(i64::try_from(nix::sys::stat::minor(rdev)).unwrap_or(0))
            .file_mode(meta.permissions().mode() & 0o7777)
            .uid(meta.uid())
            .gid(meta.gid())
            .build();
        if let Ok(device) = device {
            out.push(device);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runc::user::ResolvedUser;

    fn sandbox() -> SandboxRecord {
        SandboxRecord {
            id: "s".into(),
            pod_uid: "u".into(),
            pod_name: "p".into(),
            pod_namespace: "n".into(),
            attempt: 0,
            hostname: "p".into(),
            host_network: false,
            netns_path: Some("/var/run/netns/x".into()),
            ipc_ns: "/ns/ipc".into(),
            uts_ns: Some("/ns/uts".into()),
            ip: None,
            ready: true,
            created_at: 0,
            boot_id: String::new(),
            cgroup_parent: "kubepods".into(),
            log_directory: "/logs".into(),
            labels: Default::default(),
        }
    }

    fn spec_json(config: &ContainerConfig) -> serde_json::Value {
        spec_json_in(config, None)
    }

    fn spec_json_in(config: &ContainerConfig, pid_ns: Option<&Path>) -> serde_json::Value {
        let sandbox = sandbox();
        let user = ResolvedUser {
            uid: 1000,
            gid: 1000,
            additional_gids: vec![],
        };
        let spec = build(&SpecInputs {
            config,
            sandbox: &sandbox,
            sandbox_dir: Path::new("/sandbox"),
            rootfs: Path::new("/rootfs"),
            user: &user,
            cgroups_path: "/kubepods/c",
            termination_log: Some(Path::new("/state/termination-log")),
            pid_ns,
        })
        .expect("spec");
        serde_json::to_value(&spec).expect("json")
    }

    #[test]
    fn no_defaults_of_the_oci_crate_leak_in() {
        let config = ContainerConfig {
            argv: vec!["sh".into()],
            termination_message_path: "/dev/termination-log".into(),
            ..Default::default()
        };
        let spec = spec_json(&config);
        assert!(spec.get("hostname").is_none(), "{spec}");
        let caps = &spec["process"]["capabilities"];
        assert!(
            caps.get("ambient").is_none() && caps.get("inheritable").is_none(),
            "{caps}"
        );
        assert_eq!(caps["bounding"].as_array().map(Vec::len), Some(14));
        assert_eq!(spec["root"]["readonly"], false);
        assert_eq!(
            spec["linux"]["maskedPaths"].as_array().map(Vec::len),
            Some(MASKED_PATHS.len())
        );
        let destinations: Vec<&str> = spec["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .filter_map(|m| m["destination"].as_str())
            .collect();
        for d in [
            "/proc",
            "/dev",
            "/dev/pts",
            "/dev/shm",
            "/dev/mqueue",
            "/sys",
            "/etc/hostname",
            "/etc/resolv.conf",
            "/dev/termination-log",
        ] {
            assert!(destinations.contains(&d), "{d} in {destinations:?}");
        }
        let namespaces = spec["linux"]["namespaces"].to_string();
        assert!(namespaces.contains("/var/run/netns/x") && namespaces.contains("/ns/uts"));
        assert_eq!(spec["linux"]["cgroupsPath"], "/kubepods/c");
    }

    #[test]
    fn a_terminal_and_a_target_pid_namespace() {
        let config = ContainerConfig {
            argv: vec!["sh".into()],
            tty: true,
            ..Default::default()
        };
        let spec = spec_json_in(&config, Some(Path::new("/proc/42/ns/pid")));
        assert_eq!(spec["process"]["terminal"], true);
        let pid = spec["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .find(|n| n["type"] == "pid")
            .cloned()
            .expect("pid namespace");
        assert_eq!(pid["path"], "/proc/42/ns/pid");
        let plain = spec_json(&ContainerConfig {
            argv: vec!["sh".into()],
            ..Default::default()
        });
        assert_eq!(plain["process"]["terminal"], false);
        assert!(plain["linux"]["namespaces"][0].get("path").is_none());
    }

    #[test]
    fn privileged_has_no_masked_paths_and_every_device_allowed() {
        let mut config = ContainerConfig {
            argv: vec!["sh".into()],
            ..Default::default()
        };
        config.security.privileged = true;
        let spec = spec_json(&config);
        assert!(spec["linux"].get("maskedPaths").is_none());
        assert!(spec["linux"].get("readonlyPaths").is_none());
        assert_eq!(spec["linux"]["resources"]["devices"][0]["allow"], true);
    }

    #[test]
    fn env_gets_path_and_hostname_and_later_entries_win() {
        let config = ContainerConfig {
            env: vec![
                ("A".into(), "1".into()),
                ("A".into(), "2".into()),
                ("HOSTNAME".into(), "x".into()),
            ],
            ..Default::default()
        };
        let env = environment(&config, "pod");
        assert_eq!(
            env,
            vec![DEFAULT_PATH.to_string(), "A=2".into(), "HOSTNAME=x".into()]
        );
    }
}
