//! Pods on runc: the [`rkube_cri::RuntimeService`] of a real node.
//!
//! A sandbox is a network namespace (attached by the
//! [`rkube_cri::NetworkPlugin`]), an IPC and a UTS namespace kept alive by
//! bind mounts (so every container of the pod shares them, as containerd's
//! pause container does, without a process), and a directory with its
//! hostname and resolv.conf; each container is an OCI bundle (root
//! filesystem from the [`rkube_cri::Snapshotter`]) run by `runc` under a
//! small shim process (`rkube shim`) that outlives the node agent, writes
//! the container's output to its CRI-format log file and records its exit
//! code, so a restarted agent adopts running containers and loses no exit.
//!
//! Where to start: `runtime.rs` (the service and its in-memory tables),
//! then `sandbox.rs` and `container.rs` (one file per half of the CRI
//! calls), `bundle.rs` (what is written before a shim starts), `spec.rs`
//! (the OCI spec, built from the small pure pieces in `user.rs`,
//! `caps.rs`, `seccomp.rs`, `cgroups.rs`), `records.rs` (what is on disk)
//! and `shim/` (the process that runs beside each container). Into running
//! pods: `exec_stream.rs` (with `pty.rs`), `attach.rs` (a client of the
//! shim's `attach.sock`, framed by `attach_proto.rs`), `port_forward.rs`
//! (through `netns::in_netns`), `stats.rs` (with `cgroup_usage.rs`).
//!
//! On disk, under [`RuncConfig::state_dir`]:
//! ```text
//! sandboxes/<id>/sandbox.json   the sandbox's record
//!                hostname, resolv.conf, ns/ipc, ns/uts
//! containers/<id>/container.json   the container's record
//!                 bundle/config.json the OCI spec
//!                 shim.json          the shim's pid and the container's init pid
//!                 started            when `runc start` succeeded (unix ns)
//!                 exit.json          written by the shim when the container ended
//!                 io.json            tty, stdin, stdin_once (read by the shim)
//!                 attach.sock        the shim's attach socket (`attach_proto.rs`)
//!                 termination-log    bind-mounted at terminationMessagePath
//! ```

mod attach;
mod attach_proto;
mod bundle;
mod caps;
mod cgroup_usage;
mod cgroups;
mod config;
mod container;
mod container_entry;
mod exec_stream;
mod fsutil;
mod locks;
mod netns;
mod port_forward;
mod pty;
mod records;
mod runc_cli;
mod runtime;
mod sandbox;
mod sandbox_entry;
mod seccomp;
pub mod shim;
mod spec;
mod stats;
mod status;
mod user;

pub use config::RuncConfig;
pub use runtime::RuncRuntime;
pub use shim::{run_shim, ShimOptions};
