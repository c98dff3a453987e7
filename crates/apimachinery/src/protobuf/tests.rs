//! Bodies built with the `k8s-pb` crate's prost types (what client-go's
//! generated code writes), decoded back into the JSON kube-apiserver would
//! hold.

use k8s_pb::api::apps::v1 as apps;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use proptest::prelude::*;
use prost::Message;
use serde_json::json;

use super::*;

pub(super) fn envelope(api_version: &str, kind: &str, object: Vec<u8>) -> Vec<u8> {
    let unknown = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(object),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    let mut out = MAGIC.to_vec();
    out.extend(unknown.encode_to_vec());
    out
}

fn meta(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        namespace: Some(String::new()),
        labels: [("app".to_string(), "web".to_string())].into(),
        creation_timestamp: Some(meta::Time {
            seconds: Some(0),
            nanos: Some(0),
        }),
        ..Default::default()
    })
}

#[test]
fn a_config_map_with_binary_data() {
    let cm = core::ConfigMap {
        metadata: meta("settings"),
        data: [("a".to_string(), "b".to_string())].into(),
        binary_data: [("bin".to_string(), vec![0u8, 1, 2, 255])].into(),
        immutable: Some(true),
    };
    let obj = decode_object(&envelope("v1", "ConfigMap", cm.encode_to_vec())).expect("decodes");
    assert_eq!(
        obj,
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "settings", "labels": {"app": "web"}},
            "data": {"a": "b"},
            "binaryData": {"bin": "AAEC/w=="},
            "immutable": true
        })
    );
}

