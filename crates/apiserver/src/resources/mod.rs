//! The resource API: discovery documents and the REST verbs (get, list,
//! watch, create, update, patch, delete, deletecollection) for every
//! resource in the registry, stored as JSON in the store.
//!
//! - `path.rs`: turning `/api/v1/namespaces/ns/pods/x/status` into a request;
//! - `object.rs`: metadata rules on create and update (uid, timestamps,
//!   generation, resourceVersion = store revision);
//! - `allocator.rs`: Service cluster IPs and node ports;
//! - `scale.rs`: the `scale` subresource;
//! - `pod_actions.rs`: `pods/binding` (and `bindings`), `pods/eviction`;
//! - `storage.rs`: the verbs against the `Store` (keys, preconditions,
//!   finalizers, selectors, paging);
//! - `raw.rs`: the stored byte layout (metadata first, resourceVersion
//!   spliced in on the way out, so lists and watches need no re-encoding);
//! - `watch.rs`: watch streams (one JSON event per line);
//! - `admission.rs`: the admission chain of a create (ServiceAccount,
//!   DefaultTolerationSeconds, LimitRanger, PodSecurity, ResourceQuota);
//! - `field_manager.rs`: managedFields on every write, server-side apply;
//! - `fanout.rs`: one store watch per resource, shared by its watchers;
//! - `crds.rs`: the CRD controller (serves established CRDs, writes their
//!   status, deletes a deleted CRD's objects);
//! - `negotiate.rs`: what to answer with (JSON, or a Table for kubectl);
//! - `handlers.rs`: the axum routes;
//! - `metrics.rs`: `apiserver_*` metrics;
//! - `system_objects.rs`: the objects the server keeps itself
//!   (`kubernetes_service.rs`, `apiservices.rs`, `component_statuses.rs`).

mod admission;
mod allocator;
mod apiservices;
mod component_statuses;
mod crds;
mod fanout;
mod field_manager;
mod handlers;
mod kubernetes_service;
mod metrics;
mod negotiate;
mod object;
mod path;
mod pod_actions;
mod raw;
mod scale;
mod storage;
mod system_objects;
mod watch;

pub use crds::spawn as spawn_crd_controller;
pub use handlers::{router, ApiState};
pub use metrics::ApiMetrics;
pub use storage::ensure_namespaces;
pub use system_objects::{spawn as spawn_system_objects, SystemObjectsConfig};
