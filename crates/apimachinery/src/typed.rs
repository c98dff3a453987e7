//! Decoding a built-in object the way kube-apiserver does: through its Go
//! type. Here the type is the `k8s-openapi` one: the JSON object is read
//! into it and written back out. That checks every field's type (a string
//! where an integer belongs is a 400, as in Kubernetes), normalises values
//! (base64, timestamps) and drops the fields the type does not have.
//!
//! Every Quantity in the object must parse (`quantity_fields`), as
//! Quantity's own decoder insists there; the first that does not is the
//! 400, before unknown fields are looked at.
//!
//! The dropped fields are what `fieldValidation` is about: `Strict` refuses
//! the request, `Warn` (the default) answers with one `Warning` per field,
//! `Ignore` drops them silently. Kinds without a type here (custom
//! resources) are left as they are.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::status::ApiError;

/// The `fieldValidation` query parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValidation {
    /// Drop unknown fields silently.
    Ignore,
    /// Drop unknown fields and warn about each (kube-apiserver's default).
    #[default]
    Warn,
    /// Refuse the request with 400 when there is an unknown field.
    Strict,
}

impl FieldValidation {
    /// Parses the query value (absent or empty → `Warn`).
    pub fn parse(value: Option<&str>) -> Result<Self, ApiError> {
        match value.unwrap_or("") {
            "" | "Warn" => Ok(FieldValidation::Warn),
            "Ignore" => Ok(FieldValidation::Ignore),
            "Strict" => Ok(FieldValidation::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation parameter unsupported: {other}"
            ))),
        }
    }
}

/// The object as its type sees it, and the fields the type does not have.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded {
    pub object: Value,
    /// JSON paths of dropped fields (`spec.foo`, `spec.containers[0].bar`).
    pub unknown_fields: Vec<String>,
}

