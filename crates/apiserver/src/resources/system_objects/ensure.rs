//! What the API server's own reconcilers share: their field manager, their
//! configuration, [`info`] (a registered resource) and [`ensure`], which
//! creates an object or resets the fields the server owns.

use std::net::SocketAddr;
use std::time::Duration;

use rkube_apimachinery::{ApiError, ResourceInfo};
use serde_json::Value;

use super::super::create::create;
use super::super::options::WriteOptions;
use super::super::state::ApiState;
use super::super::store_access::read;
use super::super::update::update;

/// The field manager of the API server's own writes.
pub(crate) const MANAGER: &str = "kube-apiserver";

/// How the API server's own objects are kept.
#[derive(Debug, Clone)]
pub struct SystemObjectsConfig {
    /// Where clients reach this API server (the `kubernetes` Service's
    /// endpoint): never a wildcard address.
    pub advertise: SocketAddr,
    /// How often everything is reconciled (kube-apiserver's endpoint
    /// reconciler: 10 s).
    pub interval: Duration,
}

impl SystemObjectsConfig {
    pub fn new(advertise: SocketAddr) -> Self {
        SystemObjectsConfig {
            advertise,
            interval: Duration::from_secs(10),
        }
    }
}

/// What [`ensure`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ensured {
    Created,
    Updated,
    Unchanged,
}

/// The registered resource `group`/`plural` (version v1).
pub(crate) fn info(state: &ApiState, group: &str, plural: &str) -> Result<ResourceInfo, ApiError> {
    state
        .registry()
        .get(group, "v1", plural)
        .cloned()
        .ok_or_else(|| ApiError::internal(format!("{plural}.{group} is not registered")))
}

/// Create `desired` if it does not exist; otherwise, when any field at
/// `owned` (JSON pointers) differs from `desired`, set those fields and
/// update the object (through `status` when `status` is true).
pub(crate) async fn ensure(
    state: &ApiState,
    info: &ResourceInfo,
    ns: Option<&str>,
    desired: &Value,
    owned: &[&str],
    status: bool,
) -> Result<Ensured, ApiError> {
    let store = state.store.as_ref();
    let name = desired
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let opts = WriteOptions::internal(MANAGER);
    let (mut current, rev) = match read(store, info, ns, name).await {
        Ok(found) => found,
        Err(ApiError::NotFound { .. }) => {
            let created = create(store, info, ns, desired.clone(), &opts).await;
            return match created {
                Ok(_) | Err(ApiError::AlreadyExists { .. }) => Ok(Ensured::Created),
                Err(e) => Err(e),
            };
        }
        Err(e) => return Err(e),
    };
    if owned
        .iter()
        .all(|p| current.pointer(p) == desired.pointer(p))
    {
        return Ok(Ensured::Unchanged);
    }
    for p in owned {
        set_pointer(&mut current, p, desired.pointer(p).cloned());
    }
    if let Some(meta) = current.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::from(rev.to_string()));
    }
    match update(store, info, ns, name, current, status, &opts).await {
        Ok(_) | Err(ApiError::Conflict { .. }) => Ok(Ensured::Updated),
        Err(e) => Err(e),
    }
}

/// Sets (or, for `None`, removes) the field at JSON pointer `ptr`,
/// creating objects on the way.
fn set_pointer(obj: &mut Value, ptr: &str, value: Option<Value>) {
    let mut parts: Vec<&str> = ptr.split('/').skip(1).collect();
    let Some(last) = parts.pop() else {
        return;
    };
    let mut at = obj;
    for part in parts {
        let Some(map) = at.as_object_mut() else {
            return;
        };
        at = map
            .entry(part)
            .or_insert_with(|| Value::Object(Default::default()));
    }
    if let Some(map) = at.as_object_mut() {
        match value {
            Some(v) => {
                map.insert(last.to_string(), v);
            }
            None => {
                map.remove(last);
            }
        }
    }
}
