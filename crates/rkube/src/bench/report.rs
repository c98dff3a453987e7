//! The table `rkube bench store` prints: one row per measurement, the two
//! backends side by side, a ratio, and the targets.
//!
//! The ratio is always "how many times better the embedded store is":
//! embedded/etcd for rates, etcd/embedded for latencies, times and memory.

use super::duration::human_seconds;
use super::fsync_probe::APPEND_BYTES;
use super::memory::target_bytes;
use super::plan::Plan;
use super::proc_status::human_bytes;
use super::results::Measurements;
use super::stats::Percentiles;

/// What one backend (or the memory child) produced: measurements, an error
/// that stopped it, or nothing because it was not run.
pub enum Outcome {
    Ran(Measurements),
    Failed(String),
    Skipped,
}

impl Outcome {
    fn measurements(&self) -> Option<&Measurements> {
        match self {
            Outcome::Ran(m) => Some(m),
            _ => None,
        }
    }
}

/// Everything the table is made of.
pub struct Report<'a> {
    pub plan: &'a Plan,
    pub fsync: Result<Percentiles, String>,
    pub embedded: Outcome,
    pub etcd: Outcome,
    pub etcd_version: Option<String>,
    pub memory: Outcome,
}

/// Whether a row is better high (rates) or low (latencies, times, bytes).
#[derive(Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

struct Row {
    metric: String,
    embedded: String,
    etcd: String,
    ratio: String,
    target: String,
    met: String,
}