fn through<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, String> {
    let typed = T::deserialize(obj).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

macro_rules! kinds {
    ($obj:expr, $group:expr, $kind:expr; $($g:literal $k:literal => $t:ty,)*) => {
        match ($group, $kind) {
            $(($g, $k) => Some(through::<$t>($obj)),)*
            _ => None,
        }
    };
}

/// Reads `obj` through the type of `group`/`kind` (version `v1`); `None`
/// when rkube has no type for it.
fn roundtrip(group: &str, version: &str, kind: &str, obj: &Value) -> Option<Result<Value, String>> {
    use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
    match (group, version, kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => {
            return Some(through::<autoscaling_v1::HorizontalPodAutoscaler>(obj))
        }
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => {
            return Some(through::<autoscaling_v2::HorizontalPodAutoscaler>(obj))
        }
        _ => {}
    }
    use k8s_openapi::api::{
        apps::v1 as apps, batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
        node::v1 as node, policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1 as apiextensions;
    use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1 as apiregistration;
    kinds!(obj, group, kind;
        "" "Binding" => core::Binding,
        "" "ComponentStatus" => core::ComponentStatus,
        "" "ConfigMap" => core::ConfigMap,
        "" "Endpoints" => core::Endpoints,
        "" "Event" => core::Event,
        "" "LimitRange" => core::LimitRange,
        "" "Namespace" => core::Namespace,
        "" "Node" => core::Node,
        "" "PersistentVolume" => core::PersistentVolume,
        "" "PersistentVolumeClaim" => core::PersistentVolumeClaim,
        "" "Pod" => core::Pod,
        "" "PodTemplate" => core::PodTemplate,
        "" "ReplicationController" => core::ReplicationController,
        "" "ResourceQuota" => core::ResourceQuota,
        "" "Secret" => core::Secret,
        "" "Service" => core::Service,
        "" "ServiceAccount" => core::ServiceAccount,
        "apps" "ControllerRevision" => apps::ControllerRevision,
        "apps" "DaemonSet" => apps::DaemonSet,
        "apps" "Deployment" => apps::Deployment,
        "apps" "ReplicaSet" => apps::ReplicaSet,
        "apps" "StatefulSet" => apps::StatefulSet,
        "batch" "CronJob" => batch::CronJob,
        "batch" "Job" => batch::Job,
        "coordination.k8s.io" "Lease" => coordination::Lease,
        "discovery.k8s.io" "EndpointSlice" => discovery::EndpointSlice,
        "events.k8s.io" "Event" => events::Event,
        "networking.k8s.io" "Ingress" => networking::Ingress,
        "networking.k8s.io" "IngressClass" => networking::IngressClass,
        "networking.k8s.io" "NetworkPolicy" => networking::NetworkPolicy,
        "policy" "PodDisruptionBudget" => policy::PodDisruptionBudget,
        "policy" "Eviction" => policy::Eviction,
        "rbac.authorization.k8s.io" "ClusterRole" => rbac::ClusterRole,
        "rbac.authorization.k8s.io" "ClusterRoleBinding" => rbac::ClusterRoleBinding,
        "rbac.authorization.k8s.io" "Role" => rbac::Role,
        "rbac.authorization.k8s.io" "RoleBinding" => rbac::RoleBinding,
        "scheduling.k8s.io" "PriorityClass" => scheduling::PriorityClass,
        "apiextensions.k8s.io" "CustomResourceDefinition" => apiextensions::CustomResourceDefinition,
        "apiregistration.k8s.io" "APIService" => apiregistration::APIService,
        "node.k8s.io" "RuntimeClass" => node::RuntimeClass,
        "storage.k8s.io" "CSIDriver" => storage::CSIDriver,
        "storage.k8s.io" "CSINode" => storage::CSINode,
        "storage.k8s.io" "CSIStorageCapacity" => storage::CSIStorageCapacity,
        "storage.k8s.io" "StorageClass" => storage::StorageClass,
        "storage.k8s.io" "VolumeAttachment" => storage::VolumeAttachment,
        "storage.k8s.io" "VolumeAttributesClass" => storage::VolumeAttributesClass,
    )
}

/// Collects the paths of fields in `given` that `typed` does not have.
fn missing(given: &Value, typed: &Value, path: &mut String, out: &mut Vec<String>) {
    match (given, typed) {
        (Value::Object(g), Value::Object(t)) => {
            for (k, v) in g {
                if v.is_null() {
                    continue;
                }
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
                match t.get(k) {
                    Some(tv) => missing(v, tv, path, out),
                    None => out.push(path.clone()),
                }
                path.truncate(len);
            }
        }
        (Value::Array(g), Value::Array(t)) => {
            for (i, (gv, tv)) in g.iter().zip(t).enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                missing(gv, tv, path, out);
                path.truncate(len);
            }
        }
        _ => {}
    }
}

/// Decodes `obj` as kube-apiserver would decode a body of kind `kind`
/// (`version` is used in messages). Type errors are 400 `BadRequest`;
/// unknown fields are an error only with [`FieldValidation::Strict`].
pub fn decode(
    group: &str,
    version: &str,
    kind: &str,
    obj: Value,
    validation: FieldValidation,
) -> Result<Decoded, ApiError> {
    let typed = match roundtrip(group, version, kind, &obj) {
        None => {
            return Ok(Decoded {
                object: obj,
                unknown_fields: Vec::new(),
            })
        }
        Some(Ok(t)) => t,
        Some(Err(e)) => return Err(cannot(version, kind, &e)),
    };
    quantities(group, version, kind, &typed)?;
    let unknown_fields = dropped(&obj, &typed, version, kind, validation)?;
    Ok(Decoded {
        object: typed,
        unknown_fields,
    })
}

/// The 400 for the first Quantity of `typed` that does not parse, worded as
/// kube-apiserver words it (`Pod in version "v1" cannot be handled as a
/// Pod: quantities must match the regular expression '…'`).
fn quantities(group: &str, version: &str, kind: &str, typed: &Value) -> Result<(), ApiError> {
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    crate::quantity_fields::check(&api_version, kind, typed)
        .map_err(|e| cannot(version, kind, &e.to_string()))
}

/// The 400 for a body that cannot be read as `kind`.
fn cannot(version: &str, kind: &str, detail: &str) -> ApiError {
    ApiError::bad_request(format!(
        "{kind} in version \"{version}\" cannot be handled as a {kind}: {detail}"
    ))
}

/// The fields of `given` that `typed` dropped, as `validation` wants them:
/// none looked for with `Ignore`, a 400 naming them all with `Strict`.
fn dropped(
    given: &Value,
    typed: &Value,
    version: &str,
    kind: &str,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let mut unknown_fields = Vec::new();
    if validation != FieldValidation::Ignore {
        missing(given, typed, &mut String::new(), &mut unknown_fields);
    }
    if validation == FieldValidation::Strict && !unknown_fields.is_empty() {
        let list: Vec<String> = unknown_fields
            .iter()
            .map(|f| format!("unknown field \"{f}\""))
            .collect();
        return Err(cannot(
            version,
            kind,
            &format!("strict decoding error: {}", list.join(", ")),
        ));
    }
    Ok(unknown_fields)
}

/// [`decode`] for a write that changes a stored object `old` (an update or
/// a patch): only the top-level fields that differ from `old`, with
/// `apiVersion` and `kind`, go through the type. The rest is
/// the stored object's, which went through the type when it was written;
/// a type reads and writes its top-level fields independently, so the
/// result is the one [`decode`] gives, at the cost of what changed (for a
/// pod's status patch: its status, not its spec).
///
/// A top-level field the type requires but did not change
/// (`Event.involvedObject`) is defaulted by the type when left out; the
/// stored value is kept instead. Should a type refuse to read without it,
/// the object is decoded whole.
pub fn decode_changed(
    group: &str,
    version: &str,
    kind: &str,
    obj: Value,
    old: &Value,
    validation: FieldValidation,
) -> Result<Decoded, ApiError> {
    let (Value::Object(given), Some(stored)) = (&obj, old.as_object()) else {
        return decode(group, version, kind, obj, validation);
    };
    let always = |k: &str| matches!(k, "apiVersion" | "kind");
    let changed: serde_json::Map<String, Value> = given
        .iter()
        .filter(|(k, v)| always(k) || stored.get(k.as_str()) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if changed.len() == given.len() {
        return decode(group, version, kind, obj, validation);
    }
    let changed = Value::Object(changed);
    let typed = match roundtrip(group, version, kind, &changed) {
        None => {
            return Ok(Decoded {
                object: obj,
                unknown_fields: Vec::new(),
            })
        }
        Some(Ok(t @ Value::Object(_))) => t,
        // A required field left out, or a type error: the whole object
        // decides (and words the error).
        Some(_) => return decode(group, version, kind, obj, validation),
    };
    // The stored rest was checked when it was written.
    quantities(group, version, kind, &typed)?;
    // The stored rest has no dropped fields: what changed has them all.
    let unknown_fields = dropped(&changed, &typed, version, kind, validation)?;
    let (Value::Object(mut object), Value::Object(changed), Value::Object(typed)) =
        (obj, changed, typed)
    else {
        return Err(ApiError::bad_request("bad object"));
    };
    for k in changed.keys() {
        object.remove(k);
    }
    // What changed is the type's now. What the type wrote for a field that
    // was left out (a required one it defaults, as `Event.involvedObject`)
    // is not the stored value: the stored one stays.
    for (k, v) in typed {
        object.entry(k).or_insert(v);
    }
    Ok(Decoded {
        object: Value::Object(object),
        unknown_fields,
    })
}

/// The `Warning` texts for dropped fields (`unknown field "spec.foo"`).
pub fn warnings(d: &Decoded) -> Vec<String> {
    d.unknown_fields
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"}, "bogus": 1},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "image": "nginx", "colour": "red"}]}
                },
                "extra": {"deep": true}
            }
        })
    }

    #[test]
    fn unknown_fields_are_found_and_dropped() {
        let d = decode(
            "apps",
            "v1",
            "Deployment",
            deployment(),
            FieldValidation::Warn,
        )
        .expect("should succeed");
        assert_eq!(
            d.unknown_fields,
            [
                "metadata.bogus",
                "spec.extra",
                "spec.template.spec.containers[0].colour"
            ]
        );
        assert!(d.object.pointer("/spec/extra").is_none());
        assert!(d.object.pointer("/metadata/bogus").is_none());
        assert_eq!(d.object.pointer("/spec/replicas"), Some(&json!(2)));
        assert_eq!(
            warnings(&d)[1],
            "unknown field \"spec.extra\"",
            "warning text as kube-apiserver writes it"
        );
    }

    #[test]
    fn strict_refuses_and_ignore_is_silent() {
        let e = decode(
            "apps",
            "v1",
            "Deployment",
            deployment(),
            FieldValidation::Strict,
        )
        .expect_err("should fail");
        assert_eq!(e.code(), 400);
        assert_eq!(
            e.message(),
            "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: \
             unknown field \"metadata.bogus\", unknown field \"spec.extra\", \
             unknown field \"spec.template.spec.containers[0].colour\""
        );
        let d = decode(
            "apps",
            "v1",
            "Deployment",
            deployment(),
            FieldValidation::Ignore,
        )
        .expect("should succeed");
        assert!(d.unknown_fields.is_empty());
        assert!(d.object.pointer("/spec/extra").is_none());
    }

    #[test]
    fn wrong_types_are_bad_requests() {
        let mut d = deployment();
        d["spec"]["replicas"] = json!("three");
        let e =
            decode("apps", "v1", "Deployment", d, FieldValidation::Warn).expect_err("should fail");
        assert_eq!(e.code(), 400);
        assert!(e
            .message()
            .starts_with("Deployment in version \"v1\" cannot be handled as a Deployment: "));
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
                            "data": {"k": "not base64!"}});
        assert_eq!(
            decode("", "v1", "Secret", secret, FieldValidation::Warn)
                .expect_err("should fail")
                .code(),
            400
        );
    }

    #[test]
    fn known_empty_and_null_fields_are_not_unknown() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "c", "labels": {}, "creationTimestamp": null},
                        "data": {}, "immutable": false});
        let d = decode("", "v1", "ConfigMap", cm, FieldValidation::Strict).expect("should succeed");
        assert!(d.unknown_fields.is_empty());
        assert_eq!(d.object["data"], json!({}));
    }

    #[test]
    fn kinds_without_a_type_pass_through() {
        let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "spec": {"x": 1}});
        let d = decode(
            "example.com",
            "v1",
            "Widget",
            obj.clone(),
            FieldValidation::Strict,
        )
        .expect("should succeed");
        assert_eq!(d.object, obj);
    }

    #[test]
    fn an_unparsable_quantity_is_a_bad_request_on_create_and_on_change() {
        let pod = |cpu: &str| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": "i",
                            "resources": {"requests": {"cpu": cpu}}}]}})
        };
        let e = decode("", "v1", "Pod", pod("lots"), FieldValidation::Warn).expect_err("cpu: lots");
        assert_eq!(e.code(), 400);
        assert_eq!(
            e.message(),
            "Pod in version \"v1\" cannot be handled as a Pod: quantities must match the \
             regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
        let old = decode("", "v1", "Pod", pod("100m"), FieldValidation::Strict)
            .expect("a good pod")
            .object;
        let mut new = old.clone();
        new["spec"]["containers"][0]["resources"]["requests"]["cpu"] = json!("2kk");
        let e = same_as_decode(new, &old).expect_err("cpu: 2kk");
        assert_eq!(
            e.message(),
            "Pod in version \"v1\" cannot be handled as a Pod: unable to parse quantity's suffix"
        );
        let rq = json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"},
                        "spec": {"hard": {"pods": "ten"}}});
        assert!(decode("", "v1", "ResourceQuota", rq, FieldValidation::Warn)
            .expect_err("pods: ten")
            .message()
            .starts_with("ResourceQuota in version \"v1\" cannot be handled as a ResourceQuota: quantities must match"));
    }

    #[test]
    fn field_validation_values() {
        assert_eq!(
            FieldValidation::parse(None).expect("should succeed"),
            FieldValidation::Warn
        );
        assert_eq!(
            FieldValidation::parse(Some("Strict")).expect("should succeed"),
            FieldValidation::Strict
        );
        assert_eq!(
            FieldValidation::parse(Some("strict"))
                .expect_err("should fail")
                .code(),
            400
        );
    }

    fn stored_pod() -> Value {
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "default", "uid": "u1", "labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"containerPort": 80}]}],
                     "nodeName": "n1"},
            "status": {"phase": "Pending"}
        });
        decode("", "v1", "Pod", pod, FieldValidation::Strict)
            .expect("stored pod decodes")
            .object
    }

    /// `decode_changed` gives what `decode` gives, for every validation.
    fn same_as_decode(new: Value, old: &Value) -> Result<Decoded, ApiError> {
        let mut warn = None;
        for v in [
            FieldValidation::Ignore,
            FieldValidation::Strict,
            FieldValidation::Warn,
        ] {
            let whole = decode("", "v1", &kind_of(&new), new.clone(), v);
            let part = decode_changed("", "v1", &kind_of(&new), new.clone(), old, v);
            match (&whole, &part) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "validation {v:?}"),
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "validation {v:?}"),
                _ => panic!("validation {v:?}: decode gave {whole:?}, decode_changed {part:?}"),
            }
            warn = Some(part);
        }
        // The last one, with the default validation.
        warn.expect("three validations ran")
    }

    fn kind_of(v: &Value) -> String {
        v["kind"].as_str().unwrap_or_default().to_string()
    }

    #[test]
    fn a_status_change_decodes_as_the_whole_object_does() {
        let old = stored_pod();
        let mut new = old.clone();
        new["status"] = json!({
            "phase": "Running", "podIP": "10.0.0.2", "startTime": "2026-01-02T03:04:05Z",
            "conditions": [{"type": "Ready", "status": "True", "lastProbeTime": null}],
            "sparkle": true
        });
        let d = same_as_decode(new, &old).expect("warn decodes");
        assert_eq!(d.unknown_fields, ["status.sparkle"]);
        assert_eq!(d.object["status"]["phase"], "Running");
        assert!(d.object["status"].get("sparkle").is_none());
        // The spec is the stored one, untouched.
        assert_eq!(d.object["spec"], old["spec"]);
    }

    #[test]
    fn a_type_error_in_what_changed_is_reported_as_decode_reports_it() {
        let old = stored_pod();
        let mut new = old.clone();
        new["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("eighty");
        let e = same_as_decode(new, &old).expect_err("a string for an integer");
        assert_eq!(e.code(), 400);
        // metadata is read when it changed, like any other field.
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"a": 1});
        assert_eq!(same_as_decode(new, &old).expect_err("a number").code(), 400);
        let mut new = old.clone();
        new["metadata"]["labels"] = json!({"x": "y"});
        new["metadata"]["sparkle"] = json!(1);
        let d = same_as_decode(new, &old).expect("warn decodes");
        assert_eq!(d.unknown_fields, ["metadata.sparkle"]);
        assert_eq!(d.object["metadata"]["labels"], json!({"x": "y"}));
        // Dropping a top-level field, and adding an unknown one.
        let mut new = old.clone();
        new.as_object_mut().expect("object").remove("status");
        new["extra"] = json!({"x": 1});
        let d = same_as_decode(new, &old).expect("warn decodes");
        assert_eq!(d.unknown_fields, ["extra"]);
        assert!(d.object.get("status").is_none() && d.object.get("extra").is_none());
    }

    #[test]
    fn a_required_field_that_did_not_change_keeps_its_stored_value() {
        // Event.involvedObject is required by its type, which defaults it
        // when a change to the message alone is read without it.
        let old = decode(
            "",
            "v1",
            "Event",
            json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e"},
                   "involvedObject": {"kind": "Pod", "name": "p"}, "message": "a", "count": 1}),
            FieldValidation::Strict,
        )
        .expect("event decodes")
        .object;
        let mut new = old.clone();
        new["message"] = json!("b");
        new["count"] = json!(2);
        let d = same_as_decode(new, &old).expect("decodes");
        assert_eq!(d.object["involvedObject"]["name"], "p");
        assert_eq!(d.object["count"], 2);
    }
}
