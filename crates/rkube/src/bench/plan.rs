//! The benchmark's sizes: flags resolved against the full or `--quick`
//! defaults, and passed on to child processes.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::bench::args::{BenchBackend, ChildRole, StoreBenchArgs};

/// Every size and bound of one benchmark run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub quick: bool,
    pub dir: PathBuf,
    pub duration: Duration,
    pub concurrency: Vec<usize>,
    pub value_size: usize,
    pub range_keys: usize,
    pub watchers: usize,
    pub watch_events: usize,
    pub watch_value_size: usize,
    pub batch: usize,
    pub memory_keys: usize,
    pub phase_timeout: Duration,
    pub backends: Vec<BenchBackend>,
}

impl Plan {
    /// Resolve the flags; unset ones take the full or the quick defaults.
    pub fn from_args(args: &StoreBenchArgs) -> anyhow::Result<Plan> {
        let q = args.quick;
        let pick = |set: Option<usize>, full: usize, quick: usize| {
            set.unwrap_or(if q { quick } else { full })
        };
        let plan = Plan {
            quick: q,
            dir: args.dir.clone(),
            duration: args.duration.unwrap_or(if q {
                Duration::from_millis(300)
            } else {
                Duration::from_secs(5)
            }),
            concurrency: args.concurrency.clone().unwrap_or_else(|| {
                if q {
                    vec![1, 64]
                } else {
                    vec![1, 64, 256]
                }
            }),
            value_size: pick(args.value_size, 1024, 1024),
            range_keys: pick(args.range_keys, 100_000, 5_000),
            watchers: pick(args.watchers, 100, 10),
            watch_events: pick(args.watch_events, 100_000, 5_000),
            watch_value_size: pick(args.watch_value_size, 128, 128),
            batch: pick(args.batch, 100, 100),
            memory_keys: pick(args.memory_keys, 1_000_000, 5_000),
            phase_timeout: args.phase_timeout.unwrap_or(if q {
                Duration::from_secs(30)
            } else {
                Duration::from_secs(120)
            }),
            backends: args
                .backends
                .clone()
                .unwrap_or_else(|| vec![BenchBackend::Embedded, BenchBackend::Etcd]),
        };
        if plan.concurrency.iter().any(|&c| c == 0 || c > 10_000) {
            anyhow::bail!("--concurrency values must be between 1 and 10000");
        }
        if plan.batch == 0 {
            anyhow::bail!("--batch must be at least 1");
        }
        if plan.duration.is_zero() || plan.phase_timeout.is_zero() {
            anyhow::bail!("--duration and --phase-timeout must be more than 0");
        }
        Ok(plan)
    }

    /// The arguments that make a child process run `role` with this plan in `dir`.
    pub fn child_args(&self, role: ChildRole, dir: &Path) -> Vec<OsString> {
        let role = match role {
            ChildRole::Embedded => "embedded",
            ChildRole::Memory => "memory",
        };
        let list = |v: &[usize]| v.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let mut args: Vec<OsString> = ["bench", "store", "--child", role, "--dir"]
            .map(OsString::from)
            .into();
        args.push(dir.as_os_str().to_owned());
        let flags = [
            ("--duration", format!("{}ms", self.duration.as_millis())),
            ("--concurrency", list(&self.concurrency)),
            ("--value-size", self.value_size.to_string()),
            ("--range-keys", self.range_keys.to_string()),
            ("--watchers", self.watchers.to_string()),
            ("--watch-events", self.watch_events.to_string()),
            ("--watch-value-size", self.watch_value_size.to_string()),
            ("--batch", self.batch.to_string()),
            ("--memory-keys", self.memory_keys.to_string()),
            (
                "--phase-timeout",
                format!("{}ms", self.phase_timeout.as_millis()),
            ),
        ];
        for (flag, value) in flags {
            args.push(flag.into());
            args.push(value.into());
        }
        args
    }

    /// A bound on a whole child process: every phase at its limit, plus slack.
    pub fn child_timeout(&self) -> Duration {
        let puts = (self.duration + self.phase_timeout) * self.concurrency.len() as u32;
        puts + self.phase_timeout * 4 + Duration::from_secs(30)
    }
}
