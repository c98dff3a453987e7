//! One container's configuration from the pod spec and the image: argv
//! (`command`/`args` over the image's entrypoint and cmd, with `$(VAR)`
//! expansion), environment, working directory, user, security, resources,
//! mounts, log path, labels.

use std::collections::BTreeMap;

use rkube_cri::ContainerConfig;

use crate::kubelet::container::env::{kubelet_env, with_image_env, EnvList};
use crate::kubelet::container::expand::expand;
use crate::kubelet::container::fieldref::{Addresses, NodeAllocatable};
use crate::kubelet::container::mounts::{container_log_path, mounts, termination_message_path};
use crate::kubelet::container::resources::resources;
use crate::kubelet::container::sandbox::{host_network, pod_labels, LABEL_CONTAINER_NAME};
use crate::kubelet::container::security::security_config;
use crate::kubelet::container::{ConfigError, ContainerInputs};

/// Annotations the kubelet puts on containers.
pub const ANNOTATION_RESTART_COUNT: &str = "io.kubernetes.container.restartCount";
pub const ANNOTATION_TERMINATION_MESSAGE_POLICY: &str =
    "io.kubernetes.container.terminationMessagePolicy";

/// The command line as Kubernetes documents it: `command` replaces the
/// entrypoint and drops cmd; `args` alone replace cmd.
pub fn argv(
    command: &[String],
    args: &[String],
    entrypoint: &[String],
    cmd: &[String],
    env: &EnvList,
) -> Vec<String> {
    let x = |v: &[String]| -> Vec<String> { v.iter().map(|s| expand(s, |n| env.get(n))).collect() };
    match (command.is_empty(), args.is_empty()) {
        (false, _) => x(command).into_iter().chain(x(args)).collect(),
        (true, false) => entrypoint.iter().cloned().chain(x(args)).collect(),
        (true, true) => entrypoint.iter().chain(cmd).cloned().collect(),
    }
}

/// The container's configuration with `node` as the allocatable amounts
/// (unset limits in `resourceFieldRef`, OOM score of Burstable pods).
pub fn container_config_with(
    inputs: &ContainerInputs<'_>,
    node: &NodeAllocatable,
) -> Result<ContainerConfig, ConfigError> {
    let ContainerInputs {
        pod,
        container: c,
        image,
        attempt,
        env,
        volumes,
        pod_ip,
        config,
    } = *inputs;
    // hostNetwork pods have the node's address.
    let pod_ip = pod_ip.or_else(|| host_network(pod).then_some(config.node_ip));
    let addrs = Addresses {
        host_ip: config.node_ip,
        pod_ip,
    };
    let kenv = kubelet_env(pod, c, env, addrs, node)?;
    let security = security_config(pod, c, &image.user)?;
    let mounts = mounts(config, pod, c, attempt, volumes, &kenv)?;
    let argv = argv(
        c.command.as_deref().unwrap_or_default(),
        c.args.as_deref().unwrap_or_default(),
        &image.entrypoint,
        &image.cmd,
        &kenv,
    );
    let mut labels = pod_labels(pod);
    labels.insert(LABEL_CONTAINER_NAME.to_string(), c.name.clone());
    let annotations = BTreeMap::from([
        (ANNOTATION_RESTART_COUNT.to_string(), attempt.to_string()),
        (
            ANNOTATION_TERMINATION_MESSAGE_POLICY.to_string(),
            c.termination_message_policy
                .clone()
                .unwrap_or_else(|| "File".to_string()),
        ),
    ]);
    Ok(ContainerConfig {
        name: c.name.clone(),
        attempt,
        image: c.image.clone().unwrap_or_default(),
        image_id: image.id.clone(),
        image_user: image.user.clone(),
        argv,
        env: with_image_env(&image.env, &kenv),
        working_dir: c
            .working_dir
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| image.working_dir.clone()),
        mounts,
        log_path: container_log_path(config, pod, &c.name, attempt),
        tty: c.tty.unwrap_or(false),
        stdin: c.stdin.unwrap_or(false),
        stdin_once: c.stdin_once.unwrap_or(false),
        resources: resources(pod, c, node.memory_capacity),
        security,
        termination_message_path: termination_message_path(c),
        labels,
        annotations,
        target_container_id: None,
    })
}