#[test]
fn a_pod_with_quantities_int_or_string_and_times() {
    let container = core::Container {
        name: Some("web".into()),
        image: Some("nginx:1.27".into()),
        ports: vec![core::ContainerPort {
            container_port: Some(8080),
            protocol: Some("TCP".into()),
            ..Default::default()
        }],
        resources: Some(core::ResourceRequirements {
            limits: [(
                "memory".to_string(),
                Quantity {
                    string: Some("64Mi".into()),
                },
            )]
            .into(),
            ..Default::default()
        }),
        readiness_probe: Some(core::Probe {
            handler: Some(core::ProbeHandler {
                http_get: Some(core::HttpGetAction {
                    path: Some("/healthz".into()),
                    port: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("http".into()),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            period_seconds: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            deletion_timestamp: Some(meta::Time {
                seconds: Some(1_700_000_000),
                nanos: Some(0),
            }),
            ..meta("p").unwrap_or_default()
        }),
        spec: Some(core::PodSpec {
            containers: vec![container],
            termination_grace_period_seconds: Some(0),
            ..Default::default()
        }),
        status: Some(core::PodStatus::default()),
    };
    let obj = decode_object(&envelope("v1", "Pod", pod.encode_to_vec())).expect("decodes");
    assert_eq!(obj["metadata"]["deletionTimestamp"], "2023-11-14T22:13:20Z");
    let c = &obj["spec"]["containers"][0];
    assert_eq!(
        c["ports"],
        json!([{"containerPort": 8080, "protocol": "TCP"}])
    );
    assert_eq!(c["resources"]["limits"]["memory"], "64Mi");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http");
    assert_eq!(
        obj["spec"]["terminationGracePeriodSeconds"], 0,
        "a zero that was set stays"
    );
    assert_eq!(obj["status"], json!({}));
}

#[test]
fn a_deployment_and_delete_options() {
    let d = apps::Deployment {
        metadata: meta("web"),
        spec: Some(apps::DeploymentSpec {
            replicas: Some(3),
            selector: Some(meta::LabelSelector {
                match_labels: [("app".to_string(), "web".to_string())].into(),
                ..Default::default()
            }),
            strategy: Some(apps::DeploymentStrategy {
                r#type: Some("RollingUpdate".into()),
                rolling_update: Some(apps::RollingUpdateDeployment {
                    max_surge: Some(IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("25%".into()),
                    }),
                    max_unavailable: Some(IntOrString {
                        r#type: Some(0),
                        int_val: Some(1),
                        str_val: Some(String::new()),
                    }),
                }),
            }),
            ..Default::default()
        }),
        status: None,
    };
    let obj =
        decode_object(&envelope("apps/v1", "Deployment", d.encode_to_vec())).expect("decodes");
    assert_eq!(obj["apiVersion"], "apps/v1");
    assert_eq!(obj["spec"]["replicas"], 3);
    assert_eq!(
        obj["spec"]["selector"],
        json!({"matchLabels": {"app": "web"}})
    );
    assert_eq!(
        obj["spec"]["strategy"]["rollingUpdate"],
        json!({"maxSurge": "25%", "maxUnavailable": 1})
    );

    let opts = meta::DeleteOptions {
        grace_period_seconds: Some(0),
        propagation_policy: Some("Foreground".into()),
        preconditions: Some(meta::Preconditions {
            uid: Some("u-1".into()),
            resource_version: None,
        }),
        dry_run: vec!["All".into()],
        ..Default::default()
    };
    let obj = decode_object(&envelope(
        "meta.k8s.io/v1",
        "DeleteOptions",
        opts.encode_to_vec(),
    ))
    .expect("decodes");
    assert_eq!(obj["gracePeriodSeconds"], 0);
    assert_eq!(obj["propagationPolicy"], "Foreground");
    assert_eq!(obj["preconditions"], json!({"uid": "u-1"}));
    assert_eq!(obj["dryRun"], json!(["All"]));
}

#[test]
fn bad_bodies_are_errors() {
    assert_eq!(decode_object(b"{}"), Err(DecodeError::NoMagic));
    assert_eq!(decode_object(b"k8s\0"), Err(DecodeError::NoKind));
    let cm = core::ConfigMap {
        metadata: meta("x"),
        ..Default::default()
    }
    .encode_to_vec();
    let whole = envelope("v1", "ConfigMap", cm);
    for cut in 5..whole.len() {
        // Any truncation either fails cleanly or (cut at a field boundary) decodes.
        let _ = decode_object(&whole[..cut]);
    }
    assert!(matches!(
        decode_object(&envelope("v1", "NoSuchKind", vec![])),
        Err(DecodeError::UnknownMessage(_))
    ));
    // A string that is not UTF-8.
    let bad = envelope("v1", "ConfigMap", vec![0x0a, 0x03, 0x0a, 0x01, 0xff]);
    assert!(decode_object(&bad).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut body = MAGIC.to_vec();
        body.extend(&tail);
        let _ = decode_object(&body);
        let _ = decode_object(&envelope("v1", "Pod", tail.clone()));
        let _ = decode_object(&envelope("apps/v1", "Deployment", tail));
    }
}

/// A protobuf body's Quantity that does not parse is refused where the
/// JSON one is: when the decoded object is read through its type.
#[test]
fn a_protobuf_body_with_a_bad_quantity_is_refused_by_the_typed_read() {
    let pod = core::Pod {
        metadata: Some(meta::ObjectMeta {
            name: Some("p".into()),
            ..Default::default()
        }),
        spec: Some(core::PodSpec {
            containers: vec![core::Container {
                name: Some("c".into()),
                image: Some("i".into()),
                resources: Some(core::ResourceRequirements {
                    requests: [(
                        "cpu".to_string(),
                        Quantity {
                            string: Some("lots".into()),
                        },
                    )]
                    .into(),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let obj = decode_object(&envelope("v1", "Pod", pod.encode_to_vec())).expect("decodes");
    let e = crate::typed::decode("", "v1", "Pod", obj, crate::typed::FieldValidation::Warn)
        .expect_err("cpu: lots");
    assert_eq!(e.code(), 400);
    assert!(
        e.message()
            .starts_with("Pod in version \"v1\" cannot be handled as a Pod: quantities must match"),
        "{}",
        e.message()
    );
}

/// A `PartialObjectMetadata` encoded as kube-apiserver answers in protobuf
/// reads back through the prost types client-go's decoder mirrors.
#[test]
fn partial_object_metadata_encodes_for_protobuf_clients() {
    let partial = json!({
        "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
        "metadata": {"name": "cm", "namespace": "default", "labels": {"k": "v"},
                     "resourceVersion": "7", "creationTimestamp": "2026-12-07T12:00:00Z"}
    });
    let body = encode_object("meta.k8s.io/v1", "PartialObjectMetadata", &partial).expect("encodes");
    let unknown = Unknown::decode(&body[4..]).expect("an Unknown");
    assert!(body.starts_with(MAGIC));
    let tm = unknown.type_meta.expect("typeMeta");
    assert_eq!(tm.api_version.as_deref(), Some("meta.k8s.io/v1"));
    assert_eq!(tm.kind.as_deref(), Some("PartialObjectMetadata"));
    let pom = meta::PartialObjectMetadata::decode(unknown.raw.expect("raw").as_slice())
        .expect("a PartialObjectMetadata");
    let m = pom.metadata.expect("metadata");
    assert_eq!(m.name.as_deref(), Some("cm"));
    assert_eq!(m.labels.get("k").map(String::as_str), Some("v"));
    assert_eq!(m.resource_version.as_deref(), Some("7"));
    assert_eq!(
        m.creation_timestamp.and_then(|t| t.seconds),
        Some(1_796_644_800)
    );
    // And through our own decoder, the JSON it came from.
    let back = decode_object(&body).expect("decodes");
    assert_eq!(back, partial);
}
