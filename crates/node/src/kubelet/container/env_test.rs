//! Tests of `env.rs` and of whole container configurations.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container, Pod, Secret, Service};
use k8s_openapi::ByteString;
use rkube_cri::ImageInfo;
use serde_json::json;

use super::*;
use crate::kubelet::config::KubeletConfig;
use crate::kubelet::container::{container_config_with, ContainerInputs};
use crate::kubelet::volumes::PodVolumes;

fn node() -> NodeAllocatable {
    NodeAllocatable {
        cpu_milli: 2000,
        memory: 4 << 30,
        ephemeral_storage: 1 << 40,
        memory_capacity: 4 << 30,
    }
}

fn addrs() -> Addresses {
    Addresses {
        host_ip: "192.0.2.1".parse().expect("test input"),
        pod_ip: Some("10.244.0.9".parse().expect("test input")),
    }
}

fn pod(spec: serde_json::Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": "p", "namespace": "team", "uid": "u", "labels": {"app": "web"}},
        "spec": spec,
    }))
    .expect("test input")
}

fn service(ns: &str, name: &str, ip: &str, ports: serde_json::Value) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns},
        "spec": {"clusterIP": ip, "ports": ports},
    }))
    .expect("test input")
}

fn sources() -> EnvSources {
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "cfg", "namespace": "team"},
        "data": {"MODE": "fast", "1BAD": "x", "bad=key": "y", "LEVEL": "3"},
    }))
    .expect("test input");
    let mut secret = Secret::default();
    secret.metadata.name = Some("creds".into());
    secret.data = Some(BTreeMap::from([(
        "PASSWORD".to_string(),
        ByteString(b"hunter2".to_vec()),
    )]));
    EnvSources {
        config_maps: BTreeMap::from([("cfg".to_string(), cm)]),
        secrets: BTreeMap::from([("creds".to_string(), secret)]),
        services: vec![
            service(
                "default",
                "kubernetes",
                "10.96.0.1",
                json!([{"name": "https", "port": 443, "protocol": "TCP"}]),
            ),
            service(
                "team",
                "redis-primary",
                "10.96.0.20",
                json!([{"port": 6379}, {"name": "metrics", "port": 9121, "protocol": "TCP"}]),
            ),
            service("team", "headless", "None", json!([{"port": 80}])),
            service("other", "elsewhere", "10.96.0.30", json!([{"port": 80}])),
        ],
    }
}

fn env_of(p: &Pod) -> Result<EnvList, ConfigError> {
    let c = p.spec.as_ref().expect("test input").containers[0].clone();
    kubelet_env(p, &c, &sources(), addrs(), &node())
}

