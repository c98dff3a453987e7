//! The scheduler: picks a node for each pending pod and binds it through
//! `pods/binding`, as kube-scheduler does, as an ordinary API client.
//!
//! - `resources.rs`: what a pod requests and a node offers, in milli-units;
//! - `cache.rs`: the nodes and what the pods bound to them use, kept from
//!   watches, with pods assumed on their node as soon as they are picked;
//! - `filter.rs`: the filter plugins (resources, node name, node selector
//!   and required node affinity, taints and tolerations, unschedulable
//!   nodes, host ports), each failure with kube-scheduler's reason; the
//!   matching rules themselves are `rkube_apimachinery::matching`, shared
//!   with the controllers;
//! - `affinity.rs`: inter-pod affinity and anti-affinity, topology spread
//!   constraints (filters and scores counted across the cluster);
//! - `score.rs`: least-allocated and balanced-allocation scoring, preferred
//!   node affinity;
//! - `preemption.rs`: which lower-priority pods to delete, and where, for
//!   a pod no node fits;
//! - `scheduler.rs`: the queue, binding, retries with backoff, and the
//!   `Scheduled` / `FailedScheduling` events.
//!
//! What it must not do: touch the store or the API server's code, or write
//! anything of a pod but its binding, its `PodScheduled` condition and events.

mod affinity;
mod cache;
mod filter;
mod preemption;
mod resources;
mod scheduler;
mod score;

pub use scheduler::{run, SchedulerError, SCHEDULER_NAME};
