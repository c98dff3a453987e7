//! JSON names with initialisms, which a snake-case round trip mangles
//! (`non_resource_ur_ls` is not `nonResourceUrLs`): regressions of
//! schema.txt, checked against the Go struct tags by
//! `scripts/gen-protobuf-zeros.py`.

use k8s_pb::api::core::v1 as core;
use k8s_pb::api::rbac::v1 as rbac;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use prost::Message;
use serde_json::json;

use super::tests::envelope;
use super::*;

fn named(name: &str) -> Option<meta::ObjectMeta> {
    Some(meta::ObjectMeta {
        name: Some(name.into()),
        ..Default::default()
    })
}

#[test]
fn a_cluster_role_with_non_resource_urls() {
    // kubectl create clusterrole healthz --verb=get --non-resource-url=/healthz
    let role = rbac::ClusterRole {
        metadata: named("healthz"),
        rules: vec![rbac::PolicyRule {
            verbs: vec!["get".into()],
            non_resource_ur_ls: vec!["/healthz".into()],
            ..Default::default()
        }],
        aggregation_rule: None,
    };
    let obj = decode_object(&envelope(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        role.encode_to_vec(),
    ))
    .expect("decodes");
    assert_eq!(
        obj["rules"],
        json!([{"verbs": ["get"], "nonResourceURLs": ["/healthz"]}])
    );
}

#[test]
fn a_downward_api_volume() {
    let pod = core::Pod {
        metadata: named("p"),
        spec: Some(core::PodSpec {
            volumes: vec![core::Volume {
                name: Some("info".into()),
                volume_source: Some(core::VolumeSource {
                    downward_api: Some(core::DownwardAPIVolumeSource {
                        items: vec![core::DownwardAPIVolumeFile {
                            path: Some("labels".into()),
                            field_ref: Some(core::ObjectFieldSelector {
                                api_version: Some("v1".into()),
                                field_path: Some("metadata.labels".into()),
                            }),
                            ..Default::default()
                        }],
                        default_mode: None,
                    }),
                    ..Default::default()
                }),
            }],
            ..Default::default()
        }),
        status: None,
    };
    let obj = decode_object(&envelope("v1", "Pod", pod.encode_to_vec())).expect("decodes");
    assert_eq!(
        obj["spec"]["volumes"],
        json!([{
            "name": "info",
            "downwardAPI": {"items": [{
                "path": "labels",
                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.labels"}
            }]}
        }])
    );
}
