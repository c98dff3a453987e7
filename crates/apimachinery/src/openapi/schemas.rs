//! The `components.schemas` of a group/version's OpenAPI document:
//! generated from the `k8s-openapi` types the server decodes bodies into
//! (their `schemars` schemas, with Kubernetes' definition names and field
//! descriptions), plus Kubernetes' extensions — the kind's
//! `x-kubernetes-group-version-kind`, and `x-kubernetes-patch-strategy` /
//! `x-kubernetes-patch-merge-key` / `x-kubernetes-list-type` on the lists
//! strategic merge patch merges (the same table `strategic.rs` uses).
//! Custom resources get their CRD version's `openAPIV3Schema`.

use k8s_openapi::schemars::generate::{SchemaGenerator, SchemaSettings};
use k8s_openapi::schemars::JsonSchema;
use serde_json::{json, Map, Value};

use crate::registry::ResourceInfo;

/// Where definitions live: `#/components/schemas/` (v3) or
/// `#/definitions/` (v2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    V3,
    V2,
}

impl Flavor {
    fn path(self) -> &'static str {
        match self {
            Flavor::V3 => "/components/schemas",
            Flavor::V2 => "/definitions",
        }
    }

    /// A `$ref` to definition `name`.
    pub fn reference(self, name: &str) -> Value {
        json!({ "$ref": format!("#{}/{name}", self.path()) })
    }
}