impl Report<'_> {
    /// Every phase that failed, as `backend phase: error`.
    pub fn errors(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(err) = &self.fsync {
            errors.push(format!("fsync probe: {err}"));
        }
        for (name, outcome) in [
            ("embedded", &self.embedded),
            ("etcd", &self.etcd),
            ("memory", &self.memory),
        ] {
            match outcome {
                Outcome::Ran(m) => {
                    for (phase, err) in m.errors() {
                        errors.push(format!("{name} {phase}: {err}"));
                    }
                }
                Outcome::Failed(err) => errors.push(format!("{name}: {err}")),
                Outcome::Skipped => {}
            }
        }
        errors
    }

    /// The whole report: a header, the table (Markdown) and notes.
    pub fn render(&self) -> String {
        let plan = self.plan;
        let mut text = String::new();
        let etcd = self.etcd_version.as_deref().unwrap_or("etcd");
        text.push_str(&format!(
            "rkube bench store{}: embedded store vs {etcd}, same run, same disk\n",
            if plan.quick { " --quick" } else { "" }
        ));
        text.push_str(
            "ratio = how many times better embedded is (embedded/etcd for rates; \
             etcd/embedded for latencies, times and memory)\n",
        );
        if plan.quick {
            text.push_str(
                "--quick shrinks every phase: a smoke test; the targets are not meaningful\n",
            );
        }
        text.push('\n');
        text.push_str(&table(&self.rows()));
        let errors = self.errors();
        if !errors.is_empty() {
            text.push_str("\nerrors:\n");
            for err in errors {
                text.push_str(&format!("- {err}\n"));
            }
        }
        text
    }

    fn rows(&self) -> Vec<Row> {
        let plan = self.plan;
        let (eo, dout) = (&self.embedded, &self.etcd);
        let e = eo.measurements();
        let d = dout.measurements();
        let mut rows = Vec::new();

        let fsync_p50 = self.fsync.as_ref().ok().map(|p| p.p50);
        rows.push(Row {
            metric: format!("disk: fsync of a {APPEND_BYTES} B append, p50 / p99"),
            embedded: match &self.fsync {
                Ok(p) => format!("{} / {}", human_seconds(p.p50), human_seconds(p.p99)),
                Err(_) => "error".into(),
            },
            etcd: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });

        for &c in &plan.concurrency {
            let key = |what: &str| format!("put.c{c}.{what}");
            let rate = |m: Option<&Measurements>| m.and_then(|m| m.num(&key("rate")));
            let (er, dr) = (rate(e), rate(d));
            let (target, met_cell) = if c == 64 {
                (
                    "≥ 5× etcd".to_string(),
                    met(ratio(er, dr, Better::Higher).map(|r| r >= 5.0)),
                )
            } else {
                (String::new(), String::new())
            };
            rows.push(Row {
                metric: format!(
                    "durable puts/s, {} B values, concurrency {c}",
                    plan.value_size
                ),
                embedded: cell(eo, &key("rate"), |v| format!("{}/s", thousands(v))),
                etcd: cell(dout, &key("rate"), |v| format!("{}/s", thousands(v))),
                ratio: ratio_cell(er, dr, Better::Higher),
                target,
                met: met_cell,
            });
            for (what, label) in [("p50", "p50"), ("p99", "p99")] {
                let (el, dl) = (
                    e.and_then(|m| m.num(&key(what))),
                    d.and_then(|m| m.num(&key(what))),
                );
                let (target, met_cell) = match (c, what, fsync_p50) {
                    (1, "p50", Some(f)) => (
                        format!("≤ 2× fsync p50 ({})", human_seconds(2.0 * f)),
                        met(el.map(|l| l <= 2.0 * f)),
                    ),
                    (1, "p50", None) => ("≤ 2× fsync p50".to_string(), String::new()),
                    _ => (String::new(), String::new()),
                };
                rows.push(Row {
                    metric: format!("put latency {label}, concurrency {c}"),
                    embedded: cell(eo, &key(what), human_seconds),
                    etcd: cell(dout, &key(what), human_seconds),
                    ratio: ratio_cell(el, dl, Better::Lower),
                    target,
                    met: met_cell,
                });
            }
        }

        if plan.range_keys > 0 {
            let (el, dl) = (num(e, "range.median_s"), num(d, "range.median_s"));
            rows.push(Row {
                metric: format!(
                    "range of {} keys by prefix (median of 5 reads)",
                    thousands(plan.range_keys as f64)
                ),
                embedded: cell(eo, "range.median_s", human_seconds),
                etcd: cell(dout, "range.median_s", human_seconds),
                ratio: ratio_cell(el, dl, Better::Lower),
                target: "≤ 50 ms".into(),
                met: met(el.map(|l| l <= 0.050)),
            });
        }

        if plan.watchers > 0 && plan.watch_events > 0 {
            let delivered = |m: Option<&Measurements>| -> Option<bool> {
                let m = m?;
                let complete = m.num("watch.complete")?;
                Some(complete as usize == plan.watchers && m.text("watch.in_order") == Some("true"))
            };
            let delivered_cell = |o: &Outcome| -> String {
                let m = match o {
                    Outcome::Ran(m) => m,
                    Outcome::Failed(_) => return "error".into(),
                    Outcome::Skipped => return String::new(),
                };
                match (
                    delivered(Some(m)),
                    m.num("watch.complete"),
                    m.num("watch.min_received"),
                ) {
                    (Some(true), _, _) => "yes".into(),
                    (Some(false), Some(c), Some(min)) => format!(
                        "no: {c}/{} complete, min {min} events, {}",
                        plan.watchers,
                        if m.text("watch.in_order") == Some("true") {
                            "in order"
                        } else {
                            "out of order"
                        }
                    ),
                    _ => "error".into(),
                }
            };
            rows.push(Row {
                metric: format!(
                    "watch: {} watchers × {} events ({} B): all delivered in order",
                    plan.watchers,
                    thousands(plan.watch_events as f64),
                    plan.watch_value_size
                ),
                embedded: delivered_cell(eo),
                etcd: delivered_cell(dout),
                ratio: String::new(),
                target: "every event, in order".into(),
                met: met(delivered(e)),
            });
            let (el, dl) = (num(e, "watch.write_s"), num(d, "watch.write_s"));
            rows.push(Row {
                metric: format!("watch: writing the events, {} per transaction", plan.batch),
                embedded: cell(eo, "watch.write_s", human_seconds),
                etcd: cell(dout, "watch.write_s", human_seconds),
                ratio: ratio_cell(el, dl, Better::Lower),
                target: String::new(),
                met: String::new(),
            });
            let (el, dl) = (num(e, "watch.last_s"), num(d, "watch.last_s"));
            rows.push(Row {
                metric: "watch: first write to last event at the last watcher".into(),
                embedded: cell(eo, "watch.last_s", human_seconds),
                etcd: cell(dout, "watch.last_s", human_seconds),
                ratio: ratio_cell(el, dl, Better::Lower),
                target: String::new(),
                met: String::new(),
            });
        }

        let (el, dl) = (num(e, "rss.peak"), num(d, "rss.peak"));
        rows.push(Row {
            metric: "peak RSS over the workload (VmHWM)".into(),
            embedded: cell(eo, "rss.peak", human_bytes),
            etcd: cell(dout, "rss.peak", human_bytes),
            ratio: ratio_cell(el, dl, Better::Lower),
            target: String::new(),
            met: String::new(),
        });

        if plan.memory_keys > 0 {
            let m = self.memory.measurements();
            let target = target_bytes(plan.memory_keys, plan.value_size);
            let rss = num(m, "memory.rss");
            rows.push(Row {
                metric: format!(
                    "memory: RSS after loading {} keys of {} B (peak)",
                    thousands(plan.memory_keys as f64),
                    plan.value_size
                ),
                embedded: match (rss, num(m, "memory.peak")) {
                    (Some(r), Some(p)) => format!("{} ({})", human_bytes(r), human_bytes(p)),
                    _ => cell(&self.memory, "memory.rss", human_bytes),
                },
                etcd: String::new(),
                ratio: String::new(),
                target: format!("≤ {} (1.3×keys×(key+value) + 50 MiB)", human_bytes(target)),
                met: met(rss.map(|r| r <= target)),
            });
        }
        rows
    }
}

