//! Claim volumes set up by the kubelet's `VolumeManager` against a real
//! API server (in process): a pod waits while its claim is not Bound, then
//! gets its PersistentVolume's directory (read-only when asked), a
//! local-path volume's directory is made on first mount, an ephemeral
//! claim must be owned by the pod, and tearing the pod down leaves the
//! data. Needs root (fsGroup chown), as the tests here run.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Api, Patch, PatchParams, PostParams};
use rkube_node::kubelet::volumes::tmpfs::unmount_under;
use rkube_node::kubelet::volumes::VolumeManager;
use serde_json::json;

struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = unmount_under(&self.0);
    }
}

fn pod(name: &str, uid: &str, volumes: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "default", "uid": uid},
        "spec": {"containers": [{"name": "c", "image": "busybox"}],
                 "securityContext": {"fsGroup": 3000, "fsGroupChangePolicy": "OnRootMismatch"},
                 "volumes": volumes},
    }))
    .expect("pod")
}

async fn claim(client: &kube::Client, name: &str, owner: Option<&str>) -> PersistentVolumeClaim {
    let mut c = json!({
        "metadata": {"name": name},
        "spec": {"storageClassName": "", "volumeName": format!("{name}-pv"),
                 "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    });
    if let Some(uid) = owner {
        c["metadata"]["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Pod",
            "name": "eph", "uid": uid, "controller": true}]);
    }
    common::create(client, None, c).await
}

async fn bind(
    client: &kube::Client,
    claim: &PersistentVolumeClaim,
    source: serde_json::Value,
    modes: &[&str],
) {
    let name = claim.metadata.name.clone().expect("name");
    let mut spec = source;
    spec["capacity"] = json!({"storage": "1Gi"});
    spec["accessModes"] = json!(modes);
    spec["claimRef"] = json!({"namespace": "default", "name": name, "uid": claim.metadata.uid});
    let pv: PersistentVolume =
        serde_json::from_value(json!({"metadata": {"name": format!("{name}-pv")}, "spec": spec}))
            .expect("pv");
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    pvs.create(&PostParams::default(), &pv)
        .await
        .expect("create pv");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    claims
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Bound"}})),
        )
        .await
        .expect("bind");
}

#[tokio::test]
async fn claims_wait_until_bound_then_mount_their_volume() {
    let client = common::api_client().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup(tmp.path().to_path_buf());
    let config = Arc::new(common::config(tmp.path()));
    let root = config.local_path_root.clone().expect("a local-path root");
    let vm = VolumeManager::new(client.clone(), config.clone());

    let p = pod(
        "web",
        "u1",
        json!([
            {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
            {"name": "ro", "persistentVolumeClaim": {"claimName": "ro", "readOnly": true}},
            {"name": "lp", "persistentVolumeClaim": {"claimName": "lp"}},
        ]),
    );
    // No claims yet: waiting, naming the volumes.
    let e = vm.setup(&p).await.expect_err("waits");
    assert_eq!(
        e.waiting.as_deref(),
        Some(&["data".to_string(), "ro".into(), "lp".into()][..])
    );
    assert!(
        e.message
            .contains("persistentvolumeclaims \"data\" not found"),
        "{}",
        e.message
    );

    let data = claim(&client, "data", None).await;
    let ro = claim(&client, "ro", None).await;
    let lp = claim(&client, "lp", None).await;
    let e = vm.setup(&p).await.expect_err("still waits");
    assert!(
        e.message
            .contains("error processing PVC default/data: PVC is not bound"),
        "{}",
        e.message
    );

    let host = tmp.path().join("host-data");
    bind(
        &client,
        &data,
        json!({"hostPath": {"path": host.to_str().expect("utf-8"), "type": "DirectoryOrCreate"}}),
        &["ReadWriteOnce"],
    )
    .await;
    let ro_dir = tmp.path().join("ro-data");
    fs::create_dir(&ro_dir).expect("mkdir");
    bind(
        &client,
        &ro,
        // A `local` volume needs node affinity (the API refuses it without).
        json!({"local": {"path": ro_dir.to_str().expect("utf-8")},
               "nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
                   {"key": "kubernetes.io/hostname", "operator": "Exists"}]}]}}}),
        &["ReadWriteOnce"],
    )
    .await;
    let lp_dir = root.join("lp-pv");
    bind(
        &client,
        &lp,
        json!({"hostPath": {"path": lp_dir.to_str().expect("utf-8"), "type": "DirectoryOrCreate"}}),
        &["ReadWriteOnce"],
    )
    .await;

    let v = vm.setup(&p).await.expect("mounted");
    assert_eq!(v.paths["data"], host);
    assert_eq!(v.paths["ro"], ro_dir);
    assert_eq!(v.paths["lp"], lp_dir);
    assert!(v.read_only.contains("ro") && !v.read_only.contains("data"));
    assert_eq!(v.claims["lp"], "lp");
    assert!(host.is_dir(), "DirectoryOrCreate made it");
    // The local-path directory: made 0777 (| setgid from fsGroup), given to fsGroup.
    let m = fs::metadata(&lp_dir).expect("made");
    assert_eq!(m.permissions().mode() & 0o777, 0o777);
    assert_eq!(m.gid(), 3000);
    // A plain hostPath volume is not given to fsGroup (as the kubelet).
    assert_ne!(fs::metadata(&host).expect("host").gid(), 3000);

    fs::write(lp_dir.join("kept"), "x").expect("write");
    vm.teardown("u1").await.expect("teardown");
    assert!(lp_dir.join("kept").is_file(), "data outlives the pod");
    assert!(host.is_dir());
}

