//! Pods: a new pod's status is `Pending` with its QoS class (computed
//! after admission set its resources), the pod admission plugins look at
//! it, and a pod bound to a node that has not finished is deleted
//! gracefully (its node stops it, then deletes it with grace 0).

use rkube_apimachinery::{defaults, ResourceInfo};
use serde_json::Value;

use super::hooks::{Admitted, Strategy};

/// The strategy of `pods`.
pub struct PodStrategy;

/// Without a grace period in the delete or the pod: kube's default.
const DEFAULT_GRACE_SECONDS: i64 = 30;

impl Strategy for PodStrategy {
    fn prepare_for_create(&self, info: &ResourceInfo, obj: &mut Value) {
        // The status the pod defaults give (phase, QoS class).
        defaults::apply(&info.group, &info.kind, obj);
    }

    fn admitted(&self) -> Admitted {
        Admitted::Pod
    }

    fn grace_period(&self, obj: &Value, requested: Option<i64>) -> i64 {
        let on_node = obj
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let finished = matches!(
            obj.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        );
        if !on_node || finished {
            return 0;
        }
        requested
            .or_else(|| {
                obj.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(DEFAULT_GRACE_SECONDS)
    }
}
