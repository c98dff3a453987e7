//! The real node's side of local-path volumes that follows the API:
//!
//! - a watch of PersistentVolumes: a local-path volume of this node (node
//!   affinity to it, the finalizer `storage.rkube.io/local-path-cleanup`)
//!   being deleted, and no longer protected by `kubernetes.io/pv-protection`,
//!   has its directory removed (`local_path::remove_volume_dir`: only
//!   strictly under the root, never through a symlink) and then the
//!   finalizer;
//! - the free space of the root's file system published as the
//!   CSIStorageCapacity `kube-system/local-path-<node>` (class
//!   `local-path`, topology `kubernetes.io/hostname: <node>`), written
//!   again when it moved by more than 1 %, checked every minute.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, PersistentVolume};
use k8s_openapi::api::storage::v1::CSIStorageCapacity;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Client;
use rkube_apimachinery::matching::volume_node_affinity_matches;
use rkube_apimachinery::storage::{
    LOCAL_PATH_CLASS, LOCAL_PATH_CLEANUP_FINALIZER, PV_PROTECTION_FINALIZER,
};
use serde_json::json;
use tracing::{debug, info, warn};

use crate::kubelet::config::KubeletConfig;
use crate::kubelet::volumes::local_path;

/// How often the free space is measured.
const CAPACITY_PERIOD: Duration = Duration::from_secs(60);
/// Where the capacity objects live.
pub const CAPACITY_NAMESPACE: &str = "kube-system";

/// The CSIStorageCapacity name of a node's local-path capacity.
pub fn capacity_name(node: &str) -> String {
    format!("local-path-{node}")
}

fn finalizers(pv: &PersistentVolume) -> &[String] {
    pv.metadata.finalizers.as_deref().unwrap_or_default()
}

/// A Node with just its hostname label, for node-affinity checks.
pub fn node_for_affinity(name: &str) -> Node {
    let mut node = Node::default();
    node.metadata.name = Some(name.to_string());
    node.metadata.labels = Some(BTreeMap::from([(
        "kubernetes.io/hostname".to_string(),
        name.to_string(),
    )]));
    node
}

/// The volume is one of `node`'s (a required node affinity that holds on
/// it) and carries the cleanup finalizer.
pub fn is_local_path_of(pv: &PersistentVolume, node: &Node) -> bool {
    let has_affinity = pv
        .spec
        .as_ref()
        .and_then(|s| s.node_affinity.as_ref())
        .and_then(|a| a.required.as_ref())
        .is_some();
    has_affinity
        && finalizers(pv)
            .iter()
            .any(|f| f == LOCAL_PATH_CLEANUP_FINALIZER)
        && volume_node_affinity_matches(pv, node)
}

/// The volume's directory may go now: being deleted, no longer bound
/// (`pv-protection` gone).
pub fn due_for_cleanup(pv: &PersistentVolume, node: &Node) -> bool {
    pv.metadata.deletion_timestamp.is_some()
        && is_local_path_of(pv, node)
        && !finalizers(pv).iter().any(|f| f == PV_PROTECTION_FINALIZER)
}

/// The volume's directory (`hostPath.path`, or `local.path`).
fn volume_path(pv: &PersistentVolume) -> Option<PathBuf> {
    let spec = pv.spec.as_ref()?;
    spec.host_path
        .as_ref()
        .map(|h| PathBuf::from(&h.path))
        .or_else(|| spec.local.as_ref().map(|l| PathBuf::from(&l.path)))
}

/// The finalizers without the cleanup one, guarded by the version read.
pub fn finalizer_patch(pv: &PersistentVolume) -> serde_json::Value {
    let rest: Vec<&String> = finalizers(pv)
        .iter()
        .filter(|f| *f != LOCAL_PATH_CLEANUP_FINALIZER)
        .collect();
    json!({"metadata": {"finalizers": rest, "resourceVersion": pv.metadata.resource_version}})
}

/// Remove the finalizer (a conflict or a gone volume is left to the next
/// event).
pub async fn remove_finalizer(api: &Api<PersistentVolume>, pv: &PersistentVolume) {
    let name = pv.metadata.name.clone().unwrap_or_default();
    match api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(finalizer_patch(pv)),
        )
        .await
    {
        Ok(_) => debug!(pv = %name, "local-path cleanup finalizer removed"),
        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
        Err(error) => warn!(pv = %name, %error, "cannot remove the local-path cleanup finalizer"),
    }
}

/// Clean one volume: its directory, then its finalizer. A directory that
/// cannot be removed safely keeps the finalizer (and a warning says why).
async fn clean(api: &Api<PersistentVolume>, pv: &PersistentVolume, root: &Path) {
    let name = pv.metadata.name.clone().unwrap_or_default();
    if let Some(path) = volume_path(pv) {
        match local_path::remove_volume_dir(&path, root) {
            Ok(()) => {
                info!(pv = %name, path = %path.display(), "local-path volume directory removed")
            }
            Err(error) => {
                warn!(pv = %name, path = %path.display(), %error, "local-path volume directory not removed; the finalizer stays");
                return;
            }
        }
    }
    remove_finalizer(api, pv).await;
}

