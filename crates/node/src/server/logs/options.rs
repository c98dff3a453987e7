//! The query of `GET /containerLogs/...` as the kubelet reads it
//! (`PodLogOptions`): `follow`, `previous`, `sinceSeconds`, `sinceTime`,
//! `timestamps`, `tailLines`, `limitBytes`, `stream`, with its validation
//! messages.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jiff::Timestamp;

use crate::server::error::NodeApiError;

/// Which of the container's streams to show (`stream`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamFilter {
    #[default]
    All,
    Stdout,
    Stderr,
}

/// The options of one log request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub follow: bool,
    pub previous: bool,
    /// Lines before this time are left out (`sinceTime`, or now minus
    /// `sinceSeconds`).
    pub since: Option<Timestamp>,
    pub timestamps: bool,
    /// Only the last lines (`tailLines`).
    pub tail_lines: Option<u64>,
    /// At most this many bytes of output (`limitBytes`).
    pub limit_bytes: Option<u64>,
    pub stream: StreamFilter,
}

/// A query boolean as Kubernetes converts it: absent is false; `0`, `f`,
/// `false`, `n`, `no` (any case) are false; anything else is true.
fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    match query.get(name) {
        None => false,
        Some(v) => !["0", "f", "false", "n", "no"]
            .iter()
            .any(|f| v.eq_ignore_ascii_case(f)),
    }
}

fn integer(query: &HashMap<String, String>, name: &str) -> Result<Option<i64>, NodeApiError> {
    query
        .get(name)
        .map(|v| {
            v.trim().parse::<i64>().map_err(|_| {
                NodeApiError::BadRequest(format!("{name}: invalid value {v:?}: not an integer"))
            })
        })
        .transpose()
}

fn positive(name: &str, v: i64, zero_ok: bool) -> Result<u64, NodeApiError> {
    if v > 0 || (zero_ok && v == 0) {
        return Ok(v as u64);
    }
    let rule = if zero_ok {
        "must be greater than or equal to 0"
    } else {
        "must be greater than 0"
    };
    Err(NodeApiError::BadRequest(format!(
        "{name}: Invalid value: {v}: {rule}"
    )))
}

/// A time as a timestamp.
pub fn timestamp_of(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp::new(d.as_secs() as i64, d.subsec_nanos() as i32).unwrap_or(Timestamp::UNIX_EPOCH)
}

impl LogOptions {
    /// The options of `query`, checked as the kubelet checks them; `now`
    /// is the time `sinceSeconds` counts back from.
    pub fn parse(query: &HashMap<String, String>, now: SystemTime) -> Result<Self, NodeApiError> {
        let since_seconds = integer(query, "sinceSeconds")?
            .map(|v| positive("sinceSeconds", v, false))
            .transpose()?;
        let since_time = query
            .get("sinceTime")
            .filter(|v| !v.is_empty())
            .map(|v| {
                Timestamp::from_str(v).map_err(|_| {
                    NodeApiError::BadRequest(format!(
                        "sinceTime: invalid value {v:?}: not an RFC 3339 time"
                    ))
                })
            })
            .transpose()?;
        let since = match (since_seconds, since_time) {
            (Some(_), Some(_)) => {
                return Err(NodeApiError::BadRequest(
                    "at most one of sinceTime or sinceSeconds may be specified".to_string(),
                ))
            }
            (Some(s), None) => Some(timestamp_of(
                now.checked_sub(Duration::from_secs(s))
                    .unwrap_or(UNIX_EPOCH),
            )),
            (None, t) => t,
        };
        let stream = match query.get("stream").map(String::as_str) {
            None | Some("") | Some("All") => StreamFilter::All,
            Some("Stdout") => StreamFilter::Stdout,
            Some("Stderr") => StreamFilter::Stderr,
            Some(other) => {
                return Err(NodeApiError::BadRequest(format!(
                    "stream: Unsupported value: {other:?}: supported values: \"All\", \"Stdout\", \"Stderr\""
                )))
            }
        };
        let tail_lines = integer(query, "tailLines")?
            .map(|v| positive("tailLines", v, true))
            .transpose()?;
        if tail_lines.is_some() && stream != StreamFilter::All {
            return Err(NodeApiError::BadRequest(
                "tailLines: Forbidden: tailLines is not supported when specifying a stream"
                    .to_string(),
            ));
        }
        let limit_bytes = integer(query, "limitBytes")?
            .map(|v| positive("limitBytes", v, false))
            .transpose()?;
        Ok(LogOptions {
            follow: flag(query, "follow"),
            previous: flag(query, "previous"),
            since,
            timestamps: flag(query, "timestamps"),
            tail_lines,
            limit_bytes,
            stream,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn options_parse_and_validate_as_the_kubelet() {
        let now = UNIX_EPOCH + Duration::from_secs(1000);
        let o = LogOptions::parse(
            &q(&[
                ("follow", "true"),
                ("timestamps", "1"),
                ("previous", "false"),
                ("tailLines", "0"),
                ("limitBytes", "5"),
                ("sinceSeconds", "10"),
            ]),
            now,
        )
        .expect("valid");
        assert!(o.follow && o.timestamps && !o.previous);
        assert_eq!(o.tail_lines, Some(0));
        assert_eq!(o.limit_bytes, Some(5));
        assert_eq!(o.since, Some(Timestamp::new(990, 0).expect("ts")));
        let o = LogOptions::parse(&q(&[("sinceTime", "2026-12-07T10:00:00+01:00")]), now)
            .expect("valid");
        assert_eq!(o.since.expect("since").to_string(), "2026-12-07T09:00:00Z");
        for bad in [
            &[("sinceSeconds", "0")][..],
            &[("limitBytes", "0")],
            &[("tailLines", "-1")],
            &[("tailLines", "x")],
            &[("sinceTime", "yesterday")],
            &[("sinceTime", "2026-12-07T10:00:00Z"), ("sinceSeconds", "5")],
            &[("stream", "Both")],
            &[("stream", "Stdout"), ("tailLines", "3")],
        ] {
            let err = LogOptions::parse(&q(bad), now).expect_err("invalid");
            assert!(matches!(err, NodeApiError::BadRequest(_)), "{bad:?}: {err}");
        }
    }
}
