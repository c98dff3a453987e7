//! The files the kubelet makes on the host before a container is created:
//! the pod's `/etc/hosts`, the container's empty termination-message file
//! (writable by any user, as the kubelet makes it), its log directory, and
//! its `subPath` mounts (made and bound safely by `volumes::subpath`).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::kubelet::container::env::{kubelet_env, EnvList};
use crate::kubelet::container::fieldref::Addresses;
use crate::kubelet::container::mounts::{
    container_log_path, etc_hosts, etc_hosts_path, sub_path, sub_path_target, termination_log_path,
};
use crate::kubelet::container::sandbox::host_network;
use crate::kubelet::container::{ConfigError, ContainerInputs};
use crate::kubelet::volumes::subpath;

fn io_error(what: &str, path: &Path, e: std::io::Error) -> ConfigError {
    ConfigError {
        reason: "CreateContainerConfigError",
        message: format!("{what} {}: {e}", path.display()),
    }
}

fn ensure_parent(path: &Path) -> Result<(), ConfigError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_error("cannot create", parent, e))?;
    }
    Ok(())
}

/// Write the pod's `/etc/hosts` (in place, so that running containers see
/// it) and make the container's termination-message file, log directory
/// and `subPath` directories. Call before `create_container`, after the
/// volumes are set up.
pub fn prepare_container_files(inputs: &ContainerInputs<'_>) -> Result<(), ConfigError> {
    let ContainerInputs {
        pod,
        container,
        attempt,
        volumes,
        pod_ip,
        config,
        env,
        ..
    } = *inputs;
    let hosts_path = etc_hosts_path(config, pod);
    let host_hosts = if host_network(pod) {
        Some(fs::read_to_string("/etc/hosts").unwrap_or_default())
    } else {
        None
    };
    let hosts = etc_hosts(pod, pod_ip, &config.cluster_domain, host_hosts.as_deref());
    ensure_parent(&hosts_path)?;
    if fs::read_to_string(&hosts_path).ok().as_deref() != Some(hosts.as_str()) {
        fs::write(&hosts_path, hosts).map_err(|e| io_error("cannot write", &hosts_path, e))?;
    }
    let term = termination_log_path(config, pod, &container.name, attempt);
    ensure_parent(&term)?;
    if !term.exists() {
        fs::write(&term, b"").map_err(|e| io_error("cannot create", &term, e))?;
    }
    fs::set_permissions(&term, fs::Permissions::from_mode(0o666))
        .map_err(|e| io_error("cannot chmod", &term, e))?;
    let log = container_log_path(config, pod, &container.name, attempt);
    ensure_parent(&log)?;
    // subPathExpr needs the container's environment.
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    let kenv = if mounts
        .iter()
        .any(|m| m.sub_path_expr.as_deref().is_some_and(|e| !e.is_empty()))
    {
        let node = crate::kubelet::node::host::allocatable(&config.root_dir);
        let addrs = Addresses {
            host_ip: config.node_ip,
            pod_ip: pod_ip.or_else(|| host_network(pod).then_some(config.node_ip)),
        };
        kubelet_env(pod, container, env, addrs, &node)?
    } else {
        EnvList::default()
    };
    for (index, m) in mounts.iter().enumerate() {
        let Some(sub) = sub_path(m, container, &kenv)? else {
            continue;
        };
        let Some(base) = volumes.paths.get(&m.name) else {
            continue;
        };
        let target = sub_path_target(config, pod, container, index, &m.name);
        subpath::prepare(base, &sub, &target).map_err(|e| ConfigError {
            reason: "CreateContainerConfigError",
            message: format!(
                "failed to prepare subPath for volumeMount \"{}\" of container \"{}\": {e}",
                m.name, container.name
            ),
        })?;
    }
    Ok(())
}
