//! Custom resources: their CRD's schema defaults and validates them (with
//! its CEL rules), `generation` counts every change outside metadata (and
//! status, when it has its subresource), an update must name the
//! resourceVersion it replaces, and there is no strategic merge patch.

use rkube_apimachinery::crd::rules;
use rkube_apimachinery::{ApiError, Cause, CauseType, ResourceInfo};
use serde_json::Value;

use super::hooks::Strategy;

/// The strategy every custom resource shares.
pub struct CustomResourceStrategy;

/// The schema's defaults, then its structural validation and its CEL rules
/// (`old`: the stored object, on an update).
fn schema_checks(info: &ResourceInfo, obj: &mut Value, old: Option<&Value>) -> Vec<Cause> {
    let Some(schema) = info.custom.as_ref().and_then(|c| c.schema.as_ref()) else {
        return Vec::new();
    };
    schema.default_root(obj);
    let mut causes = schema.validate_root(obj);
    // As kube-apiserver: a wrong type or a missing required field would
    // only make the rules fail confusingly, so they wait.
    let blocking = causes
        .iter()
        .any(|c| matches!(c.kind, CauseType::TypeInvalid | CauseType::Required));
    if !blocking {
        causes.extend(rules::validate_root(schema, obj, old));
    }
    causes
}

impl Strategy for CustomResourceStrategy {
    fn allow_create(&self, info: &ResourceInfo) -> Result<(), ApiError> {
        if info.custom.as_ref().is_some_and(|c| c.terminating) {
            return Err(ApiError::method_not_allowed(
                &info.group,
                &info.plural,
                "create",
            ));
        }
        Ok(())
    }

    fn has_generation(&self, _info: &ResourceInfo, _obj: &Value) -> bool {
        true
    }

    fn spec_changed(&self, info: &ResourceInfo, old: &Value, new: &Value) -> bool {
        let has_status = info.subresource("status").is_some();
        let rest = |o: &Value| -> Value {
            let mut o = o.clone();
            if let Some(m) = o.as_object_mut() {
                m.remove("metadata");
                if has_status {
                    m.remove("status");
                }
            }
            o
        };
        rest(new) != rest(old)
    }

    fn validate(&self, info: &ResourceInfo, obj: &mut Value) -> Vec<Cause> {
        schema_checks(info, obj, None)
    }

    fn validate_update(
        &self,
        info: &ResourceInfo,
        old: &Value,
        new: &mut Value,
        _status: bool,
    ) -> Vec<Cause> {
        schema_checks(info, new, Some(old))
    }

    fn allow_unconditional_update(&self) -> bool {
        false
    }

    fn strategic_merge(&self) -> bool {
        false
    }
}
