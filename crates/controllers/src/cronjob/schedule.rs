//! CronJob schedules, read as kube-controller-manager reads `spec.schedule`
//! (robfig/cron v3's standard parser), and time zones for `spec.timeZone`.
//!
//! - five fields: minute (0-59), hour (0-23), day of month (1-31), month
//!   (1-12 or `jan`-`dec`), day of week (0-6 or `sun`-`sat`); each a list
//!   of `*`, `?`, `N`, `N-M`, with an optional `/step` (`N/step` means
//!   `N-max/step`); names are case-insensitive;
//! - the descriptors `@yearly` (`@annually`), `@monthly`, `@weekly`,
//!   `@daily` (`@midnight`) and `@hourly`; not `@every`, nor a `TZ=` or
//!   `CRON_TZ=` prefix (Kubernetes refuses both);
//! - days match as in cron: if either day field is a bare `*` (or `?`),
//!   both must match, otherwise either may;
//! - the next time is searched in civil time of the schedule's zone up to
//!   five years ahead; a local time skipped by a DST change runs at the
//!   first instant after the gap.

use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

use k8s_openapi::jiff::civil::DateTime;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Span, Timestamp};

/// Set on a field written as a bare `*` or `?` (no step).
const STAR: u64 = 1 << 63;

/// A schedule that cannot be read, with robfig/cron's wording.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
/// Names start at the minimum: `jan` is 1.
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

fn err(msg: impl Into<String>) -> ScheduleError {
    ScheduleError(msg.into())
}

impl Schedule {
    pub fn parse(spec: &str) -> Result<Schedule, ScheduleError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(err("empty spec string"));
        }
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err(err(
                "CRON_TZ or TZ used in schedule is not supported, use spec.timeZone instead",
            ));
        }
        if let Some(d) = spec.strip_prefix('@') {
            let fields = match d.to_ascii_lowercase().as_str() {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => return Err(err(format!("unrecognized descriptor: {spec}"))),
            };
            return Schedule::parse(fields);
        }
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                fields.len()
            )));
        }
        Ok(Schedule {
            minute: field(fields[0], &MINUTE)?,
            hour: field(fields[1], &HOUR)?,
            dom: field(fields[2], &DOM)?,
            month: field(fields[3], &MONTH)?,
            dow: field(fields[4], &DOW)?,
        })
    }

    fn day_matches(&self, dt: DateTime) -> bool {
        let dom = self.dom & (1 << dt.day()) != 0;
        let dow = self.dow & (1 << dt.weekday().to_sunday_zero_offset()) != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first time strictly after `after` the schedule fires, in `tz`;
    /// `None` if there is none in the next five years (`0 0 30 2 *`).
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(after);
        let mut dt = DateTime::new(
            local.year(),
            local.month(),
            local.day(),
            local.hour(),
            local.minute(),
            0,
            0,
        )
        .ok()?
        .checked_add(Span::new().minutes(1))
        .ok()?;
        let limit = dt.year() + 5;
        loop {
            if dt.year() > limit {
                return None;
            }
            dt = if self.month & (1 << dt.month()) == 0 {
                dt.first_of_month()
                    .date()
                    .checked_add(Span::new().months(1))
                    .ok()?
                    .at(0, 0, 0, 0)
            } else if !self.day_matches(dt) {
                dt.date().tomorrow().ok()?.at(0, 0, 0, 0)
            } else if self.hour & (1 << dt.hour()) == 0 {
                dt.date()
                    .at(dt.hour(), 0, 0, 0)
                    .checked_add(Span::new().hours(1))
                    .ok()?
            } else if self.minute & (1 << dt.minute()) == 0 {
                dt.checked_add(Span::new().minutes(1)).ok()?
            } else {
                let at = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                if at > after {
                    return Some(at);
                }
                dt.checked_add(Span::new().minutes(1)).ok()?
            };
        }
    }
}

/// One field: a comma-separated list of ranges.
fn field(s: &str, b: &Bounds) -> Result<u64, ScheduleError> {
    s.split(',')
        .try_fold(0u64, |bits, part| Ok(bits | range(part, b)?))
}

