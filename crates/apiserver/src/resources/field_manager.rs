//! Field management on every write (`metadata.managedFields`, step 2 of
//! `pipeline.rs`); the rules themselves are `rkube_apimachinery::managed`.
//! Server-side apply is in `patch.rs`.

use rkube_apimachinery::managed;
use rkube_apimachinery::ResourceInfo;
use serde_json::Value;

use super::object;
use super::options::WriteOptions;

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
