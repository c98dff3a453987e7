//! The options of each benchmark and the backends and child roles they
//! name, as `rkube bench` parses them (`cmd/bench.rs`).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::duration::parse_duration;

/// Options of `rkube bench cluster`.
#[derive(Debug, Clone, Args)]
pub struct ClusterBenchArgs {
    /// Shrink to a smoke test of a few seconds.
    #[arg(long)]
    pub quick: bool,

    /// Where to create the temporary data directories.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Simulated nodes [default: 1000; quick: 20].
    #[arg(long, value_name = "N")]
    pub nodes: Option<usize>,

    /// Replicas of the one big Deployment [default: 10000; quick: 200].
    #[arg(long, value_name = "N")]
    pub replicas: Option<usize>,

    /// Number of small Deployments [default: 1000; quick: 10].
    #[arg(long, value_name = "N")]
    pub deployments: Option<usize>,

    /// Replicas of each small Deployment [default: 10].
    #[arg(long, value_name = "N")]
    pub per_deployment: Option<usize>,

    /// StatefulSets, run once without and once with a claim per pod
    /// [default: 10; quick: 2].
    #[arg(long, value_name = "N")]
    pub statefulsets: Option<usize>,

    /// Replicas of each StatefulSet [default: 100; quick: 10].
    #[arg(long, value_name = "N")]
    pub per_statefulset: Option<usize>,
}

/// Options of `rkube bench node`.
#[derive(Debug, Clone, Args)]
pub struct NodeBenchArgs {
    /// Shrink to a smoke test [pods: 10].
    #[arg(long)]
    pub quick: bool,

    /// Where to create the temporary directory (images, the node's data,
    /// bare runc's bundles).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Pods created at once on the real node, and bare runc containers
    /// started at once [default: 100; quick: 10].
    #[arg(long, value_name = "N")]
    pub pods: Option<usize>,
}

/// Options of `rkube bench net`.
#[derive(Debug, Clone, Args)]
pub struct NetBenchArgs {
    /// Shrink to a smoke test [services: 50; endpoints: 3; ~30 rule
    /// changes; 2 s of DNS; 64 MiB through TCP].
    #[arg(long)]
    pub quick: bool,

    /// Where to create the temporary directory (the image, the node's
    /// data, dnsperf's query file and output).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Services without selectors, each with one EndpointSlice of
    /// --endpoints made-up addresses [default: 1000; quick: 50].
    #[arg(long, value_name = "N")]
    pub services: Option<usize>,

    /// Endpoints of each Service [default: 10; quick: 3].
    #[arg(long, value_name = "M")]
    pub endpoints: Option<usize>,
}

/// Options of `rkube bench api`. Unset sizes take the full defaults, or the
/// --quick ones.
#[derive(Debug, Clone, Args)]
pub struct ApiBenchArgs {
    /// Shrink every phase to a smoke test of a few seconds.
    #[arg(long)]
    pub quick: bool,

    /// Where to create the temporary data directories.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// Concurrent clients, each with its own connection [default: 64; quick: 8].
    #[arg(long, value_name = "N")]
    pub clients: Option<usize>,

    /// How long the config map create phase runs [default: 5s; quick: 500ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Pods stored, then listed [default: 100000; quick: 2000].
    #[arg(long, value_name = "N")]
    pub pods: Option<usize>,

    /// Page size of the paged list [default: 500].
    #[arg(long, value_name = "N")]
    pub page: Option<usize>,

    /// Concurrent watchers [default: 1000; quick: 20].
    #[arg(long, value_name = "N")]
    pub watchers: Option<usize>,

    /// Events every watcher must receive [default: 10000; quick: 200].
    #[arg(long, value_name = "N")]
    pub watch_events: Option<usize>,

    /// Events written per second during the watch phase [default: 500].
    #[arg(long, value_name = "PER_SECOND")]
    pub watch_rate: Option<f64>,

    /// Backends to run [default: embedded,etcd].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', value_enum)]
    pub backends: Option<Vec<BenchBackend>>,
}

/// Options of `rkube bench store`. Unset sizes take the full defaults, or
/// the --quick ones.
#[derive(Debug, Clone, Args)]
pub struct StoreBenchArgs {
    /// Shrink every phase so the whole run takes a few seconds (a smoke test).
    #[arg(long)]
    pub quick: bool,

    /// Where to create the temporary data directories (same disk as DIR).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,

    /// How long each put phase runs [default: 5s; quick: 300ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// Concurrencies of the put phases [default: 1,64,256; quick: 1,64].
    #[arg(long, value_name = "N,...", value_delimiter = ',')]
    pub concurrency: Option<Vec<usize>>,

    /// Value size of puts, range keys and memory keys, in bytes [default: 1024].
    #[arg(long, value_name = "BYTES")]
    pub value_size: Option<usize>,

    /// Keys loaded, then read back by one prefix range [default: 100000; quick: 5000].
    #[arg(long, value_name = "N")]
    pub range_keys: Option<usize>,

    /// Watchers on one prefix [default: 100; quick: 10].
    #[arg(long, value_name = "N")]
    pub watchers: Option<usize>,

    /// Events written while the watchers watch [default: 100000; quick: 5000].
    #[arg(long, value_name = "N")]
    pub watch_events: Option<usize>,

    /// Value size of the watched events, in bytes [default: 128].
    #[arg(long, value_name = "BYTES")]
    pub watch_value_size: Option<usize>,

    /// Puts per transaction when loading keys and writing events [default: 100;
    /// etcd refuses more than 128 by default].
    #[arg(long, value_name = "N")]
    pub batch: Option<usize>,

    /// Keys of --value-size loaded into the embedded store for the memory row;
    /// 0 skips it [default: 1000000; quick: 5000].
    #[arg(long, value_name = "N")]
    pub memory_keys: Option<usize>,

    /// Upper bound on each phase (a phase that runs longer is reported as
    /// failed) [default: 120s; quick: 30s].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub phase_timeout: Option<Duration>,

    /// Backends to run [default: embedded,etcd].
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', value_enum)]
    pub backends: Option<Vec<BenchBackend>>,

    /// Internal: run one workload in this (child) process and print results
    /// as `rkube-bench-result KEY VALUE` lines.
    #[arg(long, value_enum, hide = true)]
    pub child: Option<ChildRole>,
}

/// The backends `rkube bench store` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    Embedded,
    Etcd,
}

/// What a child process of the benchmark runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChildRole {
    /// The full workload on a fresh embedded store.
    Embedded,
    /// Load --memory-keys into a fresh embedded store and report RSS.
    Memory,
}
