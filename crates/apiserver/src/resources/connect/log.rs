//! `pods/log`: PodLogOptions read and checked as kube-apiserver does,
//! then the node's `/containerLogs/{ns}/{pod}/{container}` streamed back
//! (`follow=true` follows as long as the node writes); a simulated node's
//! log is made here.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rkube_apimachinery::{ApiError, Cause};
use serde_json::Value;

use super::super::state::ApiState;
use super::pod_target::{choose_container, node_of, read_core};
use super::query::{segment, Encoder, Query};
use crate::node_access::simulated::SimulatedLog;
use crate::node_access::{node_name, target_of, NodeTarget};

/// `PodLogOptions`, from the query.
#[derive(Debug, Default, PartialEq)]
pub struct LogOptions {
    pub container: Option<String>,
    pub follow: bool,
    pub previous: bool,
    pub since_seconds: Option<i64>,
    pub since_time: Option<String>,
    pub timestamps: bool,
    pub tail_lines: Option<i64>,
    pub limit_bytes: Option<i64>,
}

impl LogOptions {
    /// Reads and validates the options (400 for a value that does not
    /// parse, 422 `PodLogOptions` for one out of range).
    pub fn parse(q: &Query, pod: &str) -> Result<LogOptions, ApiError> {
        // Accepted; the node's certificate is never verified anyway.
        q.bool("insecureSkipTLSVerifyBackend")?;
        let since_time = q.get("sinceTime").filter(|t| !t.is_empty());
        if let Some(t) = since_time {
            if !is_rfc3339(t) {
                return Err(ApiError::bad_request(format!(
                    "sinceTime: parsing time {t:?} as RFC 3339 failed"
                )));
            }
        }
        let opts = LogOptions {
            container: q.get("container").map(str::to_string),
            follow: q.bool("follow")?,
            previous: q.bool("previous")?,
            since_seconds: q.int("sinceSeconds")?,
            since_time: since_time.map(str::to_string),
            timestamps: q.bool("timestamps")?,
            tail_lines: q.int("tailLines")?,
            limit_bytes: q.int("limitBytes")?,
        };
        let mut causes = Vec::new();
        if let Some(n) = opts.tail_lines.filter(|n| *n < 0) {
            causes.push(Cause::invalid(
                "tailLines",
                n,
                "must be greater than or equal to 0",
            ));
        }
        if let Some(n) = opts.limit_bytes.filter(|n| *n < 1) {
            causes.push(Cause::invalid("limitBytes", n, "must be greater than 0"));
        }
        match (opts.since_seconds, &opts.since_time) {
            (Some(_), Some(_)) => causes.push(Cause::forbidden(
                "",
                "at most one of `sinceTime` or `sinceSeconds` may be specified",
            )),
            (Some(n), None) if n < 1 => {
                causes.push(Cause::invalid("sinceSeconds", n, "must be greater than 0"))
            }
            _ => {}
        }
        if !causes.is_empty() {
            return Err(ApiError::invalid("", "PodLogOptions", pod, causes));
        }
        Ok(opts)
    }

    /// The node's path for `container` of pod `ns/pod`.
    pub fn node_path(&self, ns: &str, pod: &str, container: &str) -> String {
        let mut e = Encoder::default();
        let flag = |e: &mut Encoder, k: &str, on: bool| {
            if on {
                e.add(k, "true");
            }
        };
        flag(&mut e, "follow", self.follow);
        flag(&mut e, "previous", self.previous);
        flag(&mut e, "timestamps", self.timestamps);
        if let Some(n) = self.since_seconds {
            e.add("sinceSeconds", &n.to_string());
        }
        if let Some(t) = &self.since_time {
            e.add("sinceTime", t);
        }
        if let Some(n) = self.tail_lines {
            e.add("tailLines", &n.to_string());
        }
        if let Some(n) = self.limit_bytes {
            e.add("limitBytes", &n.to_string());
        }
        e.finish(&format!(
            "/containerLogs/{}/{}/{}",
            segment(ns),
            segment(pod),
            segment(container)
        ))
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn is_rfc3339(t: &str) -> bool {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !(digits(0..4) && digits(5..7) && digits(8..10) && digits(11..13) && digits(14..16))
        || !digits(17..19)
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't')
        || b[13] != b':'
        || b[16] != b':'
    {
        return false;
    }
    let mut rest = &t[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit()),
        _ => false,
    }
}

