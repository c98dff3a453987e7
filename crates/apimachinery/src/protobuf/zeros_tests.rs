//! Zero values as client-go writes them: gogo-protobuf puts every
//! non-pointer field on the wire, zero or not, and a pointer field whenever
//! it is set. The JSON must be what Go's `encoding/json` makes of the same
//! struct: a zero `omitempty` field left out, a set pointer kept.

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::batch::v1 as batch;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::json;

use super::tests::envelope;
use super::*;

/// ObjectMeta as gogo writes it for `kubectl create`: every string present.
fn go_meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        generate_name: Some(String::new()),
        namespace: Some(String::new()),
        self_link: Some(String::new()),
        uid: Some(String::new()),
        resource_version: Some(String::new()),
        generation: Some(0),
        ..Default::default()
    })
}

#[test]
fn set_pointers_keep_their_zero_and_omitempty_fields_drop_it() {
    let container = core::Container {
        name: Some("app".into()),
        image: Some("busybox".into()),
        working_dir: Some(String::new()),
        image_pull_policy: Some(String::new()),
        stdin: Some(false),
        tty: Some(false),
        ports: vec![core::ContainerPort {
            name: Some(String::new()),
            host_port: Some(0),
            container_port: Some(8080),
            protocol: Some(String::new()),
            host_ip: Some(String::new()),
        }],
        security_context: Some(core::SecurityContext {
            run_as_user: Some(0),
            privileged: Some(false),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    };
    let d = apps::Deployment {
        metadata: go_meta("web"),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(0),
            min_ready_seconds: Some(0),
            paused: Some(false),
            template: Some(core::PodTemplateSpec {
                metadata: go_meta(""),
                spec: Some(core::PodSpec {
                    containers: vec![container],
                    restart_policy: Some(String::new()),
                    host_network: Some(false),
                    automount_service_account_token: Some(false),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        status: Some(apps::DeploymentStatus {
            observed_generation: Some(0),
            replicas: Some(0),
            ready_replicas: Some(0),
            ..Default::default()
        }),
    };
    let obj =
        decode_object(&envelope("apps/v1", "Deployment", d.encode_to_vec())).expect("decodes");
    assert_eq!(obj["metadata"], json!({"name": "web"}));
    assert_eq!(obj["status"], json!({}));
    let spec = &obj["spec"];
    assert_eq!(spec["replicas"], 0, "*int32 set to 0 stays");
    assert!(spec.get("minReadySeconds").is_none());
    assert!(spec.get("paused").is_none());
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["automountServiceAccountToken"], false);
    assert!(pod.get("hostNetwork").is_none());
    assert!(pod.get("restartPolicy").is_none());
    assert_eq!(
        pod["containers"][0],
        json!({
            "name": "app",
            "image": "busybox",
            "ports": [{"containerPort": 8080}],
            "securityContext": {
                "runAsUser": 0,
                "privileged": false,
                "allowPrivilegeEscalation": false
            }
        })
    );
}

#[test]
fn an_empty_storage_class_name_is_kept() {
    // `storageClassName: ""` asks for no dynamic provisioning; leaving it
    // out would ask for the default class.
    let pvc = core::PersistentVolumeClaim {
        metadata: go_meta("data"),
        spec: Some(core::PersistentVolumeClaimSpec {
            access_modes: vec!["ReadWriteOnce".into()],
            volume_name: Some(String::new()),
            storage_class_name: Some(String::new()),
            ..Default::default()
        }),
        status: None,
    };
    let obj = decode_object(&envelope(
        "v1",
        "PersistentVolumeClaim",
        pvc.encode_to_vec(),
    ))
    .expect("decodes");
    assert_eq!(
        obj["spec"],
        json!({"accessModes": ["ReadWriteOnce"], "storageClassName": ""})
    );
}

#[test]
fn fields_without_omitempty_and_job_switches() {
    let svc = core::Service {
        metadata: go_meta("web"),
        spec: Some(core::ServiceSpec {
            ports: vec![core::ServicePort {
                name: Some(String::new()),
                protocol: Some("TCP".into()),
                port: Some(0),
                node_port: Some(0),
                ..Default::default()
            }],
            ..Default::default()
        }),
        status: None,
    };
    let obj = decode_object(&envelope("v1", "Service", svc.encode_to_vec())).expect("decodes");
    // `port` has no omitempty: validation then says "must be between 1 and
    // 65535", as kube-apiserver does, rather than "Required value".
    assert_eq!(
        obj["spec"]["ports"],
        json!([{"protocol": "TCP", "port": 0}])
    );

    let job = batch::Job {
        metadata: go_meta("once"),
        spec: Some(batch::JobSpec {
            suspend: Some(false),
            backoff_limit: Some(0),
            ..Default::default()
        }),
        status: None,
    };
    let obj = decode_object(&envelope("batch/v1", "Job", job.encode_to_vec())).expect("decodes");
    assert_eq!(obj["spec"], json!({"suspend": false, "backoffLimit": 0}));
}
