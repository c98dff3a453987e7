//! UTC timestamps for log lines (RFC 3339 with nanoseconds, as the CRI log
//! format wants) and rotated log names (`20060102-150405`, as the
//! kubelet's log manager), without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// Year, month, day from days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u32,
}

fn parts(t: SystemTime) -> Parts {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        nanos: d.subsec_nanos(),
    }
}

/// `2026-12-07T15:04:05.123456789Z`.
pub fn rfc3339_nano(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:09}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.nanos
    )
}

/// `20261207-150405`, the suffix of a rotated log file.
pub fn rotation_suffix(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}{:02}{:02}-{:02}{:02}{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn formats_known_instants() {
        let t = UNIX_EPOCH + Duration::new(1_796_655_845, 5);
        assert_eq!(rfc3339_nano(t), "2026-12-07T15:04:05.000000005Z");
        assert_eq!(rotation_suffix(t), "20261207-150405");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00.000000000Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rotation_suffix(leap), "20000229-000000");
    }
}
