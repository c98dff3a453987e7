//! Durations on the command line (`500ms`, `5s`, `2m`) and in the table.

use std::time::Duration;

/// Parse `250ms`, `5s`, `1.5s`, `2m` or a bare number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number
        .parse()
        .map_err(|_| format!("expected a duration such as 500ms, 5s or 2m (got {value:?})"))?;
    let seconds = match unit.trim() {
        "" | "s" => number,
        "ms" => number / 1e3,
        "us" | "µs" => number / 1e6,
        "m" | "min" => number * 60.0,
        other => return Err(format!("unknown duration unit {other:?}: use ms, s or m")),
    };
    if !seconds.is_finite() || !(0.0..=86_400.0).contains(&seconds) {
        return Err(format!("duration out of range: {value:?}"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A latency or a time for the table: `850 µs`, `4.20 ms`, `1.25 s`.
pub fn human_seconds(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.0} µs", seconds * 1e6)
    } else if seconds < 1.0 {
        format!("{:.2} ms", seconds * 1e3)
    } else {
        format!("{seconds:.2} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("300ms"), Ok(Duration::from_millis(300)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn formats_by_magnitude() {
        assert_eq!(human_seconds(0.000_85), "850 µs");
        assert_eq!(human_seconds(0.0042), "4.20 ms");
        assert_eq!(human_seconds(1.25), "1.25 s");
    }
}