#[test]
fn service_links_and_kubernetes_service() {
    let e = env_of(&pod(json!({"containers": [{"name": "c"}]}))).expect("test input");
    assert_eq!(e.get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
    assert_eq!(e.get("KUBERNETES_SERVICE_PORT"), Some("443"));
    assert_eq!(e.get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
    assert_eq!(e.get("KUBERNETES_PORT"), Some("tcp://10.96.0.1:443"));
    assert_eq!(
        e.get("KUBERNETES_PORT_443_TCP"),
        Some("tcp://10.96.0.1:443")
    );
    assert_eq!(e.get("KUBERNETES_PORT_443_TCP_PROTO"), Some("tcp"));
    assert_eq!(e.get("KUBERNETES_PORT_443_TCP_PORT"), Some("443"));
    assert_eq!(e.get("KUBERNETES_PORT_443_TCP_ADDR"), Some("10.96.0.1"));
    assert_eq!(e.get("REDIS_PRIMARY_SERVICE_HOST"), Some("10.96.0.20"));
    assert_eq!(e.get("REDIS_PRIMARY_SERVICE_PORT"), Some("6379"));
    assert_eq!(e.get("REDIS_PRIMARY_SERVICE_PORT_METRICS"), Some("9121"));
    assert_eq!(
        e.get("REDIS_PRIMARY_PORT_9121_TCP_ADDR"),
        Some("10.96.0.20")
    );
    assert_eq!(e.get("HEADLESS_SERVICE_HOST"), None);
    assert_eq!(e.get("ELSEWHERE_SERVICE_HOST"), None);

    let off = env_of(&pod(
        json!({"enableServiceLinks": false, "containers": [{"name": "c"}]}),
    ))
    .expect("test input");
    assert_eq!(off.get("REDIS_PRIMARY_SERVICE_HOST"), None);
    assert_eq!(off.get("KUBERNETES_SERVICE_HOST"), Some("10.96.0.1"));
}

#[test]
fn env_from_then_env_with_expansion() {
    let p = pod(json!({"nodeName": "n1", "containers": [{"name": "c",
    "resources": {"limits": {"memory": "64Mi"}},
    "envFrom": [{"configMapRef": {"name": "cfg"}, "prefix": "CFG_"},
                {"secretRef": {"name": "creds"}}],
    "env": [
        {"name": "CFG_MODE", "value": "slow-$(CFG_LEVEL)"},
        {"name": "GREETING", "value": "$(CFG_MODE) $(MISSING) $$(CFG_MODE) $(LATER)"},
        {"name": "LATER", "value": "x"},
        {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
        {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
        {"name": "M", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "MODE"}}},
        {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASSWORD"}}},
        {"name": "OPT", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "NOPE", "optional": true}}},
        {"name": "OPT2", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "k", "optional": true}}},
    ]}]}));
    let e = env_of(&p).expect("test input");
    assert_eq!(e.get("CFG_MODE"), Some("slow-3"));
    assert_eq!(e.get("CFG_1BAD"), Some("x"));
    assert_eq!(e.get("CFG_bad=key"), None);
    assert_eq!(e.get("PASSWORD"), Some("hunter2"));
    assert_eq!(
        e.get("GREETING"),
        Some("slow-3 $(MISSING) $(CFG_MODE) $(LATER)")
    );
    assert_eq!(e.get("NAME"), Some("p"));
    assert_eq!(e.get("APP"), Some("web"));
    assert_eq!(e.get("NODE"), Some("n1"));
    assert_eq!(e.get("IP"), Some("10.244.0.9"));
    assert_eq!(e.get("HOST_IP"), Some("192.0.2.1"));
    assert_eq!(e.get("MEM"), Some("64"));
    assert_eq!(e.get("CPU"), Some("2"));
    assert_eq!(e.get("M"), Some("fast"));
    assert_eq!(e.get("PW"), Some("hunter2"));
    assert_eq!(e.get("OPT"), None);
    assert_eq!(e.get("OPT2"), None);
    // Service variables come first, then envFrom, then env.
    let names: Vec<String> = e.clone().into_vec().into_iter().map(|(k, _)| k).collect();
    let pos = |n: &str| names.iter().position(|x| x == n).expect("test input");
    assert!(pos("KUBERNETES_SERVICE_HOST") < pos("CFG_MODE"));
    assert!(pos("CFG_LEVEL") < pos("GREETING"));
}

#[test]
fn missing_sources_are_config_errors() {
    let cases = [
        (
            json!({"envFrom": [{"configMapRef": {"name": "x"}}]}),
            "configmap \"x\" not found",
        ),
        (
            json!({"envFrom": [{"secretRef": {"name": "s"}}]}),
            "secret \"s\" not found",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "k"}}}]}),
            "couldn't find key k in ConfigMap team/cfg",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]}),
            "couldn't find key k in Secret team/creds",
        ),
        (
            json!({"env": [{"name": "A", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}),
            "configmap \"nope\" not found",
        ),
    ];
    for (c, msg) in cases {
        let mut c = c;
        c["name"] = json!("c");
        let e = env_of(&pod(json!({"containers": [c]}))).expect_err("an error");
        assert_eq!(e.reason, "CreateContainerConfigError");
        assert_eq!(e.message, msg);
    }
    let optional = pod(json!({"containers": [{"name": "c",
        "envFrom": [{"configMapRef": {"name": "x", "optional": true}}]}]}));
    assert!(env_of(&optional).is_ok());
}