fn num(m: Option<&Measurements>, key: &str) -> Option<f64> {
    m.and_then(|m| m.num(key))
}

/// A value; `error` when its phase or its backend failed; empty when the
/// backend was not run.
fn cell(outcome: &Outcome, key: &str, format: impl Fn(f64) -> String) -> String {
    match outcome {
        Outcome::Ran(m) => m.num(key).map(format).unwrap_or_else(|| "error".into()),
        Outcome::Failed(_) => "error".into(),
        Outcome::Skipped => String::new(),
    }
}

/// How many times better embedded is.
fn ratio(embedded: Option<f64>, etcd: Option<f64>, better: Better) -> Option<f64> {
    let (e, d) = (embedded?, etcd?);
    let r = match better {
        Better::Higher => e / d,
        Better::Lower => d / e,
    };
    r.is_finite().then_some(r)
}

fn ratio_cell(embedded: Option<f64>, etcd: Option<f64>, better: Better) -> String {
    match ratio(embedded, etcd, better) {
        Some(r) if r >= 10.0 => format!("{r:.0}×"),
        Some(r) => format!("{r:.2}×"),
        None => String::new(),
    }
}

fn met(ok: Option<bool>) -> String {
    match ok {
        Some(true) => "yes".into(),
        Some(false) => "NO".into(),
        None => String::new(),
    }
}

/// `1234567.8` as `1,234,568`.
fn thousands(v: f64) -> String {
    let digits = format!("{:.0}", v.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A Markdown table with padded columns.
fn table(rows: &[Row]) -> String {
    let header = ["metric", "embedded", "etcd", "ratio", "target", "met"];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                &*r.metric,
                &*r.embedded,
                &*r.etcd,
                &*r.ratio,
                &*r.target,
                &*r.met,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: &[&str; 6]| -> String {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
            .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    let mut out = line(&header);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    out.push_str(&format!("| {} |\n", rule.join(" | ")));
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0.0), "0");
        assert_eq!(thousands(999.4), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1_234_567.8), "1,234,568");
    }

    #[test]
    fn ratio_is_better_when_above_one() {
        assert_eq!(ratio(Some(10.0), Some(2.0), Better::Higher), Some(5.0));
        assert_eq!(ratio(Some(2.0), Some(10.0), Better::Lower), Some(5.0));
        assert_eq!(ratio(Some(1.0), None, Better::Lower), None);
        assert_eq!(ratio(Some(0.0), Some(1.0), Better::Lower), None);
    }
}
