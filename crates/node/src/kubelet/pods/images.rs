//! Image pulls for a container, as the kubelet's image manager: the pull
//! policy (`imagePullPolicy`, defaulted from the tag), credentials from the
//! pod's `imagePullSecrets` of type `kubernetes.io/dockerconfigjson`, the
//! events (`Pulling`, `Pulled`, `Failed`, `BackOff`, `ErrImageNeverPull`)
//! and the pull back-off (`ErrImagePull`, then `ImagePullBackOff`).
//!
//! One deliberate difference: an image loaded on the node (`rkube image
//! load`) whose pull fails is used, with a Warning event, where the kubelet
//! would fail with ErrImagePull.

use std::collections::HashMap;
use std::time::{Instant, SystemTime};

use base64::Engine;
use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;
use rkube_cri::{ImageInfo, RegistryAuth};
use serde_json::Value;
use tracing::debug;

use crate::kubelet::pods::backoff::Backoff;
use crate::kubelet::pods::context::Context;
use crate::kubelet::pods::status::Waiting;

/// `imagePullPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

/// The tag of an image reference (None without one, or with a digest).
fn tag(image: &str) -> Option<&str> {
    if image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t)
}

/// The container's pull policy: as written, or `Always` for `:latest` or
/// no tag, `IfNotPresent` otherwise (a digest counts as a tag).
pub fn pull_policy(c: &Container) -> PullPolicy {
    match c.image_pull_policy.as_deref() {
        Some("Always") => PullPolicy::Always,
        Some("Never") => PullPolicy::Never,
        Some("IfNotPresent") => PullPolicy::IfNotPresent,
        _ => {
            let image = c.image.as_deref().unwrap_or_default();
            if image.contains('@') {
                PullPolicy::IfNotPresent
            } else {
                match tag(image) {
                    None | Some("latest") => PullPolicy::Always,
                    Some(_) => PullPolicy::IfNotPresent,
                }
            }
        }
    }
}

/// The registry host of an image reference, as Docker reads it
/// (`docker.io` when the first part is not a host).
pub fn registry_of(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            first.to_string()
        }
        _ => "docker.io".to_string(),
    }
}

/// The host a `.dockerconfigjson` key names (`https://index.docker.io/v1/`
/// is `docker.io`).
fn key_host(key: &str) -> String {
    let k = key
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or(k);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        h => h.to_string(),
    }
}

/// The credentials in one `kubernetes.io/dockerconfigjson` Secret for the
/// image's registry.
pub fn auth_from_secret(secret: &Secret, registry: &str) -> Vec<RegistryAuth> {
    if secret.type_.as_deref() != Some("kubernetes.io/dockerconfigjson") {
        return Vec::new();
    }
    let Some(raw) = secret
        .data
        .as_ref()
        .and_then(|d| d.get(".dockerconfigjson"))
    else {
        return Vec::new();
    };
    let Ok(config) = serde_json::from_slice::<Value>(&raw.0) else {
        return Vec::new();
    };
    let Some(auths) = config.get("auths").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, entry) in auths {
        if key_host(key) != registry {
            continue;
        }
        let field = |name: &str| {
            entry
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let mut auth = RegistryAuth {
            username: field("username"),
            password: field("password"),
            registry_token: field("registrytoken"),
        };
        let encoded = field("auth");
        if auth.username.is_empty() && !encoded.is_empty() {
            if let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) {
                let decoded = String::from_utf8_lossy(&decoded).to_string();
                if let Some((u, p)) = decoded.split_once(':') {
                    auth.username = u.to_string();
                    auth.password = p.to_string();
                }
            }
        }
        out.push(auth);
    }
    out
}

/// Pull state of one pod worker: the back-off per image and when each
/// image last failed.
#[derive(Default)]
pub struct Puller {
    backoff: Backoff,
    failed_at: HashMap<String, SystemTime>,
}

impl Puller {
    /// The image for `c`, pulled as its policy says; or why the container
    /// waits.
    pub async fn ensure(
        &mut self,
        ctx: &Context,
        pod: &Pod,
        c: &Container,
    ) -> Result<ImageInfo, Waiting> {
        let image = c.image.clone().unwrap_or_default();
        let policy = pull_policy(c);
        let present = match ctx.images.image_status(&image).await {
            Ok(found) => found,
            Err(error) => {
                debug!(%image, %error, "cannot read the image's status");
                None
            }
        };
        match (policy, present) {
            (PullPolicy::Never, None) => {
                let message =
                    format!("Container image \"{image}\" is not present with pull policy of Never");
                ctx.warning(pod, "ErrImageNeverPull", &message);
                Err(Waiting {
                    reason: "ErrImageNeverPull".into(),
                    message,
                })
            }
            (PullPolicy::Never | PullPolicy::IfNotPresent, Some(info)) => {
                ctx.normal(
                    pod,
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                );
                Ok(info)
            }
            (_, present) => self.pull(ctx, pod, &image, present).await,
        }
    }

