//! PersistentVolumeClaimResize (kube-apiserver's admission plugin of that
//! name): a claim's storage request may grow only when the claim is bound
//! and its StorageClass — the same before and after — says
//! `allowVolumeExpansion: true`. Shrinking is validation's business
//! (`validate/volume.rs`).

use k8s_openapi::api::storage::v1::StorageClass;
use serde_json::Value;

use super::Denied;
use crate::quantity::parse_milli;
use crate::storage::BETA_STORAGE_CLASS;

fn request(claim: &Value) -> Option<i128> {
    claim
        .pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .and_then(parse_milli)
}

/// The class a claim asks for (the beta annotation, else the field, else
/// `""`).
pub fn claim_class(claim: &Value) -> &str {
    claim
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(BETA_STORAGE_CLASS))
        .or_else(|| claim.pointer("/spec/storageClassName"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Whether the update asks for more storage than before.
pub fn grows(old: &Value, new: &Value) -> bool {
    match (request(old), request(new)) {
        (Some(o), Some(n)) => n > o,
        (None, Some(_)) => true,
        _ => false,
    }
}

/// The validating half, for an update of a claim (not its status);
/// `class` is the StorageClass the new claim names, if it exists.
pub fn validate(old: &Value, new: &Value, class: Option<&StorageClass>) -> Result<(), Denied> {
    if !grows(old, new) {
        return Ok(());
    }
    if old.pointer("/status/phase").and_then(Value::as_str) != Some("Bound") {
        return Err(Denied(
            "Only bound persistent volume claims can be expanded".into(),
        ));
    }
    let (old_class, new_class) = (claim_class(old), claim_class(new));
    let allowed = !new_class.is_empty()
        && old_class == new_class
        && class.is_some_and(|c| c.allow_volume_expansion == Some(true));
    if allowed {
        Ok(())
    } else {
        Err(Denied(
            "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(size: &str, phase: &str) -> Value {
        json!({"spec": {"storageClassName": "local-path",
            "resources": {"requests": {"storage": size}}}, "status": {"phase": phase}})
    }

    fn class(expand: Option<bool>) -> StorageClass {
        serde_json::from_value(
            json!({"metadata": {"name": "local-path"}, "provisioner": "x",
            "allowVolumeExpansion": expand}),
        )
        .expect("class")
    }

    #[test]
    fn a_bound_claim_grows_where_its_class_allows() {
        let (old, new) = (claim("1Gi", "Bound"), claim("2Gi", "Bound"));
        assert_eq!(validate(&old, &new, Some(&class(Some(true)))), Ok(()));
        let refused = "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize";
        assert_eq!(
            validate(&old, &new, Some(&class(None))),
            Err(Denied(refused.into()))
        );
        assert_eq!(
            validate(&old, &new, Some(&class(Some(false)))),
            Err(Denied(refused.into()))
        );
        assert_eq!(validate(&old, &new, None), Err(Denied(refused.into())));
    }

    #[test]
    fn only_growth_of_bound_claims_is_judged() {
        assert_eq!(
            validate(&claim("1Gi", "Pending"), &claim("2Gi", "Pending"), None),
            Err(Denied(
                "Only bound persistent volume claims can be expanded".into()
            ))
        );
        // Same size, or smaller (validation decides): nothing to admit.
        assert_eq!(
            validate(&claim("1Gi", "Bound"), &claim("1024Mi", "Bound"), None),
            Ok(())
        );
        assert_eq!(
            validate(&claim("2Gi", "Bound"), &claim("1Gi", "Bound"), None),
            Ok(())
        );
    }
}
