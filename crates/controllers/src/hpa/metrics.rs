//! Pod resource metrics, as kube's metrics client reads them: the
//! `metrics.k8s.io/v1beta1` PodMetrics of the target's pods, listed by
//! label selector through the API (metrics-server's, or the API server's
//! own), each pod's usage of one resource summed over its containers (or
//! one container's). A pod that lacks the resource in any container has no
//! sample.
//!
//! [`MetricsSource`] is the seam: [`ApiMetrics`] in the controller, a fake
//! in tests.

use std::future::Future;

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::Client;
use serde_json::Value;

use super::replicas::{Sample, Samples};

/// Why no metrics could be read (worded as kube's metrics client).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetricsError {
    /// The API call failed (metrics API not served, forbidden, ...).
    #[error("unable to fetch metrics from resource metrics API: {0}")]
    Fetch(String),
    /// The list was empty.
    #[error("no metrics returned from resource metrics API")]
    Empty,
}

/// Where PodMetrics come from.
pub trait MetricsSource: Send + Sync + 'static {
    /// The `PodMetricsList` of `namespace`'s pods matching `selector`, as
    /// JSON.
    fn pod_metrics(
        &self,
        namespace: &str,
        selector: &str,
    ) -> impl Future<Output = Result<Value, MetricsError>> + Send;
}

/// `metrics.k8s.io/v1beta1` through the API.
pub struct ApiMetrics(pub Client);

impl MetricsSource for ApiMetrics {
    async fn pod_metrics(&self, namespace: &str, selector: &str) -> Result<Value, MetricsError> {
        let mut url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{namespace}/pods");
        if !selector.is_empty() {
            url.push_str("?labelSelector=");
            url.push_str(&encode(selector));
        }
        let req = http::Request::get(url)
            .body(Vec::new())
            .map_err(|e| MetricsError::Fetch(e.to_string()))?;
        self.0
            .request::<Value>(req)
            .await
            .map_err(|e| MetricsError::Fetch(super::scale::api_message(&e)))
    }
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The samples of `resource` in a `PodMetricsList` (of `container` only,
/// when given), and the oldest sample time.
pub fn samples(
    list: &Value,
    resource: &str,
    container: Option<&str>,
) -> Result<Samples, MetricsError> {
    let items = list
        .get("items")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if items.is_empty() {
        return Err(MetricsError::Empty);
    }
    let mut out = Samples::new();
    for item in items {
        let Some(name) = item.pointer("/metadata/name").and_then(Value::as_str) else {
            continue;
        };
        let timestamp = item
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .unwrap_or_else(Timestamp::now);
        let window = item
            .get("window")
            .and_then(Value::as_str)
            .and_then(go_duration)
            .unwrap_or(SignedDuration::ZERO);
        let containers = item
            .get("containers")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut sum = 0i64;
        let mut missing = false;
        let mut found = false;
        for c in containers {
            if container.is_some_and(|want| c.get("name").and_then(Value::as_str) != Some(want)) {
                continue;
            }
            match c
                .pointer(&format!("/usage/{resource}"))
                .and_then(Value::as_str)
                .and_then(rkube_apimachinery::quantity::parse_milli)
            {
                Some(v) => {
                    sum += i64::try_from(v).unwrap_or(i64::MAX);
                    found = true;
                }
                None => missing = true,
            }
        }
        if missing || !found {
            continue;
        }
        out.insert(
            name.to_string(),
            Sample {
                value: sum,
                timestamp,
                window,
            },
        );
    }
    Ok(out)
}

/// A Go `time.Duration` string (`30s`, `1m0s`, `1.5s`, `250ms`).
fn go_duration(s: &str) -> Option<SignedDuration> {
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let n = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    SignedDuration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1",
            "metadata": {}, "items": [
            {"metadata": {"name": "a", "namespace": "default"},
             "timestamp": "2026-12-07T12:00:00Z", "window": "15s",
             "containers": [{"name": "web", "usage": {"cpu": "250m", "memory": "64Mi"}},
                            {"name": "side", "usage": {"cpu": "50m", "memory": "1Mi"}}]},
            {"metadata": {"name": "b", "namespace": "default"},
             "timestamp": "2026-12-07T12:00:00Z", "window": "1m0s",
             "containers": [{"name": "web", "usage": {"memory": "64Mi"}}]},
        ]})
    }

    #[test]
    fn usage_is_summed_over_containers_in_thousandths() {
        let s = samples(&list(), "cpu", None).expect("samples");
        assert_eq!(s.len(), 1, "b has no cpu usage: no sample");
        assert_eq!(s["a"].value, 300);
        assert_eq!(s["a"].window, SignedDuration::from_secs(15));
        let s = samples(&list(), "memory", Some("web")).expect("samples");
        assert_eq!(s["b"].value, 64 * 1024 * 1024 * 1000);
        assert_eq!(s["b"].window, SignedDuration::from_secs(60));
    }

    #[test]
    fn an_empty_list_is_kubes_error() {
        let e = samples(&json!({"items": []}), "cpu", None).expect_err("empty");
        assert_eq!(
            e.to_string(),
            "no metrics returned from resource metrics API"
        );
    }

    #[test]
    fn selectors_are_encoded() {
        assert_eq!(
            encode("app=web,tier in (a,b)"),
            "app%3Dweb%2Ctier%20in%20%28a%2Cb%29"
        );
    }
}
