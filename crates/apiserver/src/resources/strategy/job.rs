//! Jobs: a new Job without `manualSelector` gets its selector and its pod
//! template's labels from its uid and name (kube-apiserver's job strategy
//! `PrepareForCreate`), known only once the generic metadata rules gave it
//! a uid.

use rkube_apimachinery::{defaults, ResourceInfo};
use serde_json::Value;

use super::hooks::Strategy;

/// The strategy of `jobs`.
pub struct JobStrategy;

impl Strategy for JobStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) {
        // The job defaults fill the selector and labels once the uid is there.
        defaults::apply(&info.group, &info.kind, obj);
    }
}
