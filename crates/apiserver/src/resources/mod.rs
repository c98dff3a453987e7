//! The resource API: discovery documents and the REST verbs (get, list,
//! watch, create, update, patch, delete, deletecollection) for every
//! resource in the registry, stored as JSON in the store.
//!
//! A request goes straight down through layers; a file imports only from
//! the layers below it (see `docs/ARCHITECTURE.md`):
//!
//! 1. `handlers.rs`: the axum routes, discovery and OpenAPI; a resource
//!    request's path is parsed (`path.rs`) and handed on with its verb;
//!    what handlers share is `state.rs`, plain answers `respond.rs`;
//! 2. `dispatch.rs`: the table from (verb, subresource) to a handler,
//!    which reads the request (`request.rs`: body, options, patch type)
//!    and writes the answer (`negotiate.rs`: JSON, Table or metadata);
//! 3. the verbs: `get.rs` (get, list, paging), `watch.rs` (with
//!    `fanout.rs`: one store watch per resource), `create.rs`,
//!    `update.rs`, `patch.rs` (patch and server-side apply), `delete.rs`
//!    (delete, deletecollection), `finalize.rs` (`namespaces/finalize`),
//!    `scale.rs` (the Scale view), `pod_actions.rs` (`pods/binding`,
//!    `bindings`, `pods/eviction`), `ephemeral.rs`
//!    (`pods/ephemeralcontainers`);
//! 4. `pipeline.rs`: the steps of every write, in kube-apiserver's order
//!    (decode and defaults, field management in `field_manager.rs`,
//!    mutating admission in `admission.rs`, the strategy, validating
//!    admission, store write);
//! 5. `strategy/`: what each kind does differently (one file per kind
//!    that needs more than the default);
//! 6. `store_access.rs`: keys, read, decode, write-if-unchanged, store
//!    errors; beneath it `raw.rs` (the stored byte layout), `object.rs`
//!    (generic metadata rules), `versions.rs` (one stored object served
//!    in several versions), `allocator.rs` (Service IPs and ports) and
//!    `options.rs` (the verbs' options).
//!
//! The connect subresources (`pods/log`, `exec`, `attach`,
//! `portforward`, the `proxy` of pods, services and nodes) leave the
//! path after `handlers.rs`, bodies unread: `connect/` finds the node or
//! pod and hands the request to `crate::node_access`.
//!
//! Beside them: `crds.rs` (the CRD controller: serves established CRDs,
//! writes their status, deletes a deleted CRD's objects), `system_objects/`
//! (the objects the server keeps itself: the `kubernetes` Service, the
//! APIServices, the ComponentStatuses), `metrics.rs` (`apiserver_*`
//! metrics) and `metrics_api/` (`metrics.k8s.io`, answered from the
//! nodes rather than the store).

mod admission;
mod allocator;
mod connect;
mod crds;
mod create;
mod delete;
mod dispatch;
mod ephemeral;
mod fanout;
mod field_manager;
mod finalize;
mod get;
mod handlers;
mod metrics;
mod metrics_api;
mod negotiate;
mod object;
mod options;
mod patch;
mod path;
mod pipeline;
mod pod_actions;
mod raw;
mod request;
mod respond;
mod scale;
mod state;
mod store_access;
mod strategy;
mod system_objects;
mod update;
mod versions;
mod watch;

pub use allocator::{service_ip_range, set_service_ip_range, ServiceIpRange};
pub use crds::spawn as spawn_crd_controller;
pub use create::ensure_namespaces;
pub use handlers::router;
pub use metrics::ApiMetrics;
pub use metrics_api::SummaryCache;
pub use state::ApiState;
pub use system_objects::{spawn as spawn_system_objects, SystemObjectsConfig};
