//! The container's mounts: its `volumeMounts` (with `subPath`,
//! `subPathExpr` — mounted from the bind mount `volumes::subpath` makes
//! under `volume-subpaths/` — and `readOnly`; configMap, secret,
//! downwardAPI and projected volumes, and claims used read-only, always
//! read-only), the pod's `/etc/hosts` and its own
//! termination-message file; and the paths of the files the kubelet keeps
//! per pod and per container.

use std::net::IpAddr;
use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod, VolumeMount};
use rkube_cri::Mount;

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::env::EnvList;
use crate::kubelet::container::expand::expand;
use crate::kubelet::container::sandbox::{hostname, pod_log_dir};
use crate::kubelet::container::ConfigError;
use crate::kubelet::volumes::{subpath, PodVolumes};

/// The default `terminationMessagePath`.
pub const DEFAULT_TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

fn uid(pod: &Pod) -> &str {
    pod.metadata.uid.as_deref().unwrap_or_default()
}

/// `root_dir/pods/<uid>`: the pod's own directory.
pub fn pod_dir(config: &KubeletConfig, pod_uid: &str) -> PathBuf {
    config.root_dir.join("pods").join(pod_uid)
}

/// `root_dir/pods/<uid>/etc-hosts`.
pub fn etc_hosts_path(config: &KubeletConfig, pod: &Pod) -> PathBuf {
    pod_dir(config, uid(pod)).join("etc-hosts")
}

/// `root_dir/pods/<uid>/containers/<name>/<attempt>-termination-log`.
pub fn termination_log_path(
    config: &KubeletConfig,
    pod: &Pod,
    name: &str,
    attempt: u32,
) -> PathBuf {
    pod_dir(config, uid(pod))
        .join("containers")
        .join(name)
        .join(format!("{attempt}-termination-log"))
}

/// `log_dir/<ns>_<name>_<uid>/<container>/<attempt>.log`.
pub fn container_log_path(config: &KubeletConfig, pod: &Pod, name: &str, attempt: u32) -> PathBuf {
    pod_log_dir(pod, config)
        .join(name)
        .join(format!("{attempt}.log"))
}

/// The container's `terminationMessagePath`.
pub fn termination_message_path(c: &Container) -> String {
    c.termination_message_path
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| DEFAULT_TERMINATION_MESSAGE_PATH.to_string())
}

/// The pod's `/etc/hosts` as the kubelet writes it. `host_hosts` is the
/// host's `/etc/hosts` for `hostNetwork` pods.
pub fn etc_hosts(
    pod: &Pod,
    pod_ip: Option<IpAddr>,
    cluster_domain: &str,
    host_hosts: Option<&str>,
) -> String {
    let mut out = String::new();
    match host_hosts {
        Some(host) => {
            out.push_str("# Kubernetes-managed hosts file (host network).\n");
            out.push_str(host);
            if !host.ends_with('\n') && !host.is_empty() {
                out.push('\n');
            }
        }
        None => {
            out.push_str("# Kubernetes-managed hosts file.\n");
            out.push_str("127.0.0.1\tlocalhost\n");
            out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
            out.push_str("fe00::0\tip6-localnet\n");
            out.push_str("fe00::0\tip6-mcastprefix\n");
            out.push_str("fe00::1\tip6-allnodes\n");
            out.push_str("fe00::2\tip6-allrouters\n");
            if let Some(ip) = pod_ip {
                let (host, fqdn) = hostname(pod, cluster_domain);
                match fqdn {
                    Some(f) => out.push_str(&format!("{ip}\t{f}\t{host}\n")),
                    None => out.push_str(&format!("{ip}\t{host}\n")),
                }
            }
        }
    }
    let aliases = pod.spec.as_ref().and_then(|s| s.host_aliases.as_ref());
    if let Some(aliases) = aliases.filter(|a| !a.is_empty()) {
        out.push_str("\n# Entries added by HostAliases.\n");
        for a in aliases {
            let names = a.hostnames.clone().unwrap_or_default().join("\t");
            out.push_str(&format!("{}\t{names}\n", a.ip));
        }
    }
    out
}

fn config_error(message: String) -> ConfigError {
    ConfigError {
        reason: "CreateContainerConfigError",
        message,
    }
}

