//! The `sim` runtime: simulated nodes in the manner of kwok. One agent
//! carries many nodes:
//! - `run.rs`: the entry point, [`run`]; `config.rs`: [`SimConfig`];
//!   `error.rs`: [`SimError`]; `addresses.rs`: each node's IP and pod
//!   range; `clock.rs`: the time written into statuses;
//! - `register.rs`: the Node objects (capacity, labels, conditions, addresses);
//! - `lease.rs`: their heartbeats, `coordination.k8s.io/v1` Leases in
//!   `kube-node-lease`;
//! - `pods.rs`: the pod lifecycle — bound pods become Running and Ready
//!   after a delay, pods of Jobs finish after the time their annotation
//!   asks for, deleted pods are stopped and removed;
//! - `claims.rs`: pods with claims wait until they are Bound;
//!   `volumes.rs`: the local-path cleanup finalizer released on volumes of
//!   simulated nodes (they have no directories).
//!
//! Simulated addresses are made up; nothing here ever connects to them.

mod addresses;
mod claims;
mod clock;
mod config;
mod error;
mod lease;
mod pods;
mod register;
mod run;
mod volumes;

pub use config::SimConfig;
pub use error::SimError;
pub use run::run;
