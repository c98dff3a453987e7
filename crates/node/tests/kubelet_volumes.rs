//! A pod's volumes set up, refreshed and torn down by the kubelet's
//! `VolumeManager` against a real API server (in process), on a temporary
//! directory. Needs root (tmpfs mounts), as the tests here run.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret};
use kube::api::{Api, Patch, PatchParams};
use rkube_node::kubelet::volumes::tmpfs::{is_mount_point, unmount_under};
use rkube_node::kubelet::volumes::VolumeManager;
use serde_json::json;

fn pod(volumes: serde_json::Value, fs_group: Option<i64>) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": format!("uid-{}", std::process::id()),
                     "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "busybox",
                                 "resources": {"limits": {"memory": "64Mi"}}}],
                 "securityContext": {"fsGroup": fs_group},
                 "volumes": volumes},
    }))
    .expect("pod")
}

fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Unmounts whatever a failing test left mounted under its directory.
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = unmount_under(&self.0);
    }
}

#[tokio::test]
async fn config_map_secret_downward_projected_empty_dir_and_host_path() {
    let client = common::api_client().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup(tmp.path().to_path_buf());
    let config = Arc::new(common::config(tmp.path()));
    let _: ConfigMap = common::create(
        &client,
        None,
        json!({
        "metadata": {"name": "cfg"}, "data": {"app.conf": "v1", "other": "x"}}),
    )
    .await;
    let _: Secret = common::create(
        &client,
        None,
        json!({
        "metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}),
    )
    .await;
    let host_dir = tmp.path().join("host/data");
    let p = pod(
        json!([
            {"name": "cfg", "configMap": {"name": "cfg", "items": [{"key": "app.conf", "path": "conf/app.conf", "mode": 0o600}]}},
            {"name": "sec", "secret": {"secretName": "creds", "defaultMode": 0o400}},
            {"name": "opt", "configMap": {"name": "absent", "optional": true}},
            {"name": "info", "downwardAPI": {"items": [
                {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
                {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}}]}},
            {"name": "proj", "projected": {"sources": [
                {"configMap": {"name": "cfg", "items": [{"key": "other", "path": "o"}]}},
                {"secret": {"name": "creds"}},
                {"serviceAccountToken": {"path": "token"}}]}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "2Mi"}},
            {"name": "host", "hostPath": {"path": host_dir.to_str().expect("utf-8"), "type": "DirectoryOrCreate"}},
        ]),
        Some(2000),
    );
    let uid = p.metadata.uid.clone().expect("uid");
    let vm = VolumeManager::new(client.clone(), config.clone());
    let vols = vm.setup(&p).await.expect("setup");
    let pod_dir = tmp.path().join("kubelet/pods").join(&uid).join("volumes");
    assert_eq!(
        vols.paths["cfg"],
        pod_dir.join("kubernetes.io~configmap/cfg")
    );

    let cfg = &vols.paths["cfg"];
    assert_eq!(read(&cfg.join("conf/app.conf")), "v1");
    assert_eq!(
        fs::read_link(cfg.join("conf")).expect("link"),
        Path::new("..data/conf")
    );
    let meta = fs::metadata(cfg.join("conf/app.conf")).expect("meta");
    assert_eq!(
        meta.mode() & 0o777,
        0o640,
        "mode 0600 plus group read for fsGroup"
    );
    assert_eq!(meta.gid(), 2000);
    assert!(!cfg.join("other").exists());

    let sec = &vols.paths["sec"];
    assert_eq!(read(&sec.join("password")), "hunter2");
    assert!(is_mount_point(sec), "secret volumes are on tmpfs");

    let visible = fs::read_dir(&vols.paths["opt"])
        .expect("dir")
        .filter(|e| {
            !e.as_ref()
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .starts_with("..")
        })
        .count();
    assert_eq!(
        visible, 0,
        "an optional missing ConfigMap is an empty volume"
    );

    let info = &vols.paths["info"];
    assert_eq!(read(&info.join("labels")), "app=\"web\"");
    assert_eq!(read(&info.join("mem")), "64");

    let proj = &vols.paths["proj"];
    assert_eq!(read(&proj.join("o")), "x");
    assert_eq!(read(&proj.join("password")), "hunter2");
    // rkube has no TokenRequest yet: the token source is skipped.
    assert!(!proj.join("token").exists() || !read(&proj.join("token")).is_empty());

    let scratch = &vols.paths["scratch"];
    assert!(scratch.is_dir());
    let m = fs::metadata(scratch).expect("meta");
    assert_eq!(m.gid(), 2000);
    assert_eq!(m.permissions().mode() & 0o2777, 0o2777);
    fs::write(scratch.join("kept"), "data").expect("write");

    let mem = &vols.paths["mem"];
    assert!(is_mount_point(mem));
    assert!(
        fs::write(mem.join("big"), vec![0u8; 3 << 20]).is_err(),
        "sizeLimit bounds the tmpfs"
    );

    assert_eq!(vols.paths["host"], host_dir);
    assert!(host_dir.is_dir());

    // Again (as after a restart): the same paths, data kept, no second mount.
    let again = vm.setup(&p).await.expect("setup again");
    assert_eq!(again, vols);
    assert_eq!(read(&scratch.join("kept")), "data");

    // A changed ConfigMap reaches the volume on refresh.
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    cms.patch(
        "cfg",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"app.conf": "v2"}})),
    )
    .await
    .expect("patch");
    vm.refresh(&p).await.expect("refresh");
    assert_eq!(read(&cfg.join("conf/app.conf")), "v2");

    vm.teardown(&uid).await.expect("teardown");
    assert!(!tmp.path().join("kubelet/pods").join(&uid).exists());
    assert!(!is_mount_point(mem));
    assert!(host_dir.is_dir(), "hostPath data is never removed");
}

#[tokio::test]
async fn missing_sources_and_bad_host_paths_fail_with_the_kubelets_message() {
    let client = common::api_client().await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let _cleanup = Cleanup(tmp.path().to_path_buf());
    let config = Arc::new(common::config(tmp.path()));
    let vm = VolumeManager::new(client.clone(), config);
    let cases = [
        (json!([{"name": "v", "configMap": {"name": "gone"}}]),
         "MountVolume.SetUp failed for volume \"v\" : configmap \"gone\" not found".to_string()),
        (json!([{"name": "v", "secret": {"secretName": "gone"}}]),
         "MountVolume.SetUp failed for volume \"v\" : secret \"gone\" not found".to_string()),
        (json!([{"name": "v", "hostPath": {"path": "/dev/null", "type": "Directory"}}]),
         "MountVolume.SetUp failed for volume \"v\" : hostPath type check failed: /dev/null is not a directory".to_string()),
    ];
    for (volumes, message) in cases {
        let p = pod(volumes, None);
        let e = vm.setup(&p).await.expect_err("fails");
        assert_eq!(e.message, message);
    }
    let _: ConfigMap = common::create(
        &client,
        None,
        json!({"metadata": {"name": "cfg"}, "data": {"a": "1"}}),
    )
    .await;
    let p = pod(
        json!([{"name": "v", "configMap": {"name": "cfg", "items": [{"key": "b", "path": "b"}]}}]),
        None,
    );
    assert_eq!(
        vm.setup(&p).await.expect_err("missing key").message,
        "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: b"
    );
    vm.teardown(p.metadata.uid.as_deref().expect("uid"))
        .await
        .expect("teardown");
}