/// Watch the volumes and clean this node's deleted local-path ones, until
/// dropped.
pub async fn run_cleanup(client: Client, config: Arc<KubeletConfig>) {
    let Some(root) = config.local_path_root.clone() else {
        return;
    };
    let node = node_for_affinity(&config.node_name);
    let api: Api<PersistentVolume> = Api::all(client);
    let mut events = watcher(api.clone(), watcher::Config::default())
        .default_backoff()
        .boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(pv) | watcher::Event::InitApply(pv)) => {
                if due_for_cleanup(&pv, &node) {
                    clean(&api, &pv, &root).await;
                }
            }
            Ok(_) => {}
            Err(error) => warn!(%error, "persistent volume watch failed; retrying"),
        }
    }
}

/// Free bytes for unprivileged use on the root's file system.
pub fn free_bytes(root: &Path) -> Option<u64> {
    let s = nix::sys::statvfs::statvfs(root).ok()?;
    Some(s.blocks_available() as u64 * s.fragment_size() as u64)
}

/// Whether `now` differs from `published` by more than 1 %.
pub fn moved(published: Option<u64>, now: u64) -> bool {
    match published {
        None => true,
        Some(p) => now.abs_diff(p) as f64 > p as f64 / 100.0,
    }
}

/// The capacity object of `node`.
pub fn capacity_object(node: &str, bytes: u64) -> serde_json::Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "CSIStorageCapacity",
        "metadata": {"name": capacity_name(node), "namespace": CAPACITY_NAMESPACE,
                     "labels": {"storage.rkube.io/node": node}},
        "storageClassName": LOCAL_PATH_CLASS,
        "nodeTopology": {"matchLabels": {"kubernetes.io/hostname": node}},
        "capacity": bytes.to_string(),
    })
}

async fn publish(api: &Api<CSIStorageCapacity>, node: &str, bytes: u64) -> Result<(), kube::Error> {
    let name = capacity_name(node);
    match api
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"capacity": bytes.to_string()})),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => {
            let obj: CSIStorageCapacity = serde_json::from_value(capacity_object(node, bytes))
                .map_err(kube::Error::SerdeError)?;
            api.create(&PostParams::default(), &obj).await.map(drop)
        }
        Err(e) => Err(e),
    }
}

/// Publish the free space every minute when it moved, until dropped.
pub async fn run_capacity(client: Client, config: Arc<KubeletConfig>) {
    let Some(root) = config.local_path_root.clone() else {
        return;
    };
    let api: Api<CSIStorageCapacity> = Api::namespaced(client, CAPACITY_NAMESPACE);
    let mut published: Option<u64> = None;
    loop {
        if let Some(bytes) = free_bytes(&root) {
            if moved(published, bytes) {
                match publish(&api, &config.node_name, bytes).await {
                    Ok(()) => {
                        debug!(node = %config.node_name, bytes, "local-path capacity published");
                        published = Some(bytes);
                    }
                    Err(error) => warn!(%error, "cannot publish the local-path capacity"),
                }
            }
        }
        tokio::time::sleep(CAPACITY_PERIOD).await;
    }
}

/// Both loops, until dropped.
pub async fn run(client: Client, config: Arc<KubeletConfig>) {
    tokio::join!(
        run_cleanup(client.clone(), config.clone()),
        run_capacity(client, config)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pv(node: &str, finalizers: &[&str], deleting: bool) -> PersistentVolume {
        let mut v = json!({
            "metadata": {"name": "pvc-1", "finalizers": finalizers, "resourceVersion": "7"},
            "spec": {"hostPath": {"path": "/r/pvc-1"}, "nodeAffinity": {"required": {"nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}},
        });
        if deleting {
            v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        serde_json::from_value(v).expect("test input")
    }

    #[test]
    fn which_volumes_are_cleaned() {
        let me = node_for_affinity("n1");
        assert!(due_for_cleanup(
            &pv("n1", &[LOCAL_PATH_CLEANUP_FINALIZER], true),
            &me
        ));
        assert!(!due_for_cleanup(
            &pv("n1", &[LOCAL_PATH_CLEANUP_FINALIZER], false),
            &me
        ));
        assert!(!due_for_cleanup(
            &pv("n2", &[LOCAL_PATH_CLEANUP_FINALIZER], true),
            &me
        ));
        assert!(!due_for_cleanup(&pv("n1", &[], true), &me));
        assert!(!due_for_cleanup(
            &pv(
                "n1",
                &[LOCAL_PATH_CLEANUP_FINALIZER, PV_PROTECTION_FINALIZER],
                true
            ),
            &me
        ));
        let mut no_affinity = pv("n1", &[LOCAL_PATH_CLEANUP_FINALIZER], true);
        no_affinity.spec.as_mut().expect("spec").node_affinity = None;
        assert!(!due_for_cleanup(&no_affinity, &me));
        assert_eq!(
            finalizer_patch(&pv("n1", &["a", LOCAL_PATH_CLEANUP_FINALIZER], true)),
            json!({"metadata": {"finalizers": ["a"], "resourceVersion": "7"}})
        );
    }

    #[test]
    fn capacity() {
        assert!(moved(None, 5));
        assert!(!moved(Some(1000), 1010));
        assert!(moved(Some(1000), 1011));
        assert!(moved(Some(1000), 989));
        let o: CSIStorageCapacity =
            serde_json::from_value(capacity_object("n1", 42)).expect("valid");
        assert_eq!(o.metadata.name.as_deref(), Some("local-path-n1"));
        assert_eq!(o.storage_class_name, "local-path");
        assert!(free_bytes(Path::new("/")).is_some());
    }
}
