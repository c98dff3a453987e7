//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`), as
//! thousandths of a unit, for sums and comparisons (limits, quotas).

/// Parses a quantity into thousandths (`"500m"` → 500, `"1Ki"` → 1,024,000).
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (mantissa, exp10, mult): (&str, i32, i128) = match suffix {
        "" => (num, 0, 1),
        "n" => (num, -9, 1),
        "u" => (num, -6, 1),
        "m" => (num, -3, 1),
        "k" => (num, 3, 1),
        "M" => (num, 6, 1),
        "G" => (num, 9, 1),
        "T" => (num, 12, 1),
        "P" => (num, 15, 1),
        "E" => (num, 18, 1),
        "Ki" => (num, 0, 1 << 10),
        "Mi" => (num, 0, 1 << 20),
        "Gi" => (num, 0, 1 << 30),
        "Ti" => (num, 0, 1 << 40),
        "Pi" => (num, 0, 1 << 50),
        "Ei" => (num, 0, 1 << 60),
        other => {
            let e = other
                .strip_prefix('e')
                .or_else(|| other.strip_prefix('E'))?;
            (num, e.parse().ok()?, 1)
        }
    };
    let negative = mantissa.starts_with('-');
    let digits = mantissa.trim_start_matches(['+', '-']);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    // value = int.frac × 10^exp10 × mult, in thousandths.
    let all: i128 = format!("{int}{frac}").parse().unwrap_or(0);
    let scale = exp10 + 3 - frac.len() as i32;
    let v = if scale >= 0 {
        all.checked_mul(10i128.checked_pow(scale as u32)?)?
    } else {
        // Round up, as Kubernetes does for sub-milli precision.
        let d = 10i128.checked_pow((-scale) as u32)?;
        (all + d - 1) / d
    };
    let v = v.checked_mul(mult)?;
    Some(if negative { -v } else { v })
}

/// Thousandths as a short quantity (`1`, `500m`).
pub fn format_milli(v: i128) -> String {
    if v % 1000 == 0 {
        (v / 1000).to_string()
    } else {
        format!("{v}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_to_thousandths() {
        for (s, v) in [
            ("1", 1000),
            ("500m", 500),
            ("0.5", 500),
            ("1.5", 1500),
            ("2k", 2_000_000),
            ("1Ki", 1_024_000),
            ("64Mi", 64 * 1024 * 1024 * 1000),
            ("1e3", 1_000_000),
            ("100n", 1),
            ("x1", -1),
        ] {
            if v < 0 {
                assert_eq!(parse_milli(s), None, "{s}");
            } else {
                assert_eq!(parse_milli(s), Some(v), "{s}");
            }
        }
        assert_eq!(parse_milli("abc"), None);
        assert_eq!(format_milli(1500), "1500m");
        assert_eq!(format_milli(2000), "2");
    }
}
