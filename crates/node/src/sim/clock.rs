//! The time the agent writes into conditions and statuses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// Now, as a `metav1.Time` (seconds).
pub(crate) fn now() -> String {
    match serde_json::to_value(Time(Timestamp::now())) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}
