//! Field management on every write (`metadata.managedFields`) and
//! server-side apply (PATCH `application/apply-patch+yaml`), on top of the
//! verbs in `storage.rs`; the rules themselves are
//! `rkube_apimachinery::managed`.

use rkube_apimachinery::managed;
use rkube_apimachinery::typed;
use rkube_apimachinery::{ApiError, ResourceInfo};
use rkube_store::Store;
use serde_json::Value;

use super::object;
use super::storage::{
    check_update, create_managed, decode_typed, read, write_if_unchanged, WriteOptions, Written,
};

/// The shape of `info`'s objects, for field management.
pub(super) fn shape(info: &ResourceInfo) -> managed::Shape<'_> {
    match &info.custom {
        Some(c) => managed::Shape::Custom(c.schema.as_ref()),
        None => managed::Shape::builtin(&info.kind),
    }
}

/// Records in `new`'s `managedFields` what this write (not an apply)
/// changed: `old` is `None` for a create.
pub(super) fn manage(
    info: &ResourceInfo,
    old: Option<&Value>,
    new: &mut Value,
    opts: &WriteOptions,
    subresource: &str,
) {
    let live = old.map(managed::read).unwrap_or_default();
    let sent = new.pointer("/metadata/managedFields");
    let unchanged = sent == old.and_then(|o| o.pointer("/metadata/managedFields"));
    let entries = if subresource.is_empty() && old.is_some() && !unchanged {
        managed::requested(new, live)
    } else {
        live
    };
    let now = object::now_rfc3339();
    let api_version = info.api_version();
    let manager = match opts.field_manager.as_str() {
        "" => "unknown",
        m => m,
    };
    let w = managed::Writer {
        manager,
        api_version: &api_version,
        subresource,
        has_status: info.subresource("status").is_some(),
        now: &now,
    };
    let entries = match old {
        None => managed::created(new, &shape(info), &w),
        Some(_) => managed::update(old, new, &shape(info), &w, entries),
    };
    managed::write(new, entries);
}

/// Server-side apply of `config` (PATCH `application/apply-patch+yaml`):
/// merged into the live object with field ownership, or creating it.
pub(super) async fn apply(
    store: &dyn Store,
    info: &ResourceInfo,
    ns: Option<&str>,
    name: &str,
    config: &Value,
    status: bool,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let version = config
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    if version != info.api_version() {
        return Err(ApiError::bad_request(format!(
            "Incorrect version specified in apply patch. Specified patch version: {version}, expected: {}",
            info.api_version()
        )));
    }
    let kind = config.get("kind").and_then(Value::as_str).unwrap_or("");
    if kind != info.kind {
        return Err(ApiError::bad_request(format!(
            "invalid object type: {}, Kind={kind}",
            info.api_version()
        )));
    }
    if config
        .pointer("/metadata/managedFields")
        .is_some_and(|m| !m.is_null())
    {
        return Err(ApiError::bad_request("metadata.managedFields must be nil"));
    }
    let decoded = decode_typed(info, config.clone(), opts.field_validation)?;
    let warnings = typed::warnings(&decoded);
    let mut config = decoded.object;
    object::set_namespace(info, &mut config, ns)?;
    if object::meta_str(&config, "name") != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({}) does not match the name on the URL ({name})",
            object::meta_str(&config, "name")
        )));
    }
    let now = object::now_rfc3339();
    let api_version = info.api_version();
    let w = managed::Writer {
        manager: &opts.field_manager,
        api_version: &api_version,
        subresource: if status { "status" } else { "" },
        has_status: info.subresource("status").is_some(),
        now: &now,
    };
    let shape = shape(info);
    for _ in 0..8 {
        let (old, mod_rev) = match read(store, info, ns, name).await {
            Ok(found) => found,
            Err(ApiError::NotFound { .. }) if !status => {
                let (obj, entries) =
                    managed::apply(None, &config, &shape, &w, Vec::new(), opts.force)?;
                match create_managed(store, info, ns, obj, opts, Some(entries)).await {
                    Err(ApiError::AlreadyExists { .. }) => continue,
                    other => {
                        return other.map(|mut o| {
                            o.warnings.splice(0..0, warnings);
                            o
                        })
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let entries = managed::read(&old);
        let (mut new, entries) =
            managed::apply(Some(&old), &config, &shape, &w, entries, opts.force)?;
        object::prepare_update(info, &old, &mut new, status)?;
        check_update(info, name, &old, &mut new, status)?;
        managed::write(&mut new, entries);
        if opts.dry_run {
            object::set_resource_version(&mut new, mod_rev);
            return Ok(Written::new(new, warnings));
        }
        match write_if_unchanged(store, info, ns, name, mod_rev, new).await {
            Err(ApiError::Conflict { .. }) => continue,
            other => return other.map(|o| Written::new(o, warnings)),
        }
    }
    Err(ApiError::conflict_modified(&info.group, &info.plural, name))
}
