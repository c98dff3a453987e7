//! A container's configuration from what the API holds: the env sources
//! read by `fetch_env_sources` (against an in-process API server), the
//! configuration built from them, and the files the kubelet writes before
//! the container is created.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use k8s_openapi::api::core::v1::{ConfigMap, Pod, Secret, Service};
use rkube_cri::ImageInfo;
use rkube_node::kubelet::container::{
    container_config, fetch_env_sources, prepare_container_files, ContainerInputs,
};
use rkube_node::kubelet::volumes::PodVolumes;
use serde_json::json;

async fn setup(client: &kube::Client) {
    let _: Service = common::create(client, Some("default"), json!({
        "metadata": {"name": "kubernetes"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]},
    }))
    .await;
    let _: Service = common::create(
        client,
        Some("default"),
        json!({
            "metadata": {"name": "redis"},
            "spec": {"clusterIP": "10.96.0.20", "ports": [{"port": 6379}]},
        }),
    )
    .await;
    let _: ConfigMap = common::create(
        client,
        Some("default"),
        json!({
        "metadata": {"name": "cfg"}, "data": {"MODE": "fast"}}),
    )
    .await;
    let _: Secret = common::create(
        client,
        Some("default"),
        json!({
        "metadata": {"name": "creds"}, "stringData": {"PASSWORD": "hunter2"}}),
    )
    .await;
}

fn pod(env: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default", "uid": format!("u-{}", std::process::id())},
        "spec": {"nodeName": "test-node", "hostAliases": [{"ip": "192.0.2.9", "hostnames": ["db.local"]}],
                 "containers": [{"name": "app", "image": "busybox", "env": env,
                                 "envFrom": [{"configMapRef": {"name": "cfg"}}]}]},
    }))
    .expect("pod")
}

#[tokio::test]
async fn env_from_the_api_and_the_files_written_before_start() {
    let client = common::api_client().await;
    setup(&client).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = common::config(tmp.path());
    let p = pod(json!([
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
        {"name": "URL", "value": "redis://$(REDIS_SERVICE_HOST):$(REDIS_SERVICE_PORT)/$(MODE)"},
    ]));
    let sources = fetch_env_sources(&client, &p).await.expect("sources");
    assert_eq!(sources.config_maps.keys().collect::<Vec<_>>(), ["cfg"]);
    assert_eq!(sources.secrets.keys().collect::<Vec<_>>(), ["creds"]);
    let image = ImageInfo {
        id: "sha256:x".into(),
        cmd: vec!["sh".into()],
        ..Default::default()
    };
    let volumes = PodVolumes::default();
    let container = p.spec.as_ref().expect("spec").containers[0].clone();
    let inputs = ContainerInputs {
        pod: &p,
        container: &container,
        image: &image,
        attempt: 0,
        env: &sources,
        volumes: &volumes,
        pod_ip: Some("10.244.0.5".parse().expect("ip")),
        config: &config,
    };
    let c = container_config(&inputs).expect("config");
    let env = |k: &str| c.env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(env("PW").as_deref(), Some("hunter2"));
    assert_eq!(env("MODE").as_deref(), Some("fast"));
    assert_eq!(env("URL").as_deref(), Some("redis://10.96.0.20:6379/fast"));
    assert_eq!(env("KUBERNETES_SERVICE_HOST").as_deref(), Some("10.96.0.1"));
    assert_eq!(env("KUBERNETES_SERVICE_PORT").as_deref(), Some("443"));

    prepare_container_files(&inputs).expect("files");
    let uid = p.metadata.uid.as_deref().expect("uid");
    let hosts = fs::read_to_string(tmp.path().join("kubelet/pods").join(uid).join("etc-hosts"))
        .expect("hosts");
    assert!(hosts.contains("10.244.0.5\tweb\n"), "{hosts}");
    assert!(hosts.contains("192.0.2.9\tdb.local\n"), "{hosts}");
    let term = tmp
        .path()
        .join("kubelet/pods")
        .join(uid)
        .join("containers/app/0-termination-log");
    assert_eq!(
        fs::metadata(&term)
            .expect("termination log")
            .permissions()
            .mode()
            & 0o777,
        0o666
    );
    let mount = c
        .mounts
        .iter()
        .find(|m| m.container_path == "/dev/termination-log")
        .expect("mount");
    assert_eq!(mount.host_path, term);
    assert!(c.log_path.parent().expect("dir").is_dir());
}

#[tokio::test]
async fn a_missing_config_map_key_is_a_create_container_config_error() {
    let client = common::api_client().await;
    setup(&client).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let config = common::config(tmp.path());
    for (env, message) in [
        (
            json!([{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope"}}}]),
            "couldn't find key nope in ConfigMap default/cfg",
        ),
        (
            json!([{"name": "X", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}]),
            "secret \"absent\" not found",
        ),
    ] {
        let p = pod(env);
        let sources = fetch_env_sources(&client, &p).await.expect("sources");
        let image = ImageInfo::default();
        let volumes = PodVolumes::default();
        let container = p.spec.as_ref().expect("spec").containers[0].clone();
        let inputs = ContainerInputs {
            pod: &p,
            container: &container,
            image: &image,
            attempt: 0,
            env: &sources,
            volumes: &volumes,
            pod_ip: None,
            config: &config,
        };
        let e = container_config(&inputs).expect_err("config error");
        assert_eq!(e.reason, "CreateContainerConfigError");
        assert_eq!(e.message, message);
    }
}