fn range(expr: &str, b: &Bounds) -> Result<u64, ScheduleError> {
    let mut range_and_step = expr.split('/');
    let range = range_and_step.next().unwrap_or_default();
    let step = range_and_step.next();
    if range_and_step.next().is_some() {
        return Err(err(format!("too many slashes: {expr}")));
    }
    let low_high: Vec<&str> = range.split('-').collect();
    let single = low_high.len() == 1;
    let (start, mut end, mut extra) = if low_high[0] == "*" || low_high[0] == "?" {
        (b.min, b.max, STAR)
    } else {
        let start = int_or_name(low_high[0], b)?;
        let end = match low_high.len() {
            1 => start,
            2 => int_or_name(low_high[1], b)?,
            _ => return Err(err(format!("too many hyphens: {expr}"))),
        };
        (start, end, 0)
    };
    let step = match step {
        None => 1,
        Some(s) => {
            let step = int(s)?;
            if single {
                end = b.max;
            }
            if step > 1 {
                extra = 0;
            }
            step
        }
    };
    if start < b.min {
        return Err(err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        )));
    }
    if end > b.max {
        return Err(err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        )));
    }
    if start > end {
        return Err(err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        )));
    }
    if step == 0 {
        return Err(err(format!(
            "step of range should be a positive number: {expr}"
        )));
    }
    Ok((start..=end)
        .step_by(step as usize)
        .fold(extra, |bits, i| bits | (1 << i)))
}

fn int_or_name(s: &str, b: &Bounds) -> Result<u32, ScheduleError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.min + i as u32);
    }
    int(s)
}

fn int(s: &str) -> Result<u32, ScheduleError> {
    let n: i64 = s
        .parse()
        .map_err(|_| err(format!("failed to parse int from {s}")))?;
    if n < 0 {
        return Err(err(format!("negative number ({n}) not allowed: {s}")));
    }
    u32::try_from(n).map_err(|_| err(format!("failed to parse int from {s}")))
}

/// Where time zone files are looked for (`TZDIR` first, as Go does).
const ZONEINFO_DIRS: [&str; 3] = [
    "/usr/share/zoneinfo",
    "/usr/lib/zoneinfo",
    "/usr/share/lib/zoneinfo",
];

/// Zones read so far (the tz database is read once per zone).
static ZONES: Mutex<BTreeMap<String, TimeZone>> = Mutex::new(BTreeMap::new());

/// The IANA time zone `name` (`Europe/Paris`) from the system's tz
/// database; `None` if unknown.
pub fn time_zone(name: &str) -> Option<TimeZone> {
    if name == "UTC" || name == "Etc/UTC" {
        return Some(TimeZone::UTC);
    }
    if let Some(tz) = ZONES.lock().unwrap_or_else(|e| e.into_inner()).get(name) {
        return Some(tz.clone());
    }
    let tz = read_time_zone(name)?;
    ZONES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(name.to_string(), tz.clone());
    Some(tz)
}

fn read_time_zone(name: &str) -> Option<TimeZone> {
    let valid = !name.is_empty()
        && !name.starts_with('/')
        && name
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/_-+".contains(c));
    if !valid {
        return None;
    }
    let tzdir = std::env::var("TZDIR").ok();
    let found = tzdir
        .iter()
        .map(String::as_str)
        .chain(ZONEINFO_DIRS)
        .find_map(|dir| {
            let data = std::fs::read(std::path::Path::new(dir).join(name)).ok()?;
            TimeZone::tzif(name, &data).ok()
        });
    found
}

/// The controller's own time zone, used when a CronJob has no
/// `timeZone` (as kube-controller-manager uses its local time): `TZ`,
/// else `/etc/localtime`, else UTC.
pub fn local_time_zone() -> TimeZone {
    static LOCAL: OnceLock<TimeZone> = OnceLock::new();
    LOCAL.get_or_init(read_local_time_zone).clone()
}

