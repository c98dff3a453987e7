//! `rkube shim` (hidden): the process that runs beside one container, started
//! by the runc runtime of a real node. Synchronous code: `main` dispatches
//! it before any async runtime or logging starts (see
//! `rkube_node::runc::run_shim` for what it does).

use std::path::PathBuf;

use clap::Args;
use rkube_node::runc::{run_shim, ShimOptions};

#[derive(Debug, Args)]
pub struct ShimArgs {
    /// The container's id.
    #[arg(long)]
    id: String,
    /// The OCI bundle directory.
    #[arg(long)]
    bundle: PathBuf,
    /// The runc binary.
    #[arg(long, default_value = "runc")]
    runc: PathBuf,
    /// runc's --root.
    #[arg(long)]
    runc_root: PathBuf,
    /// The container's CRI log file.
    #[arg(long)]
    log_path: PathBuf,
    /// The container's state directory.
    #[arg(long)]
    state_dir: PathBuf,
    /// The container's cgroup path.
    #[arg(long, default_value = "")]
    cgroup: String,
}

/// Run the shim; its exit code.
pub fn run(args: ShimArgs) -> std::process::ExitCode {
    let code = run_shim(&ShimOptions {
        id: args.id,
        bundle: args.bundle,
        runc: args.runc,
        runc_root: args.runc_root,
        log_path: args.log_path,
        state_dir: args.state_dir,
        cgroups_path: args.cgroup,
    });
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
