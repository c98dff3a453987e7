//! update: `PUT` of a new version of an object, through the main
//! resource or `status`, written through the pipeline (a PUT of a missing
//! object creates it where the kind's strategy allows that).

use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::Store;
use serde_json::Value;

use super::object;
use super::options::{WriteOptions, Written};
use super::pipeline::{self, Managed};
use super::store_access::read;
use super::strategy;

/// Replace an object (PUT), through the main resource or `status`.
pub async fn update(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    mut obj: Value,
    status: bool,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    object::check_type(info, &mut obj)?;
    object::set_namespace(info, &mut obj, ns)?;
    let (old, mod_rev) = match read(store, info, ns, name).await {
        Ok(found) => found,
        Err(ApiError::NotFound { .. })
            if !status && strategy::for_resource(info).allow_create_on_update() =>
        {
            return pipeline::create(store, info, ns, obj, opts, Managed::Update).await;
        }
        Err(e) => return Err(e),
    };
    pipeline::update(
        store,
        info,
        ns,
        name,
        (&old, mod_rev),
        obj,
        status,
        opts,
        Managed::Update,
    )
    .await
}
