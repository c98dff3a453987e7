//! The node agent: what a kubelet does for the control plane, through the
//! API only (kube-rs), never through the API server's or the store's code.
//!
//! Nodes differ only in their runtime:
//! - `sim/`: simulated nodes, kwok-style, many per agent (for scale);
//! - `kubelet/`: a real node — pod workers that drive containers through
//!   the CRI-like interfaces of `rkube-cri`, implemented by `runc/` (pods on
//!   runc), `rkube-image` (images) and `rkube-net` (the pod network).
//!
//! What it must not do: touch the store, or decide where pods go (the
//! scheduler binds them).

pub mod kubelet;
pub mod runc;
pub mod server;
pub mod sim;

pub use sim::{run, SimConfig, SimError};
