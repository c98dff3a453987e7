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
//! - `volume_cache.rs`: claims, volumes, storage classes and CSI storage
//!   capacities kept from watches, with what the scheduler assumed of
//!   them (the assume cache);
//! - `volume_binding.rs`: the VolumeBinding plugin (claims that must
//!   exist and be bound, volume node affinity, a volume or provisioning
//!   for WaitForFirstConsumer claims on the chosen node);
//! - `volume_restrictions.rs`: the VolumeRestrictions plugin
//!   (ReadWriteOncePod claims used by one pod at a time);
//! - `scheduler.rs`: the queue, binding, retries with backoff, and the
//!   `Scheduled` / `FailedScheduling` events.
//!
//! What it must not do: touch the store or the API server's code, or write
//! anything of a pod but its binding, its `PodScheduled` condition and events
//! — and of storage only a volume's `claimRef` (a static volume chosen for a
//! WaitForFirstConsumer claim) and a claim's `selected-node` annotation.

mod affinity;
mod cache;
mod filter;
mod preemption;
mod resources;
mod scheduler;
mod score;
mod volume_binding;
mod volume_cache;
mod volume_restrictions;

pub use scheduler::{run, run_with, Options, SchedulerError, SCHEDULER_NAME};
