//! What the collector reads of an object: the parts of its metadata the
//! graph needs (identity, owners, deletion, finalizers), fetched with
//! metadata-only requests like kube-rs's `PartialObjectMeta`, but decoded
//! without `managedFields`. Those are most of a pod's metadata, the
//! collector never reads them, and kube-controller-manager's informers
//! drop them too (its informer transform). Every pod write passes through
//! this watch, so reading them was a large share of its cost.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::{ApiResource, DynamicResourceScope};
use kube::Resource;
use serde::{Deserialize, Deserializer};

/// An object as the collector sees it (`PartialObjectMetadata`).
#[derive(Clone, Debug, Default)]
pub struct Meta {
    pub metadata: ObjectMeta,
}

/// The metadata fields kept; serde skips the others (`managedFields`,
/// labels, annotations, …) without building them.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Kept {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: Kept,
}

impl<'de> Deserialize<'de> for Meta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let k = Wire::deserialize(d)?.metadata;
        Ok(Meta {
            metadata: ObjectMeta {
                name: k.name,
                namespace: k.namespace,
                uid: k.uid,
                resource_version: k.resource_version,
                owner_references: k.owner_references,
                deletion_timestamp: k.deletion_timestamp,
                finalizers: k.finalizers,
                ..ObjectMeta::default()
            },
        })
    }
}

impl Resource for Meta {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn metadata_api() -> bool {
        true
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.kind)
    }

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.group)
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.version)
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.api_version)
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        Cow::Borrowed(&dt.plural)
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reads_what_the_graph_needs_and_drops_managed_fields() {
        let m: Meta = serde_json::from_value(json!({
            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": {
                "name": "p", "namespace": "ns", "uid": "u", "resourceVersion": "7",
                "labels": {"a": "b"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": "rs", "uid": "o", "controller": true, "blockOwnerDeletion": true}],
                "deletionTimestamp": "2026-01-02T03:04:05Z",
                "finalizers": ["foregroundDeletion"],
                "managedFields": [{"manager": "m", "operation": "Update",
                    "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {}}}]
            }
        }))
        .expect("decodes");
        let md = &m.metadata;
        assert_eq!(md.name.as_deref(), Some("p"));
        assert_eq!(md.namespace.as_deref(), Some("ns"));
        assert_eq!(md.uid.as_deref(), Some("u"));
        assert_eq!(md.resource_version.as_deref(), Some("7"));
        assert_eq!(md.owner_references.as_ref().map(Vec::len), Some(1));
        assert!(md.deletion_timestamp.is_some());
        assert_eq!(
            md.finalizers.as_deref(),
            Some(&["foregroundDeletion".to_string()][..])
        );
        assert!(md.managed_fields.is_none() && md.labels.is_none());
        // A malformed owner reference is still an error, as before.
        let bad = serde_json::from_value::<Meta>(json!({"metadata": {"ownerReferences": "x"}}));
        assert!(bad.is_err());
    }
}
