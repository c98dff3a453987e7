//! The Prometheus text format (0.0.4) as the kubelet's Go client writes
//! it: families sorted by name, each with `# HELP` (stability in
//! brackets) and `# TYPE`, samples sorted by their labels (sorted by
//! name), numbers as Go's `%g` shortest form, optional timestamps in
//! milliseconds. Written by hand: `prometheus-client` has no per-sample
//! timestamps, which the kubelet's resource metrics carry.

use std::fmt::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// The text format's content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One sample: its labels, value and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
    pub time: Option<SystemTime>,
}

/// A metric family.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    pub name: &'static str,
    /// The help text with its stability (`[STABLE] ...`).
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

impl Family {
    pub fn new(name: &'static str, help: &'static str, kind: Kind) -> Family {
        Family {
            name,
            help,
            kind,
            samples: Vec::new(),
        }
    }

    /// Add a sample.
    pub fn push(
        &mut self,
        labels: Vec<(&'static str, String)>,
        value: f64,
        time: Option<SystemTime>,
    ) {
        self.samples.push(Sample {
            labels,
            value,
            time,
        });
    }
}

/// A number as Go's `strconv.FormatFloat(v, 'g', -1, 64)`: the shortest
/// digits, in `%e` form when the exponent is below -4 or at least 6.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if v == 0.0 {
        return "0".to_string();
    }
    // Rust's `{:e}` gives the shortest round-trip digits and the exponent.
    let e = format!("{v:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let negative = mantissa.starts_with('-');
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let n = digits.len() as i32;
    if exp >= 0 {
        let int = (exp + 1) as usize;
        if n <= exp + 1 {
            out.push_str(&digits);
            out.push_str(&"0".repeat(int - digits.len()));
        } else {
            out.push_str(&digits[..int]);
            out.push('.');
            out.push_str(&digits[int..]);
        }
    } else {
        out.push_str("0.");
        out.push_str(&"0".repeat((-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn millis(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis()
}

/// The families as text.
pub fn render(mut families: Vec<Family>) -> String {
    families.sort_by(|a, b| a.name.cmp(b.name));
    let mut out = String::new();
    for mut f in families {
        let _ = writeln!(out, "# HELP {} {}", f.name, f.help);
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# TYPE {} {kind}", f.name);
        for s in &mut f.samples {
            s.labels.sort_by(|a, b| a.0.cmp(b.0));
        }
        f.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
        for s in &f.samples {
            out.push_str(f.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = write!(out, " {}", go_float(s.value));
            if let Some(t) = s.time {
                let _ = write!(out, " {}", millis(t));
            }
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_print_as_go_does() {
        for (v, want) in [
            (0.0, "0"),
            (1.0, "1"),
            (123456.0, "123456"),
            (1234567.0, "1.234567e+06"),
            (16_000_000.0, "1.6e+07"),
            (1_678_886_567.5, "1.6788865675e+09"),
            (11.66, "11.66"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(go_float(v), want, "{v}");
        }
    }

    #[test]
    fn families_sort_and_print_with_timestamps() {
        let t = UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        let mut b = Family::new("b_total", "[STABLE] B.", Kind::Counter);
        b.push(
            vec![("pod", "p2".into()), ("container", "c".into())],
            2.0,
            Some(t),
        );
        b.push(
            vec![("pod", "p1".into()), ("container", "c\"".into())],
            1.5,
            Some(t),
        );
        let mut a = Family::new("a", "[ALPHA] A.", Kind::Gauge);
        a.push(vec![], 0.0, None);
        assert_eq!(
            render(vec![b, a]),
            "# HELP a [ALPHA] A.\n# TYPE a gauge\na 0\n\
             # HELP b_total [STABLE] B.\n# TYPE b_total counter\n\
             b_total{container=\"c\",pod=\"p2\"} 2 1700000000123\n\
             b_total{container=\"c\\\"\",pod=\"p1\"} 1.5 1700000000123\n"
        );
    }
}