/// When the container started, for a simulated log's timestamps.
fn started(pod: &Value, container: &str) -> String {
    let statuses = [
        "initContainerStatuses",
        "containerStatuses",
        "ephemeralContainerStatuses",
    ];
    statuses
        .iter()
        .flat_map(|s| pod["status"][*s].as_array().into_iter().flatten())
        .find(|s| s["name"] == container)
        .and_then(|s| s["state"]["running"]["startedAt"].as_str())
        .or_else(|| pod["status"]["startTime"].as_str())
        .or_else(|| pod["metadata"]["creationTimestamp"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn image(pod: &Value, container: &str) -> String {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|l| pod["spec"][*l].as_array().into_iter().flatten())
        .find(|c| c["name"] == container)
        .and_then(|c| c["image"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn text(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain")],
        Body::from(body),
    )
        .into_response()
}

/// Serves `GET pods/{name}/log`.
pub async fn serve(
    state: &ApiState,
    ns: &str,
    name: &str,
    query: &Query,
    request: Request,
) -> Result<Response, ApiError> {
    let pod = read_core(state, "pods", Some(ns), name).await?;
    let opts = LogOptions::parse(query, name)?;
    let container = choose_container(&pod, opts.container.as_deref())?;
    // A pod not yet on a node has no log: kube-apiserver answers an empty
    // one.
    let Some(node) = node_of(state, &pod).await? else {
        return Ok(text(String::new()));
    };
    if target_of(&node)? == NodeTarget::Simulated {
        let started = started(&pod, &container);
        let image = image(&pod, &container);
        let log = SimulatedLog {
            node: node_name(&node),
            namespace: ns,
            pod: name,
            container: &container,
            image: &image,
            started: &started,
            tail_lines: opts.tail_lines.and_then(|n| u64::try_from(n).ok()),
            timestamps: opts.timestamps,
            limit_bytes: opts.limit_bytes.and_then(|n| u64::try_from(n).ok()),
        };
        return Ok(text(log.text()));
    }
    let path = opts.node_path(ns, name, &container);
    state.nodes.forward(&node, &path, request, "logs").await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(q: &str) -> Result<LogOptions, ApiError> {
        LogOptions::parse(&Query::parse(Some(q)), "p")
    }

    #[test]
    fn options_are_checked_and_passed_on() {
        let o =
            parse("container=c&follow=true&tailLines=10&timestamps=1&limitBytes=5&sinceSeconds=60")
                .expect("valid");
        assert_eq!(
            o.node_path("ns", "p", "c"),
            "/containerLogs/ns/p/c?follow=true&timestamps=true&sinceSeconds=60&tailLines=10&limitBytes=5"
        );
        let e = parse("tailLines=-1").expect_err("negative");
        assert_eq!((e.code(), e.reason()), (422, "Invalid"));
        assert!(e.message().contains("tailLines"), "{}", e.message());
        assert_eq!(parse("limitBytes=0").expect_err("zero").code(), 422);
        assert_eq!(parse("sinceSeconds=0").expect_err("zero").code(), 422);
        assert_eq!(
            parse("sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z")
                .expect_err("both")
                .code(),
            422
        );
        assert_eq!(parse("tailLines=ten").expect_err("nan").code(), 400);
        assert_eq!(parse("sinceTime=yesterday").expect_err("time").code(), 400);
        assert!(parse("sinceTime=2026-01-01T00:00:00.5%2B01:00").is_ok());
    }
}
