//! A pod's volumes on the node, under `root_dir/pods/<uid>/volumes/`
//! (`kubernetes.io~<plugin>/<name>`, as the kubelet lays them out):
//! emptyDir (disk, or tmpfs for `medium: Memory` with `sizeLimit`),
//! configMap and secret (items, defaultMode, optional; kept current in
//! running pods), downwardAPI, projected (with service account tokens from
//! the TokenRequest API), hostPath with its `type` checks.
//! Files are written as the kubelet's atomic writer does (a `..data`
//! symlink swapped at once); secret and projected volumes live on tmpfs,
//! never on disk.
//!
//! - `atomic_writer.rs`: the `..data` layout; `payload.rs`: what
//!   configMap/secret/downwardAPI/projected volumes hold (pure);
//! - `host_path.rs`: `type` checks; `tmpfs.rs`: memory-backed mounts;
//!   `ownership.rs`: `fsGroup`; `token.rs`: TokenRequest; `usage.rs`: disk
//!   use (for eviction);
//! - `claims.rs`: which claim and PersistentVolume a volume uses (pure
//!   checks); `local_path.rs`: local-path directories (made, removed);
//!   `local_path_sync.rs`: the cleanup finalizer and the published
//!   capacity; `subpath.rs`: `subPath` mounts opened safely;
//!   `claim_record.rs`: which volumes are claims, for the node's stats.

pub mod atomic_writer;
pub mod claim_record;
pub mod claims;
mod host_path;
pub mod local_path;
pub mod local_path_sync;
mod ownership;
pub mod payload;
pub mod subpath;
pub mod tmpfs;
mod token;
pub mod usage;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Volume};
use kube::api::Api;
use kube::Client;

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::fieldref::Addresses;
use crate::kubelet::container::quantity::value;
use crate::kubelet::node::host::allocatable;
use crate::kubelet::volumes::atomic_writer::Payload;
use crate::kubelet::volumes::payload::{ProjectedSources, DEFAULT_MODE};

/// Why a pod's volumes cannot be set up: the pod stays in
/// ContainerCreating with a `FailedMount` event carrying this message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct VolumeError {
    pub message: String,
    /// Waiting for the controllers (a claim not Bound yet): told only
    /// after a while, as the kubelet's volume manager times out.
    /// `volumes` names the volumes not mounted.
    pub waiting: Option<Vec<String>>,
}

/// Where each of a pod's volumes is on the host, by volume name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodVolumes {
    pub paths: BTreeMap<String, PathBuf>,
    /// Volumes every container mounts read-only whatever its
    /// `volumeMounts` say (claims used `readOnly`, ReadOnlyMany volumes).
    pub read_only: BTreeSet<String>,
    /// The claim behind each persistentVolumeClaim or ephemeral volume
    /// (`pvcRef` in the node's stats).
    pub claims: BTreeMap<String, String>,
}

/// The kubelet's directory names of the volume plugins.
pub const EMPTY_DIR: &str = "kubernetes.io~empty-dir";
pub const CONFIG_MAP: &str = "kubernetes.io~configmap";
pub const SECRET: &str = "kubernetes.io~secret";
pub const DOWNWARD_API: &str = "kubernetes.io~downward-api";
pub const PROJECTED: &str = "kubernetes.io~projected";

/// `root_dir/pods/<uid>/volumes/<plugin>/<name>`.
pub fn volume_dir(config: &KubeletConfig, pod_uid: &str, plugin: &str, name: &str) -> PathBuf {
    config
        .root_dir
        .join("pods")
        .join(pod_uid)
        .join("volumes")
        .join(plugin)
        .join(name)
}

fn failed(volume: &str, why: impl std::fmt::Display) -> VolumeError {
    VolumeError {
        message: format!("MountVolume.SetUp failed for volume \"{volume}\" : {why}"),
        waiting: None,
    }
}

fn not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Sets up, refreshes and tears down pods' volumes.
pub struct VolumeManager {
    client: Client,
    config: Arc<KubeletConfig>,
}

impl VolumeManager {
    pub fn new(client: Client, config: Arc<KubeletConfig>) -> Self {
        VolumeManager { client, config }
    }

