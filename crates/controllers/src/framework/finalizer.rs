//! Adding and removing one finalizer of an object, guarded by its
//! resourceVersion (a conflict is retried by the runner with the object
//! read again).

use std::fmt::Debug;

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

/// `obj` lists `finalizer`.
pub fn has<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|f| f.iter().any(|x| x == finalizer))
}

/// Writes `finalizers` as `obj`'s list; a 404 is not an error.
async fn write<K>(api: &Api<K>, obj: &K, finalizers: Vec<String>) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let body = json!({"metadata": {"finalizers": finalizers,
        "resourceVersion": obj.resource_version()}});
    match api
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&body),
        )
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e),
    }
}

/// Adds `finalizer` to `obj` (nothing if it is there).
pub async fn add<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    if has(obj, finalizer) {
        return Ok(());
    }
    let mut f = obj.meta().finalizers.clone().unwrap_or_default();
    f.push(finalizer.to_string());
    write(api, obj, f).await
}

/// Removes `finalizer` from `obj` (nothing if it is not there).
pub async fn remove<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    if !has(obj, finalizer) {
        return Ok(());
    }
    let mut f = obj.meta().finalizers.clone().unwrap_or_default();
    f.retain(|x| x != finalizer);
    write(api, obj, f).await
}