#[tokio::test]
async fn ephemeral_claims_must_belong_to_the_pod_and_unknown_sources_are_refused() {
    let client = common::api_client().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup(tmp.path().to_path_buf());
    let config = Arc::new(common::config(tmp.path()));
    let vm = VolumeManager::new(client.clone(), config.clone());
    let eph = json!([{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {
        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}]);

    let c = claim(&client, "eph-scratch", Some("someone-else")).await;
    let dir = tmp.path().join("eph");
    bind(
        &client,
        &c,
        json!({"hostPath": {"path": dir.to_str().expect("utf-8"), "type": "DirectoryOrCreate"}}),
        &["ReadWriteOnce"],
    )
    .await;
    let e = vm
        .setup(&pod("eph", "u2", eph.clone()))
        .await
        .expect_err("not its claim");
    assert!(e.waiting.is_none());
    assert!(e.message.contains("(pod is not owner)"), "{}", e.message);
    assert!(
        !dir.exists(),
        "nothing made for a claim that is not the pod's"
    );

    let v = vm
        .setup(&pod("eph", "someone-else", eph))
        .await
        .expect("owned");
    assert_eq!(v.paths["scratch"], dir);

    let nfs = claim(&client, "nfs", None).await;
    bind(
        &client,
        &nfs,
        json!({"nfs": {"server": "192.0.2.1", "path": "/x"}}),
        &["ReadWriteMany"],
    )
    .await;
    let e = vm
        .setup(&pod(
            "n",
            "u3",
            json!([{"name": "d", "persistentVolumeClaim": {"claimName": "nfs"}}]),
        ))
        .await
        .expect_err("refused");
    assert!(
        e.message.contains("rkube's node cannot mount"),
        "{}",
        e.message
    );
    assert!(
        e.message
            .starts_with("MountVolume.SetUp failed for volume \"d\""),
        "{}",
        e.message
    );

    // A PV whose hostPath is a file where a directory is needed.
    let file = tmp.path().join("a-file");
    fs::write(&file, "x").expect("write");
    let f = claim(&client, "onfile", None).await;
    bind(
        &client,
        &f,
        json!({"hostPath": {"path": file.to_str().expect("utf-8"), "type": "DirectoryOrCreate"}}),
        &["ReadWriteOnce"],
    )
    .await;
    let e = vm
        .setup(&pod(
            "f",
            "u4",
            json!([{"name": "d", "persistentVolumeClaim": {"claimName": "onfile"}}]),
        ))
        .await
        .expect_err("refused");
    assert!(e.message.contains("is not a directory"), "{}", e.message);
}
