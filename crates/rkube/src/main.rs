//! # rkube
//!
//! The binary: one command-line front end that wires rkube's crates together.
//!
//! Where a newcomer starts:
//! - this file: the top-level CLI, logging and the async runtime;
//! - `cmd/`: one file per subcommand (`up`, `server`, `controller-manager`,
//!   `scheduler`, `node`, `bench`, `image`, and the hidden `shim`), each
//!   holding its clap arguments and its `run` function;
//! - `control_plane.rs`: the API-server part that `up` and `server` share
//!   (listen, open the store, serve, stop cleanly);
//! - `health.rs`: the HTTP endpoints served today (`/readyz`, `/livez`,
//!   `/healthz`, `/metrics`);
//! - `components.rs`: the scheduler, controllers and simulated nodes `up`
//!   runs beside the API server (stopped before the store closes),
//!   `loopback.rs`: their in-memory client, `agent.rs`: who each says it is;
//! - `signals.rs`: SIGINT and SIGTERM, which stop every command cleanly;
//! - `backend.rs`: choosing and opening a store backend;
//! - `allocator.rs`: the global allocator (mimalloc) and why;
//! - `bench/`: `rkube bench store`, `api` and `cluster`, the benchmarks.
//!
//! Owns: the wiring — which components run in which process, and how they
//! start and stop. It must not hold Kubernetes behaviour of its own: that
//! lives in the library crates, which this crate only calls.
//!
//! `anyhow` is used here and nowhere in the library crates.

mod agent;
mod allocator;
mod backend;
mod bench;
mod cmd;
mod components;
mod control_plane;
mod health;
mod loopback;
mod real_node;
mod signals;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// rkube: a Kubernetes-compatible control plane and node agent in one binary.
#[derive(Debug, Parser)]
#[command(name = "rkube", version, propagate_version = true)]
#[command(after_help = "Logging: set RUST_LOG (default \"info\"), e.g. RUST_LOG=rkube=debug.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a whole cluster in the foreground: API server, embedded store,
    /// scheduler, controllers and (--sim-nodes N) simulated nodes.
    ///
    /// Serves /readyz, /livez, /healthz (`ok` once the store is open) and
    /// /metrics over HTTP. Stop it with Ctrl-C (SIGINT) or SIGTERM: the store
    /// is closed cleanly and the exit code is 0.
    Up(cmd::up::UpArgs),
    /// Run only the API-server part, on the embedded store or on etcd.
    ///
    /// Serves the same endpoints as `rkube up`, with `--store embedded`
    /// (DATA_DIR/store) or `--store etcd` (an etcd v3 cluster).
    Server(cmd::server::ServerArgs),
    /// Run simulated nodes against an API server.
    Node(cmd::node::NodeArgs),
    /// Run the controllers (leader-elected) against an API server.
    ControllerManager(cmd::controller_manager::ControllerManagerArgs),
    /// Run the scheduler against an API server.
    Scheduler(cmd::scheduler::SchedulerArgs),
    /// Run a benchmark and print a table.
    Bench(cmd::bench::BenchArgs),
    /// Load, list and remove images (DATA_DIR/images), while a cluster
    /// runs or not.
    Image(cmd::image::ImageArgs),
    /// Remove what a real node left on this host (containers, mounts,
    /// network namespaces, the pod network); images and data stay.
    Reset(cmd::reset::ResetArgs),
    /// The process beside one container of a real node (started by the
    /// runtime, not by people).
    #[command(hide = true)]
    Shim(cmd::shim::ShimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The shim is synchronous and keeps stdout for its answer: no async
    // runtime, no logging.
    let command = match cli.command {
        Command::Shim(args) => return cmd::shim::run(args),
        command => command,
    };
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("rkube: error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match command {
            Command::Shim(_) => Ok(()),
            Command::Up(args) => cmd::up::run(args).await,
            Command::Server(args) => cmd::server::run(args).await,
            Command::Node(args) => cmd::node::run(args).await,
            Command::ControllerManager(args) => cmd::controller_manager::run(args).await,
            Command::Scheduler(args) => cmd::scheduler::run(args).await,
            Command::Bench(args) => cmd::bench::run(args).await,
            Command::Reset(args) => cmd::reset::run(args).await,
            Command::Image(args) => cmd::image::run(args).await,
        }
    });
    // Do not wait for detached blocking tasks (e.g. a stuck benchmark phase).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("rkube: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Logs go to stderr (stdout is for output such as benchmark tables), with
/// `RUST_LOG` overriding the default level `info`.
fn init_tracing() {
    // kube-rs logs every refused connection at ERROR; the benchmark polls a
    // starting server, so that is noise unless asked for.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube_client::client::builder=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
