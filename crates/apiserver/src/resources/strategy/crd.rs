//! CustomResourceDefinitions: a new one carries the cleanup finalizer, so
//! that its objects go before it does (the CRD controller in `crds.rs`
//! removes it).

use rkube_apimachinery::ResourceInfo;
use serde_json::Value;

use super::hooks::Strategy;

/// The strategy of `customresourcedefinitions`.
pub struct CrdStrategy;

impl Strategy for CrdStrategy {
    fn prepare_for_create(&self, _info: &ResourceInfo, obj: &mut Value) {
        let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else {
            return;
        };
        let finalizers = meta
            .entry("finalizers")
            .or_insert_with(|| serde_json::json!([]));
        if let Some(f) = finalizers.as_array_mut() {
            let cleanup = Value::from(rkube_apimachinery::crd::CLEANUP_FINALIZER);
            if !f.contains(&cleanup) {
                f.push(cleanup);
            }
        }
    }

    /// kube-apiserver's CRD strategy requires a resourceVersion on update.
    fn allow_unconditional_update(&self) -> bool {
        false
    }
}
