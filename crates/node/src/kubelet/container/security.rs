//! The container's security settings: the pod's `securityContext` under
//! the container's, and `runAsNonRoot` checked against the user the
//! container would run as, as the kubelet checks it.

use k8s_openapi::api::core::v1::{Container, Pod, SeccompProfile};
use rkube_cri::{Capabilities, Seccomp, SecurityConfig};

use crate::kubelet::container::ConfigError;

fn seccomp(p: Option<&SeccompProfile>) -> Result<Option<Seccomp>, ConfigError> {
    Ok(match p.map(|p| p.type_.as_str()) {
        None => None,
        Some("RuntimeDefault") => Some(Seccomp::RuntimeDefault),
        Some("Unconfined") => Some(Seccomp::Unconfined),
        Some(other) => {
            return Err(ConfigError {
                reason: "CreateContainerConfigError",
                message: format!("seccomp profile type {other} is not supported on this node"),
            })
        }
    })
}

fn id(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

/// The uid an image user names, if it names one by number (`1000`,
/// `1000:1000`); `Some(0)` for no user at all (root).
fn image_uid(user: &str) -> Result<u32, ()> {
    let u = user.split(':').next().unwrap_or_default();
    if u.is_empty() {
        return Ok(0);
    }
    u.parse().map_err(|_| ())
}

/// The merged security settings; `runAsNonRoot` with a root user (set, or
/// the image's) is a `CreateContainerConfigError`.
pub fn security_config(
    pod: &Pod,
    container: &Container,
    image_user: &str,
) -> Result<SecurityConfig, ConfigError> {
    let psc = pod.spec.as_ref().and_then(|s| s.security_context.as_ref());
    let csc = container.security_context.as_ref();
    let run_as_user = id(csc
        .and_then(|c| c.run_as_user)
        .or(psc.and_then(|p| p.run_as_user)));
    let run_as_group = id(csc
        .and_then(|c| c.run_as_group)
        .or(psc.and_then(|p| p.run_as_group)));
    let run_as_non_root = csc
        .and_then(|c| c.run_as_non_root)
        .or(psc.and_then(|p| p.run_as_non_root))
        .unwrap_or(false);
    let pod_name = format!(
        "{}_{}({})",
        pod.metadata.name.as_deref().unwrap_or_default(),
        pod.metadata.namespace.as_deref().unwrap_or_default(),
        pod.metadata.uid.as_deref().unwrap_or_default()
    );
    if run_as_non_root {
        let err = |message: String| ConfigError {
            reason: "CreateContainerConfigError",
            message,
        };
        match run_as_user {
            Some(0) => {
                return Err(err(format!(
                    "container's runAsUser breaks non-root policy (pod: \"{pod_name}\", container: {})",
                    container.name
                )))
            }
            Some(_) => {}
            None => match image_uid(image_user) {
                Ok(0) => {
                    return Err(err(format!(
                        "container has runAsNonRoot and image will run as root (pod: \"{pod_name}\", container: {})",
                        container.name
                    )))
                }
                Ok(_) => {}
                Err(()) => {
                    return Err(err(format!(
                        "container has runAsNonRoot and image has non-numeric user ({image_user}), cannot verify user is non-root (pod: \"{pod_name}\", container: {})",
                        container.name
                    )))
                }
            },
        }
    }
    let mut supplemental_groups: Vec<u32> = Vec::new();
    if let Some(g) = id(psc.and_then(|p| p.fs_group)) {
        supplemental_groups.push(g);
    }
    for g in psc
        .and_then(|p| p.supplemental_groups.as_ref())
        .into_iter()
        .flatten()
    {
        if let Some(g) = id(Some(*g)) {
            if !supplemental_groups.contains(&g) {
                supplemental_groups.push(g);
            }
        }
    }
    let caps = csc.and_then(|c| c.capabilities.as_ref());
    let seccomp = match seccomp(csc.and_then(|c| c.seccomp_profile.as_ref()))? {
        Some(s) => s,
        None => seccomp(psc.and_then(|p| p.seccomp_profile.as_ref()))?.unwrap_or_default(),
    };
    Ok(SecurityConfig {
        run_as_user,
        run_as_group,
        run_as_non_root,
        supplemental_groups,
        readonly_rootfs: csc
            .and_then(|c| c.read_only_root_filesystem)
            .unwrap_or(false),
        privileged: csc.and_then(|c| c.privileged).unwrap_or(false),
        capabilities: Capabilities {
            add: caps.and_then(|c| c.add.clone()).unwrap_or_default(),
            drop: caps.and_then(|c| c.drop.clone()).unwrap_or_default(),
        },
        // As the kubelet: no_new_privs only when allowPrivilegeEscalation
        // is explicitly false.
        no_new_privs: csc.and_then(|c| c.allow_privilege_escalation) == Some(false),
        seccomp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(psc: serde_json::Value, csc: serde_json::Value) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u"},
            "spec": {"securityContext": psc, "containers": [{"name": "c", "securityContext": csc}]},
        }))
        .expect("test input")
    }

    fn sec(p: &Pod, user: &str) -> Result<SecurityConfig, ConfigError> {
        security_config(p, &p.spec.as_ref().expect("test input").containers[0], user)
    }

    #[test]
    fn container_overrides_pod() {
        let p = pod(
            json!({"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000,
                   "supplementalGroups": [4000, 2000], "seccompProfile": {"type": "RuntimeDefault"}}),
            json!({"runAsUser": 1001, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                   "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}}),
        );
        let s = sec(&p, "").expect("test input");
        assert_eq!(s.run_as_user, Some(1001));
        assert_eq!(s.run_as_group, Some(3000));
        assert_eq!(s.supplemental_groups, [2000, 4000]);
        assert!(s.readonly_rootfs);
        assert!(s.no_new_privs);
        assert!(!s.privileged);
        assert_eq!(s.capabilities.add, ["NET_ADMIN"]);
        assert_eq!(s.capabilities.drop, ["ALL"]);
        assert_eq!(s.seccomp, Seccomp::RuntimeDefault);
    }

    #[test]
    fn defaults() {
        let s = sec(&pod(json!({}), json!({"privileged": true})), "").expect("test input");
        assert!(s.privileged);
        assert!(!s.no_new_privs);
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        assert_eq!(s.run_as_user, None);
    }

    #[test]
    fn run_as_non_root_is_checked() {
        let p = pod(json!({"runAsNonRoot": true}), json!({}));
        let e = sec(&p, "").expect_err("an error");
        assert_eq!(e.reason, "CreateContainerConfigError");
        assert!(
            e.message.contains("image will run as root"),
            "{}",
            e.message
        );
        assert!(sec(&p, "0:0").is_err());
        assert!(sec(&p, "nobody")
            .expect_err("an error")
            .message
            .contains("non-numeric user (nobody)"));
        assert!(sec(&p, "1000:1000").is_ok());
        let root = pod(json!({"runAsNonRoot": true}), json!({"runAsUser": 0}));
        assert!(sec(&root, "1000")
            .expect_err("an error")
            .message
            .contains("breaks non-root policy"));
        let ok = pod(json!({"runAsNonRoot": true, "runAsUser": 65534}), json!({}));
        assert!(sec(&ok, "").is_ok());
    }
}
