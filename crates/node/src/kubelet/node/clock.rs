//! Times as the API writes them: `metav1.Time` (seconds) and `MicroTime`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

/// Now, as a `metav1.Time` string.
pub fn now() -> String {
    match serde_json::to_value(Time(Timestamp::now())) {
        Ok(Value::String(s)) => s,
        _ => String::new(),
    }
}

/// Now, as a `MicroTime` value.
pub fn now_micro() -> Value {
    serde_json::to_value(MicroTime(Timestamp::now())).unwrap_or(Value::Null)
}