/// The mount's `subPath`, or its `subPathExpr` expanded with the
/// container's environment (`$(VAR)`); refused when absolute or with `..`.
pub fn sub_path(
    m: &VolumeMount,
    c: &Container,
    env: &EnvList,
) -> Result<Option<String>, ConfigError> {
    let sub = match (m.sub_path.as_deref(), m.sub_path_expr.as_deref()) {
        (Some(s), _) if !s.is_empty() => s.to_string(),
        (_, Some(e)) if !e.is_empty() => expand(e, |n| env.get(n)),
        _ => return Ok(None),
    };
    if !subpath::valid(&sub) {
        return Err(config_error(format!(
            "failed to prepare subPath for volumeMount \"{}\" of container \"{}\": subPath {sub:?} must be a relative path within the volume",
            m.name, c.name
        )));
    }
    Ok(Some(sub))
}

/// Where the container's `index`-th mount's sub-path is bound:
/// `pods/<uid>/volume-subpaths/<volume>/<container>/<index>`.
pub fn sub_path_target(
    config: &KubeletConfig,
    pod: &Pod,
    c: &Container,
    index: usize,
    volume: &str,
) -> PathBuf {
    subpath::target(&pod_dir(config, uid(pod)), volume, &c.name, index)
}

/// Volumes whose contents the kubelet owns: always mounted read-only.
fn always_read_only(pod: &Pod, volume: &str) -> bool {
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .find(|v| v.name == volume)
        .is_some_and(|v| {
            v.config_map.is_some()
                || v.secret.is_some()
                || v.downward_api.is_some()
                || v.projected.is_some()
        })
}