fn def<T: JsonSchema>(gen: &mut SchemaGenerator) -> String {
    gen.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// Adds the schema of built-in `group`/`kind` (and everything it refers
/// to); returns its definition name.
fn builtin(gen: &mut SchemaGenerator, group: &str, version: &str, kind: &str) -> Option<String> {
    use k8s_openapi::api::autoscaling::{v1 as autoscaling_v1, v2 as autoscaling_v2};
    match (group, version, kind) {
        ("autoscaling", "v1", "HorizontalPodAutoscaler") => {
            return Some(def::<autoscaling_v1::HorizontalPodAutoscaler>(gen))
        }
        ("autoscaling", "v2", "HorizontalPodAutoscaler") => {
            return Some(def::<autoscaling_v2::HorizontalPodAutoscaler>(gen))
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
    Some(match (group, kind) {
        ("", "Binding") => def::<core::Binding>(gen),
        ("", "ComponentStatus") => def::<core::ComponentStatus>(gen),
        ("", "ConfigMap") => def::<core::ConfigMap>(gen),
        ("", "Endpoints") => def::<core::Endpoints>(gen),
        ("", "Event") => def::<core::Event>(gen),
        ("", "LimitRange") => def::<core::LimitRange>(gen),
        ("", "Namespace") => def::<core::Namespace>(gen),
        ("", "Node") => def::<core::Node>(gen),
        ("", "PersistentVolume") => def::<core::PersistentVolume>(gen),
        ("", "PersistentVolumeClaim") => def::<core::PersistentVolumeClaim>(gen),
        ("", "Pod") => def::<core::Pod>(gen),
        ("", "PodTemplate") => def::<core::PodTemplate>(gen),
        ("", "ReplicationController") => def::<core::ReplicationController>(gen),
        ("", "ResourceQuota") => def::<core::ResourceQuota>(gen),
        ("", "Secret") => def::<core::Secret>(gen),
        ("", "Service") => def::<core::Service>(gen),
        ("", "ServiceAccount") => def::<core::ServiceAccount>(gen),
        ("apps", "ControllerRevision") => def::<apps::ControllerRevision>(gen),
        ("apps", "DaemonSet") => def::<apps::DaemonSet>(gen),
        ("apps", "Deployment") => def::<apps::Deployment>(gen),
        ("apps", "ReplicaSet") => def::<apps::ReplicaSet>(gen),
        ("apps", "StatefulSet") => def::<apps::StatefulSet>(gen),
        ("batch", "CronJob") => def::<batch::CronJob>(gen),
        ("batch", "Job") => def::<batch::Job>(gen),
        ("coordination.k8s.io", "Lease") => def::<coordination::Lease>(gen),
        ("discovery.k8s.io", "EndpointSlice") => def::<discovery::EndpointSlice>(gen),
        ("events.k8s.io", "Event") => def::<events::Event>(gen),
        ("networking.k8s.io", "Ingress") => def::<networking::Ingress>(gen),
        ("networking.k8s.io", "IngressClass") => def::<networking::IngressClass>(gen),
        ("networking.k8s.io", "NetworkPolicy") => def::<networking::NetworkPolicy>(gen),
        ("policy", "PodDisruptionBudget") => def::<policy::PodDisruptionBudget>(gen),
        ("rbac.authorization.k8s.io", "ClusterRole") => def::<rbac::ClusterRole>(gen),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding") => def::<rbac::ClusterRoleBinding>(gen),
        ("rbac.authorization.k8s.io", "Role") => def::<rbac::Role>(gen),
        ("rbac.authorization.k8s.io", "RoleBinding") => def::<rbac::RoleBinding>(gen),
        ("scheduling.k8s.io", "PriorityClass") => def::<scheduling::PriorityClass>(gen),
        ("node.k8s.io", "RuntimeClass") => def::<node::RuntimeClass>(gen),
        ("storage.k8s.io", "CSIDriver") => def::<storage::CSIDriver>(gen),
        ("storage.k8s.io", "CSINode") => def::<storage::CSINode>(gen),
        ("storage.k8s.io", "CSIStorageCapacity") => def::<storage::CSIStorageCapacity>(gen),
        ("storage.k8s.io", "StorageClass") => def::<storage::StorageClass>(gen),
        ("storage.k8s.io", "VolumeAttachment") => def::<storage::VolumeAttachment>(gen),
        ("storage.k8s.io", "VolumeAttributesClass") => def::<storage::VolumeAttributesClass>(gen),
        ("apiregistration.k8s.io", "APIService") => def::<apiregistration::APIService>(gen),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            def::<apiextensions::CustomResourceDefinition>(gen)
        }
        _ => return None,
    })
}

/// The definition name of a custom resource (`com.example.stable.v1.CronTab`).
fn custom_name(info: &ResourceInfo) -> String {
    let mut parts: Vec<&str> = info.group.split('.').collect();
    parts.reverse();
    format!("{}.{}.{}", parts.join("."), info.version, info.kind)
}

/// The schemas of `resources` (one group/version) and the definition name
/// of each resource's kind, by kind.
pub fn components(
    resources: &[&ResourceInfo],
    flavor: Flavor,
) -> (Map<String, Value>, Map<String, Value>) {
    let mut settings = SchemaSettings::openapi3();
    settings.definitions_path = flavor.path().into();
    let mut gen = settings.into_generator();
    let mut kinds = Map::new();
    let mut custom = Vec::new();
    for info in resources {
        let gvk = json!([{"group": info.group, "version": info.version, "kind": info.kind}]);
        match &info.custom {
            None => {
                if let Some(name) = builtin(&mut gen, &info.group, &info.version, &info.kind) {
                    kinds.insert(info.kind.clone(), json!({"name": name, "gvk": gvk}));
                }
            }
            Some(c) => {
                let name = custom_name(info);
                let meta =
                    def::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(&mut gen);
                let mut schema = c
                    .raw_schema
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object"}));
                if let Some(props) = schema
                    .as_object_mut()
                    .map(|m| m.entry("properties").or_insert_with(|| json!({})))
                    .and_then(Value::as_object_mut)
                {
                    props.insert("apiVersion".into(), json!({"type": "string",
                        "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."}));
                    props.insert("kind".into(), json!({"type": "string",
                        "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase."}));
                    props.insert(
                        "metadata".into(),
                        json!({"allOf": [flavor.reference(&meta)],
                        "description": "Standard object's metadata."}),
                    );
                }
                custom.push((name.clone(), schema));
                kinds.insert(info.kind.clone(), json!({"name": name, "gvk": gvk}));
            }
        }
    }
    let mut defs = gen.take_definitions(true);
    for (name, schema) in custom {
        defs.insert(name, schema);
    }
    for (kind, k) in &kinds {
        let _ = kind;
        let name = k["name"].as_str().unwrap_or_default();
        if let Some(d) = defs.get_mut(name).and_then(Value::as_object_mut) {
            d.insert("x-kubernetes-group-version-kind".into(), k["gvk"].clone());
        }
    }
    for (name, d) in defs.iter_mut() {
        add_list_extensions(name, d);
    }
    (defs, kinds)
}

/// Patch strategy, merge key and list type on the list properties of
/// built-in definition `name`, as Kubernetes' struct tags give them.
fn add_list_extensions(name: &str, d: &mut Value) {
    if !name.starts_with("io.k8s.") {
        return;
    }
    let in_container = name.ends_with(".Container") || name.ends_with(".EphemeralContainer");
    let Some(props) = d.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (field, p) in props.iter_mut() {
        let is_array = p.get("type").and_then(Value::as_str) == Some("array");
        let Some(obj) = p.as_object_mut().filter(|_| is_array) else {
            continue;
        };
        match crate::strategic::list_strategy(field, in_container) {
            Some(Some(key)) => {
                obj.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                obj.insert("x-kubernetes-patch-merge-key".into(), json!(key));
                obj.insert("x-kubernetes-list-type".into(), json!("map"));
                obj.insert("x-kubernetes-list-map-keys".into(), json!([key]));
            }
            Some(None) => {
                obj.insert("x-kubernetes-patch-strategy".into(), json!("merge"));
                obj.insert("x-kubernetes-list-type".into(), json!("set"));
            }
            None => {}
        }
    }
}
