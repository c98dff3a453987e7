//! The controllers' framework, as client-go's and kube-controller-manager's
//! shared code: what every controller uses and no controller owns.
//!
//! - `informer.rs`: one watch per kind shared by every controller, with
//!   change handlers that see the old and new version;
//! - `queue.rs`: work queues of object keys with per-key backoff;
//! - `expectations.rs`: creations and deletions asked for and not yet seen;
//! - `runner.rs`: the workers that reconcile keys;
//! - `pod_index.rs`: pods by controller, orphans by namespace;
//! - `owner.rs`: owner references; `claim.rs`: adopting and releasing
//!   what a controller's selector matches (one rule for every controller);
//! - `event.rs`: an event a pure decision asks for;
//! - `finalizer.rs`: adding and removing one finalizer;
//! - `history.rs`: controller revisions; `status.rs`: status merge patches;
//! - `leader.rs`: leader election through a `coordination.k8s.io/v1` Lease;
//! - `context.rs`: what the controllers share; `error.rs`: their error.

pub mod claim;
pub mod context;
pub mod error;
pub mod event;
pub mod expectations;
pub mod finalizer;
pub mod history;
pub mod informer;
pub mod leader;
pub mod owner;
pub mod pod_index;
pub mod queue;
pub mod runner;
pub mod status;
