//! Owner references: the one a controller puts on what it creates, and
//! adopting or releasing an object by rewriting its ownerReferences
//! (guarded by the object's uid).

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

/// A controller reference to `owner` (`controller` and
/// `blockOwnerDeletion` set, as Kubernetes' controllers set them).
pub fn owner_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    OwnerReference {
        api_version: K::api_version(&()).to_string(),
        kind: K::kind(&()).to_string(),
        name: owner.name_any(),
        uid: owner.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// Makes `owner` the controller of `obj`; the object as written, `None`
/// if `obj` went away.
pub async fn adopt<K>(
    api: &Api<K>,
    obj: &K,
    owner: OwnerReference,
) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let mut refs = obj.owner_references().to_vec();
    refs.retain(|r| r.uid != owner.uid);
    refs.push(owner);
    write_refs(api, obj, refs).await
}

/// Removes the reference to `owner_uid` from `obj`; `None` if `obj` went
/// away.
pub async fn release<K>(api: &Api<K>, obj: &K, owner_uid: &str) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let mut refs = obj.owner_references().to_vec();
    refs.retain(|r| r.uid != owner_uid);
    write_refs(api, obj, refs).await
}

async fn write_refs<K>(
    api: &Api<K>,
    obj: &K,
    refs: Vec<OwnerReference>,
) -> Result<Option<K>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let patch = json!({"metadata": {"ownerReferences": refs, "uid": obj.uid()}});
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
    {
        Ok(written) => Ok(Some(written)),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
        Err(e) => Err(e),
    }
}
