//! Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e3`): whether
//! a string is one, as kube-apiserver's `resource.ParseQuantity` decides
//! (`check`), and its value in thousandths of a unit, for sums and
//! comparisons (limits, quotas).

/// Why a string is not a quantity: the texts of kube-apiserver's
/// `resource.ErrFormatWrong` and `resource.ErrSuffix`, which it answers
/// with when a body holds one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    /// Not a number followed by a suffix (`lots`, `1x`, ``).
    #[error(
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )]
    Format,
    /// A suffix made of suffix characters that is no unit or exponent
    /// (`1kk`, `1e`, `2Ki3`).
    #[error("unable to parse quantity's suffix")]
    Suffix,
}

/// Checks `s` as `resource.ParseQuantity` reads it: an optional sign,
/// digits with at most one `.`, then a suffix that is a decimal
/// (`n u m k M G T P E`) or binary (`Ki … Ei`) unit or an exponent
/// (`e3`, `E-2`). As there, a number may have no digits (`.`, `-` are 0).
pub fn check(s: &str) -> Result<(), QuantityError> {
    if s.is_empty() {
        return Err(QuantityError::Format);
    }
    let b = s.as_bytes();
    let mut pos = usize::from(matches!(b[0], b'+' | b'-'));
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < b.len() && b[pos] == b'.' {
        pos += 1;
        while pos < b.len() && b[pos].is_ascii_digit() {
            pos += 1;
        }
    }
    let suffix_start = pos;
    while pos < b.len() && b"eEinumkKMGTP".contains(&b[pos]) {
        pos += 1;
    }
    if pos < b.len() && matches!(b[pos], b'+' | b'-') {
        pos += 1;
    }
    while pos < b.len() && b[pos].is_ascii_digit() {
        pos += 1;
    }
    if pos < b.len() {
        return Err(QuantityError::Format);
    }
    let suffix = &s[suffix_start..];
    let known = matches!(
        suffix,
        "" | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
    );
    let exponent =
        suffix.len() > 1 && suffix.starts_with(['e', 'E']) && suffix[1..].parse::<i64>().is_ok();
    if known || exponent {
        Ok(())
    } else {
        Err(QuantityError::Suffix)
    }
}

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

    #[test]
    fn quantities_are_checked_as_kube_apiserver_parses_them() {
        for good in [
            "0", "1", "500m", "0.5", ".5", "1.", "+1", "-1", "1.5Gi", "64Mi", "2k", "1e3", "1E-2",
            "1e+3", "100n", "3u", "1Ei", "1E", "-", ".", "Gi",
        ] {
            assert_eq!(check(good), Ok(()), "{good}");
        }
        for bad in ["", "lots", "abc", "1x", "1 ", " 1", "1Mx", "1.2.3", "1e3x"] {
            assert_eq!(check(bad), Err(QuantityError::Format), "{bad:?}");
        }
        for bad in ["1kk", "1e", "1Ki3", "1ee", "1e+", "1iM", "--1"] {
            assert_eq!(check(bad), Err(QuantityError::Suffix), "{bad:?}");
        }
        assert_eq!(
            QuantityError::Format.to_string(),
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
        );
    }
}