fn image() -> ImageInfo {
    ImageInfo {
        id: "sha256:abc".into(),
        entrypoint: vec!["/entry".into()],
        cmd: vec!["serve".into(), "--port=80".into()],
        env: vec!["PATH=/usr/bin:/bin".into(), "CFG_MODE=image".into()],
        working_dir: "/app".into(),
        user: "1000".into(),
        ..Default::default()
    }
}

fn build(c: serde_json::Value) -> Result<rkube_cri::ContainerConfig, ConfigError> {
    let p = pod(json!({"containers": [c]}));
    let container: Container = p.spec.as_ref().expect("test input").containers[0].clone();
    let config = KubeletConfig::new(
        "n".into(),
        "192.0.2.1".parse().expect("test input"),
        std::path::Path::new("/d"),
    );
    let env = sources();
    let volumes = PodVolumes::default();
    let image = image();
    let inputs = ContainerInputs {
        pod: &p,
        container: &container,
        image: &image,
        attempt: 1,
        env: &env,
        volumes: &volumes,
        pod_ip: Some("10.244.0.9".parse().expect("test input")),
        config: &config,
    };
    container_config_with(&inputs, &node())
}

#[test]
fn argv_follows_command_and_args() {
    let both_default = build(json!({"name": "c", "image": "app"})).expect("test input");
    assert_eq!(both_default.argv, ["/entry", "serve", "--port=80"]);
    let args_only = build(json!({"name": "c", "args": ["run", "$(MODE)"],
        "envFrom": [{"configMapRef": {"name": "cfg"}}]}))
    .expect("test input");
    assert_eq!(args_only.argv, ["/entry", "run", "fast"]);
    let command = build(json!({"name": "c", "command": ["sh", "-c"], "args": ["echo $$HOME $(KUBERNETES_SERVICE_HOST)"]})).expect("test input");
    assert_eq!(command.argv, ["sh", "-c", "echo $HOME 10.96.0.1"]);
    let command_only = build(json!({"name": "c", "command": ["/bin/true"]})).expect("test input");
    assert_eq!(command_only.argv, ["/bin/true"]);
}

#[test]
fn whole_container_config() {
    let c = build(json!({"name": "web", "image": "app:v1", "workingDir": "/work", "tty": true,
        "terminationMessagePath": "/tmp/msg",
        "env": [{"name": "CFG_MODE", "value": "pod"}],
        "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}}))
    .expect("test input");
    assert_eq!(c.name, "web");
    assert_eq!(c.attempt, 1);
    assert_eq!(c.image, "app:v1");
    assert_eq!(c.image_id, "sha256:abc");
    assert_eq!(c.image_user, "1000");
    assert_eq!(c.working_dir, "/work");
    assert!(c.tty);
    // Image variables first; the pod's value wins.
    assert_eq!(c.env[0], ("PATH".to_string(), "/usr/bin:/bin".to_string()));
    assert_eq!(c.env[1], ("CFG_MODE".to_string(), "pod".to_string()));
    assert!(c.env.iter().any(|(k, _)| k == "KUBERNETES_SERVICE_HOST"));
    assert_eq!(
        c.log_path,
        std::path::PathBuf::from("/d/kubelet/pod-logs/team_p_u/web/1.log")
    );
    assert_eq!(c.termination_message_path, "/tmp/msg");
    assert!(c.mounts.iter().any(|m| m.container_path == "/tmp/msg"
        && m.host_path
            == std::path::Path::new("/d/kubelet/pods/u/containers/web/1-termination-log")));
    assert!(c.mounts.iter().any(|m| m.container_path == "/etc/hosts"));
    assert_eq!(c.resources.cpu_shares, 102);
    assert_eq!(c.resources.cpu_quota, 0);
    assert_eq!(c.resources.memory_limit, 64 << 20);
    assert_eq!(c.labels["io.kubernetes.container.name"], "web");
    assert_eq!(c.labels["io.kubernetes.pod.uid"], "u");
    let d = build(json!({"name": "c"})).expect("test input");
    assert_eq!(d.working_dir, "/app");
    assert_eq!(d.termination_message_path, "/dev/termination-log");
}
