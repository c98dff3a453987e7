//! The raw query of a connect request, read as kube-apiserver's
//! parameter codec reads it (repeated keys kept: `command=sh&command=-c`),
//! and the query sent on to the node.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rkube_apimachinery::ApiError;

/// What stays unescaped in a query value (Go's `url.QueryEscape`).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The decoded pairs of a raw query.
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let decode = |s: &str| {
            let s = s.replace('+', " ");
            percent_decode_str(&s).decode_utf8_lossy().into_owned()
        };
        Query(
            raw.unwrap_or("")
                .split('&')
                .filter(|p| !p.is_empty())
                .map(|p| match p.split_once('=') {
                    Some((k, v)) => (decode(k), decode(v)),
                    None => (decode(p), String::new()),
                })
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// A boolean (Go's `strconv.ParseBool`); absent or empty is false.
    pub fn bool(&self, key: &str) -> Result<bool, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(false),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(v) => Err(ApiError::bad_request(format!(
                "{key}: invalid boolean value {v:?}"
            ))),
        }
    }

    /// An integer, if given.
    pub fn int(&self, key: &str) -> Result<Option<i64>, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("{key}: invalid integer value {v:?}"))),
        }
    }
}

/// Builds the query sent to the node.
#[derive(Default)]
pub struct Encoder(String);

impl Encoder {
    pub fn add(&mut self, key: &str, value: &str) {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        self.0.push_str(key);
        self.0.push('=');
        self.0.extend(utf8_percent_encode(value, QUERY_VALUE));
    }

    /// `path` with the query, if any.
    pub fn finish(self, path: &str) -> String {
        if self.0.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", self.0)
        }
    }
}

/// A path segment, escaped.
pub fn segment(s: &str) -> String {
    utf8_percent_encode(s, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_booleans() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo+a%26b&stdin=1&tty=false",
        ));
        assert_eq!(q.all("command"), ["sh", "-c", "echo a&b"]);
        assert!(q.bool("stdin").expect("bool"));
        assert!(!q.bool("tty").expect("bool"));
        assert!(!q.bool("stdout").expect("absent"));
        assert_eq!(
            Query::parse(Some("x=yes"))
                .bool("x")
                .expect_err("bad")
                .code(),
            400
        );
        let mut e = Encoder::default();
        e.add("command", "echo a&b");
        e.add("stdout", "1");
        assert_eq!(e.finish("/exec"), "/exec?command=echo%20a%26b&stdout=1");
    }
}