fn read_local_time_zone() -> TimeZone {
    if let Ok(name) = std::env::var("TZ") {
        let name = name.trim_start_matches(':');
        if name.is_empty() {
            return TimeZone::UTC;
        }
        if let Some(tz) = time_zone(name) {
            return tz;
        }
    }
    std::fs::read("/etc/localtime")
        .ok()
        .and_then(|data| TimeZone::tzif("Local", &data).ok())
        .unwrap_or(TimeZone::UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn next(spec: &str, after: &str) -> Option<String> {
        Schedule::parse(spec)
            .expect("schedule")
            .next(ts(after), &TimeZone::UTC)
            .map(|t| t.to_string())
    }

    #[test]
    fn every_minute_fires_at_the_next_whole_minute() {
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:00Z").as_deref(),
            Some("2026-03-01T10:01:00Z")
        );
        assert_eq!(
            next("* * * * *", "2026-03-01T10:00:59.9Z").as_deref(),
            Some("2026-03-01T10:01:00Z")
        );
        assert_eq!(
            next("* * * * *", "2026-12-31T23:59:30Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
    }

    #[test]
    fn ranges_steps_lists_and_names() {
        assert_eq!(
            next("*/15 * * * *", "2026-03-01T10:16:00Z").as_deref(),
            Some("2026-03-01T10:30:00Z")
        );
        assert_eq!(
            next("5/20 * * * *", "2026-03-01T10:46:00Z").as_deref(),
            Some("2026-03-01T11:05:00Z")
        );
        assert_eq!(
            next("0 9-17/4 * * *", "2026-03-01T13:00:00Z").as_deref(),
            Some("2026-03-01T17:00:00Z")
        );
        assert_eq!(
            next("30 6 * * mon,FRI", "2026-03-01T00:00:00Z").as_deref(),
            Some("2026-03-02T06:30:00Z")
        );
        assert_eq!(
            next("0 0 1 jun *", "2026-03-01T00:00:00Z").as_deref(),
            Some("2026-06-01T00:00:00Z")
        );
        assert_eq!(
            next("0 0 29 2 *", "2026-03-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(next("0 0 30 2 *", "2026-03-01T00:00:00Z"), None);
    }

    #[test]
    fn day_of_month_and_week_are_or_unless_one_is_a_star() {
        // 2026-03-01 is a Sunday. Both restricted: the 15th OR a Monday.
        assert_eq!(
            next("0 0 15 * 1", "2026-03-01T00:00:00Z").as_deref(),
            Some("2026-03-02T00:00:00Z")
        );
        // Day of week a star: only the 15th.
        assert_eq!(
            next("0 0 15 * *", "2026-03-01T00:00:00Z").as_deref(),
            Some("2026-03-15T00:00:00Z")
        );
        // `*/1` keeps the star, `*/2` does not.
        assert_eq!(
            next("0 0 15 * */1", "2026-03-01T00:00:00Z").as_deref(),
            Some("2026-03-15T00:00:00Z")
        );
        assert_eq!(
            next("0 0 15 * */2", "2026-03-01T00:00:00Z").as_deref(),
            Some("2026-03-03T00:00:00Z")
        );
    }

    #[test]
    fn descriptors() {
        assert_eq!(Schedule::parse("@daily"), Schedule::parse("0 0 * * *"));
        assert_eq!(
            next("@hourly", "2026-03-01T10:20:00Z").as_deref(),
            Some("2026-03-01T11:00:00Z")
        );
        assert_eq!(
            next("@weekly", "2026-03-01T10:20:00Z").as_deref(),
            Some("2026-03-08T00:00:00Z")
        );
        assert_eq!(
            next("@yearly", "2026-03-01T10:20:00Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(
            next("@monthly", "2026-03-01T10:20:00Z").as_deref(),
            Some("2026-04-01T00:00:00Z")
        );
    }

    #[test]
    fn bad_schedules_are_refused() {
        for (spec, msg) in [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: * * * *"),
            ("@every 5m", "unrecognized descriptor: @every 5m"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-2 * * * *",
                "beginning of range (5) beyond end of range (2): 5-2",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("*/2/2 * * * *", "too many slashes: */2/2"),
            ("x * * * *", "failed to parse int from x"),
        ] {
            assert_eq!(
                Schedule::parse(spec),
                Err(ScheduleError(msg.into())),
                "{spec}"
            );
        }
        assert!(Schedule::parse("TZ=UTC * * * * *").is_err());
    }

    #[test]
    fn time_zones_shift_the_schedule() {
        let Some(paris) = time_zone("Europe/Paris") else {
            // No tz database on this machine.
            return;
        };
        let s = Schedule::parse("0 9 * * *").expect("schedule");
        // Winter: UTC+1.
        assert_eq!(
            s.next(ts("2026-01-10T00:00:00Z"), &paris)
                .map(|t| t.to_string()),
            Some("2026-01-10T08:00:00Z".into())
        );
        // Summer: UTC+2.
        assert_eq!(
            s.next(ts("2026-07-10T00:00:00Z"), &paris)
                .map(|t| t.to_string()),
            Some("2026-07-10T07:00:00Z".into())
        );
        // 02:30 does not exist on 2026-03-29 in Paris: runs at 03:30 CEST.
        let gap = Schedule::parse("30 2 * * *").expect("schedule");
        assert_eq!(
            gap.next(ts("2026-03-28T12:00:00Z"), &paris)
                .map(|t| t.to_string()),
            Some("2026-03-29T01:30:00Z".into())
        );
        assert!(time_zone("Not/AZone").is_none());
        assert!(time_zone("../etc/passwd").is_none());
    }
}