    async fn pull(
        &mut self,
        ctx: &Context,
        pod: &Pod,
        image: &str,
        present: Option<ImageInfo>,
    ) -> Result<ImageInfo, Waiting> {
        let now = SystemTime::now();
        if let Some(failed) = self.failed_at.get(image) {
            if self.backoff.waiting(image, *failed, now).is_some() {
                let message = format!("Back-off pulling image \"{image}\"");
                ctx.normal(pod, "BackOff", &message);
                ctx.warning(pod, "Failed", "Error: ImagePullBackOff");
                return Err(Waiting {
                    reason: "ImagePullBackOff".into(),
                    message,
                });
            }
        }
        let auth = pull_auth(ctx, pod, image).await;
        ctx.normal(pod, "Pulling", &format!("Pulling image \"{image}\""));
        let started = Instant::now();
        match ctx.images.pull_image(image, &auth).await {
            Ok(info) => {
                let took = started.elapsed().as_secs_f64();
                ctx.normal(
                    pod,
                    "Pulled",
                    &format!(
                        "Successfully pulled image \"{image}\" in {took:.3}s ({took:.3}s including waiting). Image size: {} bytes.",
                        info.size
                    ),
                );
                self.backoff.forget(image);
                self.failed_at.remove(image);
                Ok(info)
            }
            Err(error) => {
                if let Some(info) = present.filter(|i| i.loaded) {
                    ctx.warning(
                        pod,
                        "Failed",
                        &format!(
                            "Failed to pull image \"{image}\": {error}; using the image loaded on the node"
                        ),
                    );
                    return Ok(info);
                }
                ctx.warning(
                    pod,
                    "Failed",
                    &format!("Failed to pull image \"{image}\": {error}"),
                );
                ctx.warning(pod, "Failed", "Error: ErrImagePull");
                self.backoff.record(image, now, now);
                self.failed_at.insert(image.to_string(), now);
                Err(Waiting {
                    reason: "ErrImagePull".into(),
                    message: format!("failed to pull image \"{image}\": {error}"),
                })
            }
        }
    }
}

/// The credentials of the pod's `imagePullSecrets` for the image's
/// registry; Secrets that cannot be read are skipped (anonymous pull).
async fn pull_auth(ctx: &Context, pod: &Pod, image: &str) -> Vec<RegistryAuth> {
    let names: Vec<String> = pod
        .spec
        .as_ref()
        .and_then(|s| s.image_pull_secrets.as_ref())
        .map(|l| l.iter().map(|r| r.name.clone()).collect())
        .unwrap_or_default();
    if names.is_empty() {
        return Vec::new();
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let registry = registry_of(image);
    let mut out = Vec::new();
    for name in names {
        match api.get_opt(&name).await {
            Ok(Some(secret)) => out.extend(auth_from_secret(&secret, &registry)),
            Ok(None) => debug!(secret = %name, "image pull secret not found"),
            Err(error) => debug!(secret = %name, %error, "cannot read an image pull secret"),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn container(image: &str, policy: Option<&str>) -> Container {
        Container {
            name: "c".into(),
            image: Some(image.into()),
            image_pull_policy: policy.map(String::from),
            ..Container::default()
        }
    }

    #[test]
    fn the_pull_policy_defaults_from_the_tag() {
        let cases = [
            ("busybox", PullPolicy::Always),
            ("busybox:latest", PullPolicy::Always),
            ("busybox:1.36", PullPolicy::IfNotPresent),
            ("localhost:5000/app", PullPolicy::Always),
            ("localhost:5000/app:v1", PullPolicy::IfNotPresent),
            ("app@sha256:abcd", PullPolicy::IfNotPresent),
        ];
        for (image, policy) in cases {
            assert_eq!(pull_policy(&container(image, None)), policy, "{image}");
        }
        assert_eq!(
            pull_policy(&container("busybox", Some("Never"))),
            PullPolicy::Never
        );
        assert_eq!(
            pull_policy(&container("busybox:1", Some("Always"))),
            PullPolicy::Always
        );
    }

    #[test]
    fn registries_as_docker_reads_them() {
        assert_eq!(registry_of("busybox"), "docker.io");
        assert_eq!(registry_of("library/busybox"), "docker.io");
        assert_eq!(registry_of("quay.io/x/y:1"), "quay.io");
        assert_eq!(registry_of("localhost:5000/app"), "localhost:5000");
        assert_eq!(registry_of("localhost/app"), "localhost");
    }

    #[test]
    fn dockerconfigjson_credentials_for_the_registry() {
        let config = json!({"auths": {
            "localhost:5000": {"username": "u", "password": "p"},
            "https://index.docker.io/v1/": {"auth": "YWxpY2U6czNjcmV0"},
            "quay.io": {"registrytoken": "tok"}
        }});
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": "s"},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD
                .encode(config.to_string())}
        }))
        .unwrap();
        let local = auth_from_secret(&secret, "localhost:5000");
        assert_eq!(local.len(), 1);
        assert_eq!(
            (local[0].username.as_str(), local[0].password.as_str()),
            ("u", "p")
        );
        let hub = auth_from_secret(&secret, "docker.io");
        assert_eq!(
            (hub[0].username.as_str(), hub[0].password.as_str()),
            ("alice", "s3cret")
        );
        assert_eq!(
            auth_from_secret(&secret, "quay.io")[0].registry_token,
            "tok"
        );
        assert!(auth_from_secret(&secret, "ghcr.io").is_empty());
        let mut opaque = secret.clone();
        opaque.type_ = Some("Opaque".into());
        assert!(auth_from_secret(&opaque, "localhost:5000").is_empty());
    }
}