    /// Make every volume of the pod; again for the same pod returns the
    /// same paths (after a restart too: emptyDir data is kept, tmpfs
    /// mounts are not doubled).
    pub async fn setup(&self, pod: &Pod) -> Result<PodVolumes, VolumeError> {
        let mut out = PodVolumes::default();
        let mut waiting: Vec<String> = Vec::new();
        let mut why = Vec::new();
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            if let Some(u) = claims::claim_use(pod, v) {
                match self.setup_claim(pod, v, &u).await {
                    Ok((path, read_only)) => {
                        out.paths.insert(v.name.clone(), path);
                        if read_only {
                            out.read_only.insert(v.name.clone());
                        }
                        out.claims.insert(v.name.clone(), u.claim.clone());
                    }
                    Err(e) if e.waiting.is_some() => {
                        waiting.push(v.name.clone());
                        why.push(e.message);
                    }
                    Err(e) => return Err(e),
                }
                continue;
            }
            let path = self.setup_one(pod, v, false).await?;
            if let Some(path) = path {
                out.paths.insert(v.name.clone(), path);
            }
        }
        if !waiting.is_empty() {
            return Err(VolumeError {
                message: why.join("; "),
                waiting: Some(waiting),
            });
        }
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let records: Vec<claim_record::ClaimRecord> = out
            .claims
            .iter()
            .filter_map(|(volume, claim)| {
                Some(claim_record::ClaimRecord {
                    volume: volume.clone(),
                    claim: claim.clone(),
                    namespace: ns.to_string(),
                    path: out.paths.get(volume)?.clone(),
                })
            })
            .collect();
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        if !uid.is_empty() && !uid.contains('/') {
            let dir = self.config.root_dir.join("pods").join(uid);
            if let Err(error) = claim_record::write(&dir, &records) {
                tracing::warn!(%error, pod_uid = uid, "cannot record the pod's claim volumes");
            }
        }
        Ok(out)
    }

    /// Rewrite configMap, secret, downwardAPI and projected volumes whose
    /// sources changed (called for running pods about once a minute).
    pub async fn refresh(&self, pod: &Pod) -> Result<(), VolumeError> {
        for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
            self.setup_one(pod, v, true).await?;
        }
        Ok(())
    }

    /// Remove the pod's volumes (unmounting tmpfs ones) and the pod's other
    /// files (`etc-hosts`, termination-message files); hostPath data is
    /// never touched.
    pub async fn teardown(&self, pod_uid: &str) -> Result<(), VolumeError> {
        if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid.starts_with('.') {
            return Err(VolumeError {
                message: format!("invalid pod uid {pod_uid:?}"),
                waiting: None,
            });
        }
        let dir = self.config.root_dir.join("pods").join(pod_uid);
        if !dir.exists() {
            return Ok(());
        }
        tmpfs::unmount_under(&dir).map_err(|e| VolumeError {
            message: format!("UnmountVolume.TearDown failed for pod {pod_uid}: {e}"),
            waiting: None,
        })?;
        // Never remove through a mount left behind (a subPath bind mount
        // of a claim's data would take the data with it).
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.clone());
        if let Some(m) = tmpfs::mount_points()
            .into_iter()
            .find(|m| m.starts_with(&canonical))
        {
            return Err(VolumeError {
                message: format!(
                    "UnmountVolume.TearDown failed for pod {pod_uid}: {} is still mounted",
                    m.display()
                ),
                waiting: None,
            });
        }
        fs::remove_dir_all(&dir).map_err(|e| VolumeError {
            message: format!("cannot remove {}: {e}", dir.display()),
            waiting: None,
        })
    }

    /// A claim's volume: its PersistentVolume's path on the host (made
    /// for a local-path volume; `type`-checked for hostPath), with
    /// `fsGroup` applied to local and local-path volumes. Returns the path
    /// and whether it is mounted read-only.
    async fn setup_claim(
        &self,
        pod: &Pod,
        v: &Volume,
        u: &claims::ClaimUse,
    ) -> Result<(PathBuf, bool), VolumeError> {
        let name = v.name.as_str();
        let cv = match claims::resolve(&self.client, pod, u).await {
            Ok(cv) => cv,
            Err(claims::ClaimError::Waiting(m)) => {
                return Err(VolumeError {
                    message: m,
                    waiting: Some(vec![name.to_string()]),
                })
            }
            Err(claims::ClaimError::Refused(m)) => return Err(failed(name, m)),
        };
        let (path, owned) = match &cv.source {
            claims::VolumeSource::HostPath { path, kind } => {
                let root = self.config.local_path_root.as_deref();
                match root.filter(|r| local_path::is_under_root(path, r)) {
                    Some(root) => {
                        local_path::ensure_root(root).map_err(|e| failed(name, e))?;
                        local_path::ensure_volume_dir(path, root).map_err(|e| failed(name, e))?;
                        (path.clone(), true)
                    }
                    None => {
                        host_path::check(path, kind).map_err(|e| failed(name, e))?;
                        (path.clone(), false)
                    }
                }
            }
            claims::VolumeSource::Local { path } => {
                if !path.exists() {
                    return Err(failed(
                        name,
                        format!(
                            "path {:?} does not exist on this node",
                            path.display().to_string()
                        ),
                    ));
                }
                (path.clone(), true)
            }
        };
        if let (Some(gid), true, false) = (Self::fs_group(pod), owned, cv.read_only) {
            let policy = pod
                .spec
                .as_ref()
                .and_then(|s| s.security_context.as_ref())
                .and_then(|s| s.fs_group_change_policy.as_deref())
                .unwrap_or("Always");
            ownership::apply(&path, gid, policy).map_err(|e| failed(name, e))?;
        }
        tracing::debug!(volume = name, pv = %cv.pv_name, path = %path.display(), read_only = cv.read_only, "claim volume ready");
        Ok((path, cv.read_only))
    }

    fn fs_group(pod: &Pod) -> Option<u32> {
        pod.spec
            .as_ref()
            .and_then(|s| s.security_context.as_ref())
            .and_then(|s| s.fs_group)
            .and_then(|g| u32::try_from(g).ok())
    }

    fn addrs(&self, pod: &Pod) -> Addresses {
        Addresses {
            host_ip: self.config.node_ip,
            pod_ip: pod
                .status
                .as_ref()
                .and_then(|s| s.pod_ip.as_deref())
                .and_then(|ip| ip.parse().ok()),
        }
    }

    /// One volume; `refresh_only`: only the kinds whose contents follow
    /// API objects. Returns where it is (None when skipped).
    async fn setup_one(
        &self,
        pod: &Pod,
        v: &Volume,
        refresh_only: bool,
    ) -> Result<Option<PathBuf>, VolumeError> {
        let uid = pod.metadata.uid.as_deref().unwrap_or_default();
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let name = v.name.as_str();
        let gid = Self::fs_group(pod);
        let node = allocatable(&self.config.root_dir);
        if let Some(e) = &v.empty_dir {
            if refresh_only {
                return Ok(None);
            }
            let dir = volume_dir(&self.config, uid, EMPTY_DIR, name);
            fs::create_dir_all(&dir).map_err(|e| failed(name, e))?;
            if e.medium.as_deref() == Some("Memory") {
                // As the kubelet: sizeLimit, else the pod's memory limit,
                // else the node's allocatable memory.
                let size = e
                    .size_limit
                    .as_ref()
                    .and_then(value)
                    .filter(|s| *s > 0)
                    .or_else(|| pod_memory_limit(pod))
                    .unwrap_or(node.memory)
                    .min(node.memory.max(1));
                tmpfs::ensure_tmpfs(&dir, size.max(0) as u64).map_err(|e| failed(name, e))?;
            }
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o777))
                .map_err(|e| failed(name, e))?;
            if let Some(g) = gid {
                ownership::set_volume_ownership(&dir, g).map_err(|e| failed(name, e))?;
            }
            return Ok(Some(dir));
        }
        if let Some(h) = &v.host_path {
            if refresh_only {
                return Ok(None);
            }
            let path = PathBuf::from(&h.path);
            host_path::check(&path, h.type_.as_deref().unwrap_or_default())
                .map_err(|e| failed(name, e))?;
            return Ok(Some(path));
        }
        let (plugin, payload) = if let Some(c) = &v.config_map {
            let cm = self
                .get_config_map(ns, &c.name)
                .await
                .map_err(|e| failed(name, e))?;
            let mut p = Payload::new();
            payload::config_map(
                cm.as_ref(),
                &c.name,
                c.items.as_deref(),
                c.default_mode.unwrap_or(DEFAULT_MODE),
                c.optional == Some(true),
                &mut p,
            )
            .map_err(|e| failed(name, e))?;
            (CONFIG_MAP, p)
        } else if let Some(s) = &v.secret {
            let sname = s.secret_name.clone().unwrap_or_default();
            let secret = self
                .get_secret(ns, &sname)
                .await
                .map_err(|e| failed(name, e))?;
            let mut p = Payload::new();
            payload::secret(
                secret.as_ref(),
                &sname,
                s.items.as_deref(),
                s.default_mode.unwrap_or(DEFAULT_MODE),
                s.optional == Some(true),
                &mut p,
            )
            .map_err(|e| failed(name, e))?;
            (SECRET, p)
        } else if let Some(d) = &v.downward_api {
            let mut p = Payload::new();
            payload::downward_api(
                pod,
                d.items.as_deref().unwrap_or_default(),
                d.default_mode.unwrap_or(DEFAULT_MODE),
                self.addrs(pod),
                &node,
                &mut p,
            )
            .map_err(|e| failed(name, e))?;
            (DOWNWARD_API, p)
        } else if let Some(pr) = &v.projected {
            let dir = volume_dir(&self.config, uid, PROJECTED, name);
            let mut read = ProjectedSources::default();
            for s in pr.sources.iter().flatten() {
                if let Some(c) = &s.config_map {
                    if let Some(cm) = self
                        .get_config_map(ns, &c.name)
                        .await
                        .map_err(|e| failed(name, e))?
                    {
                        read.config_maps.insert(c.name.clone(), cm);
                    }
                }
                if let Some(c) = &s.secret {
                    if let Some(sec) = self
                        .get_secret(ns, &c.name)
                        .await
                        .map_err(|e| failed(name, e))?
                    {
                        read.secrets.insert(c.name.clone(), sec);
                    }
                }
                if let Some(t) = &s.service_account_token {
                    let existing = dir.join(&t.path);
                    if let Some(tok) = token::token(&self.client, pod, t, &existing)
                        .await
                        .map_err(|e| failed(name, e))?
                    {
                        read.tokens.insert(t.path.clone(), tok);
                    }
                }
            }
            let p = payload::projected(pod, pr, &read, self.addrs(pod), &node)
                .map_err(|e| failed(name, e))?;
            (PROJECTED, p)
        } else {
            if refresh_only {
                return Ok(None);
            }
            return Err(failed(
                name,
                "this volume type is not supported on this node",
            ));
        };
        let dir = volume_dir(&self.config, uid, plugin, name);
        fs::create_dir_all(&dir).map_err(|e| failed(name, e))?;
        if plugin == SECRET || plugin == PROJECTED {
            tmpfs::ensure_tmpfs(&dir, 0).map_err(|e| failed(name, e))?;
        }
        let changed = atomic_writer::write(&dir, &payload, gid).map_err(|e| failed(name, e))?;
        if changed && refresh_only {
            tracing::info!(pod = %pod.metadata.name.as_deref().unwrap_or_default(), namespace = ns, volume = name, "volume contents updated");
        }
        Ok(Some(dir))
    }

    async fn get_config_map(&self, ns: &str, name: &str) -> Result<Option<ConfigMap>, String> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        match api.get(name).await {
            Ok(cm) => Ok(Some(cm)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(format!("cannot read configmap \"{name}\": {e}")),
        }
    }

    async fn get_secret(&self, ns: &str, name: &str) -> Result<Option<Secret>, String> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        match api.get(name).await {
            Ok(s) => Ok(Some(s)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(format!("cannot read secret \"{name}\": {e}")),
        }
    }
}

/// The sum of the containers' memory limits, if every container has one.
fn pod_memory_limit(pod: &Pod) -> Option<i128> {
    let spec = pod.spec.as_ref()?;
    let mut sum = 0;
    for c in &spec.containers {
        sum += crate::kubelet::container::quantity::container_value(
            c,
            crate::kubelet::container::quantity::Limit::Limit,
            "memory",
        )?;
    }
    Some(sum)
}

/// The emptyDir volumes of a pod with their directory and `sizeLimit` in
/// bytes (for eviction).
pub fn empty_dirs(config: &KubeletConfig, pod: &Pod) -> Vec<(String, PathBuf, Option<i128>)> {
    let uid = pod.metadata.uid.as_deref().unwrap_or_default();
    pod.spec
        .iter()
        .flat_map(|s| s.volumes.iter().flatten())
        .filter_map(|v| {
            let e = v.empty_dir.as_ref()?;
            Some((
                v.name.clone(),
                volume_dir(config, uid, EMPTY_DIR, &v.name),
                e.size_limit.as_ref().and_then(value),
            ))
        })
        .collect()
}

/// Whether `path` is inside `root` (both as written).
pub fn is_under(path: &Path, root: &Path) -> bool {
    path.starts_with(root)
}