/// The container's volume mounts, `/etc/hosts` (unless it mounts one
/// itself) and its termination-message file.
pub fn mounts(
    config: &KubeletConfig,
    pod: &Pod,
    c: &Container,
    attempt: u32,
    volumes: &PodVolumes,
    env: &EnvList,
) -> Result<Vec<Mount>, ConfigError> {
    let mut out = Vec::new();
    for (index, m) in c.volume_mounts.iter().flatten().enumerate() {
        let base = volumes.paths.get(&m.name).ok_or_else(|| {
            config_error(format!(
                "cannot find volume \"{}\" to mount into container \"{}\"",
                m.name, c.name
            ))
        })?;
        let host_path = match sub_path(m, c, env)? {
            Some(_) => sub_path_target(config, pod, c, index, &m.name),
            None => base.clone(),
        };
        out.push(Mount {
            container_path: m.mount_path.clone(),
            host_path,
            readonly: m.read_only.unwrap_or(false)
                || volumes.read_only.contains(&m.name)
                || always_read_only(pod, &m.name),
        });
    }
    if !out.iter().any(|m| m.container_path == "/etc/hosts") {
        out.push(Mount {
            container_path: "/etc/hosts".to_string(),
            host_path: etc_hosts_path(config, pod),
            readonly: false,
        });
    }
    let tpath = termination_message_path(c);
    if !out.iter().any(|m| m.container_path == tpath) {
        out.push(Mount {
            container_path: tpath,
            host_path: termination_log_path(config, pod, &c.name, attempt),
            readonly: false,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn config() -> KubeletConfig {
        KubeletConfig::new(
            "n".into(),
            "127.0.0.1".parse().expect("test input"),
            Path::new("/d"),
        )
    }

    fn pod() -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {
                "hostname": "h", "subdomain": "s",
                "hostAliases": [{"ip": "192.0.2.9", "hostnames": ["foo.local", "bar.local"]}],
                "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "x"}}],
                "containers": [{"name": "c", "volumeMounts": [
                    {"name": "data", "mountPath": "/data"},
                    {"name": "data", "mountPath": "/sub", "subPath": "a/b", "readOnly": true},
                    {"name": "data", "mountPath": "/expr", "subPathExpr": "$(POD)"},
                    {"name": "cfg", "mountPath": "/cfg"}]}],
            },
        }))
        .expect("test input")
    }

    fn volumes() -> PodVolumes {
        PodVolumes {
            paths: [
                ("data".to_string(), PathBuf::from("/v/data")),
                ("cfg".to_string(), PathBuf::from("/v/cfg")),
            ]
            .into(),
            ..PodVolumes::default()
        }
    }

    #[test]
    fn mounts_of_a_container() {
        let p = pod();
        let mut env = EnvList::default();
        env.set("POD", "p".into());
        let c = &p.spec.as_ref().expect("test input").containers[0];
        let m = mounts(&config(), &p, c, 3, &volumes(), &env).expect("test input");
        let find = |path: &str| {
            m.iter()
                .find(|m| m.container_path == path)
                .expect("test input")
                .clone()
        };
        assert_eq!(find("/data").host_path, PathBuf::from("/v/data"));
        assert!(!find("/data").readonly);
        assert_eq!(
            find("/sub").host_path,
            PathBuf::from("/d/kubelet/pods/u/volume-subpaths/data/c/1")
        );
        assert!(find("/sub").readonly);
        assert_eq!(
            find("/expr").host_path,
            PathBuf::from("/d/kubelet/pods/u/volume-subpaths/data/c/2")
        );
        let vm = &c.volume_mounts.as_ref().expect("test input")[2];
        assert_eq!(
            sub_path(vm, c, &env).expect("expanded"),
            Some("p".to_string())
        );
        assert!(find("/cfg").readonly);
        assert_eq!(
            find("/etc/hosts").host_path,
            PathBuf::from("/d/kubelet/pods/u/etc-hosts")
        );
        assert_eq!(
            find("/dev/termination-log").host_path,
            PathBuf::from("/d/kubelet/pods/u/containers/c/3-termination-log")
        );
        assert_eq!(
            container_log_path(&config(), &p, "c", 3),
            PathBuf::from("/d/kubelet/pod-logs/ns_p_u/c/3.log")
        );
    }

    #[test]
    fn read_only_claims() {
        let p = pod();
        let c = &p.spec.as_ref().expect("test input").containers[0];
        let mut v = volumes();
        v.read_only.insert("data".to_string());
        let m = mounts(&config(), &p, c, 0, &v, &EnvList::default()).expect("test input");
        assert!(m
            .iter()
            .filter(
                |m| m.container_path != "/etc/hosts" && m.container_path != "/dev/termination-log"
            )
            .all(|m| m.readonly));
    }

    #[test]
    fn sub_path_expr_refused_outside_the_volume() {
        let p = pod();
        let c = &p.spec.as_ref().expect("test input").containers[0];
        let vm = &c.volume_mounts.as_ref().expect("test input")[2];
        for bad in ["..", "../x", "/abs", "a/../.."] {
            let mut env = EnvList::default();
            env.set("POD", bad.into());
            let e = sub_path(vm, c, &env).expect_err("refused");
            assert_eq!(e.reason, "CreateContainerConfigError");
            assert!(
                e.message
                    .contains("must be a relative path within the volume"),
                "{}",
                e.message
            );
        }
        let mut env = EnvList::default();
        env.set("POD", "web-0/logs".into());
        assert_eq!(
            sub_path(vm, c, &env).expect("ok"),
            Some("web-0/logs".to_string())
        );
        // An unknown variable stays as written (kube's expansion).
        assert_eq!(
            sub_path(vm, c, &EnvList::default()).expect("ok"),
            Some("$(POD)".to_string())
        );
    }

    #[test]
    fn bad_mounts_are_config_errors() {
        let mut p = pod();
        let c = &mut p.spec.as_mut().expect("test input").containers[0];
        c.volume_mounts.as_mut().expect("test input")[1].sub_path = Some("../../etc".into());
        let c = c.clone();
        let e =
            mounts(&config(), &p, &c, 0, &volumes(), &EnvList::default()).expect_err("an error");
        assert_eq!(e.reason, "CreateContainerConfigError");
        let e = mounts(
            &config(),
            &p,
            &c,
            0,
            &PodVolumes::default(),
            &EnvList::default(),
        )
        .expect_err("an error");
        assert_eq!(
            e.message,
            "cannot find volume \"data\" to mount into container \"c\""
        );
    }

    #[test]
    fn hosts_file() {
        let p = pod();
        let h = etc_hosts(
            &p,
            Some("10.244.0.5".parse().expect("test input")),
            "cluster.local",
            None,
        );
        assert!(h.starts_with("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n"));
        assert!(h.contains("10.244.0.5\th.s.ns.svc.cluster.local\th\n"));
        assert!(h.ends_with("# Entries added by HostAliases.\n192.0.2.9\tfoo.local\tbar.local\n"));
        let hn = etc_hosts(&p, None, "cluster.local", Some("127.0.0.1 myhost\n"));
        assert!(
            hn.starts_with("# Kubernetes-managed hosts file (host network).\n127.0.0.1 myhost\n")
        );
    }
}
