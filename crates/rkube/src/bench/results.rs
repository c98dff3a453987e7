//! Measurements of one backend, as `KEY VALUE` pairs.
//!
//! A child process prints them on stdout as `rkube-bench-result KEY VALUE`
//! lines and the parent parses them back, so the embedded workload can run
//! in its own process (for a clean peak RSS) and be reported beside etcd's.
//! Keys are dotted (`put.c64.rate`); a key ending in `.error` holds the
//! error that ended a phase.

use std::collections::BTreeMap;
use std::fmt::Display;

/// The line prefix of a result printed by a child process.
pub const RESULT_PREFIX: &str = "rkube-bench-result";

/// Named values measured on one backend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Measurements {
    values: BTreeMap<String, String>,
}

impl Measurements {
    /// Record a value (one line of text; newlines become spaces).
    pub fn set(&mut self, key: impl Into<String>, value: impl Display) {
        let value = value.to_string().replace(['\n', '\r'], " ");
        self.values.insert(key.into(), value);
    }

    /// Record that a phase failed.
    pub fn set_error(&mut self, phase: &str, error: impl Display) {
        self.set(format!("{phase}.error"), error);
    }

    /// A numeric value.
    pub fn num(&self, key: &str) -> Option<f64> {
        self.values.get(key)?.parse().ok()
    }

    /// A value as text.
    pub fn text(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Every `(phase, error)` recorded.
    pub fn errors(&self) -> Vec<(&str, &str)> {
        self.values
            .iter()
            .filter_map(|(k, v)| Some((k.strip_suffix(".error")?, v.as_str())))
            .collect()
    }

    /// The lines a child prints.
    pub fn to_lines(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{RESULT_PREFIX} {k} {v}\n"))
            .collect()
    }

    /// Take in one line printed by a child; other lines are ignored.
    /// Returns whether the line was a result.
    pub fn parse_line(&mut self, line: &str) -> bool {
        let Some(rest) = line
            .strip_prefix(RESULT_PREFIX)
            .and_then(|r| r.strip_prefix(' '))
        else {
            return false;
        };
        let (key, value) = rest.split_once(' ').unwrap_or((rest, ""));
        if key.is_empty() {
            return false;
        }
        self.values.insert(key.to_string(), value.to_string());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_lines() {
        let mut m = Measurements::default();
        m.set("put.c1.rate", 1234.5);
        m.set_error("range", "timed out\nafter 5s");
        let mut back = Measurements::default();
        for line in m.to_lines().lines() {
            assert!(back.parse_line(line));
        }
        assert!(!back.parse_line("some log line"));
        assert_eq!(back, m);
        assert_eq!(back.num("put.c1.rate"), Some(1234.5));
        assert_eq!(back.errors(), vec![("range", "timed out after 5s")]);
    }
}
