//! # rkube-apimachinery
//!
//! The Kubernetes object model and the pure rules around it: no async, no
//! I/O, nothing but data in and data out. The API server joins this crate
//! to the store; controllers and the CLI may use it directly.
//!
//! Where to start:
//! - [`registry`]: which resources exist (group/version/kind, plural,
//!   scope, verbs, short names, categories, subresources); [`Registry::builtin`]
//!   is what kube-apiserver 1.37 serves for the kinds rkube implements.
//! - [`discovery`]: the `/api`, `/apis`, `/api/v1`, `/apis/<g>/<v>`
//!   documents and aggregated discovery v2, built from a registry.
//! - [`status`]: [`ApiError`], every failure a client can see, and the
//!   `meta.k8s.io/v1` [`Status`] it becomes, worded like kube-apiserver.
//! - [`cause`]: field-level validation errors ([`Cause`]) as carried in an
//!   `Invalid` status.
//! - [`validation`]: names and metadata (DNS-1123 names, label and
//!   annotation rules, `generateName`), returning [`Cause`]s.
//! - [`list_options`]: which combinations of `resourceVersion`,
//!   `resourceVersionMatch`, `continue` and `sendInitialEvents` a list or
//!   watch may ask for.
//! - [`typed`]: reading a built-in object through its type, as
//!   kube-apiserver decodes bodies (type errors, unknown fields,
//!   `fieldValidation`), with every Quantity in it checked
//!   ([`quantity_fields`]).
//! - [`protobuf`]: Kubernetes' protobuf bodies (`k8s\0` envelope) decoded
//!   into JSON for built-in kinds.
//! - [`defaults`] and [`validate`]: Kubernetes' per-kind defaulting and
//!   validation (pods, services, workloads, config maps and secrets).
//! - [`conversion`]: built-in kinds served in several versions (the
//!   HorizontalPodAutoscaler's `autoscaling/v1` and `v2`): which version is
//!   stored, and converting between them.
//! - [`strategic`]: strategic merge patches with Kubernetes' merge keys.
//! - [`table`]: the `meta.k8s.io` Table kubectl prints, per kind.
//! - [`openapi`]: OpenAPI v3 documents of the paths served (no kind
//!   schemas yet).
//! - [`selector`]: label and field selectors: parsing, matching, and the
//!   field labels each kind supports.
//! - [`matching`]: Kubernetes' matching rules on typed objects (label
//!   selectors, node selectors and affinity, taints and tolerations,
//!   whether a pod fits a node), for the scheduler and the controllers.
//!
//! Owns: Kubernetes' rules about objects, written once for every crate that
//! needs them. It must not: do I/O, use an async runtime, or depend on
//! another rkube crate (the store, the API server and the clients depend on
//! it, never the reverse).

pub mod admission;
mod builtin;
pub mod cause;
pub mod conversion;
pub mod crd;
pub mod defaults;
pub mod discovery;
pub mod list_options;
pub mod managed;
pub mod matching;
pub mod openapi;
pub mod protobuf;
pub mod quantity;
pub mod quantity_fields;
pub mod registry;
mod resource_info;
pub mod selector;
pub mod status;
pub mod storage;
pub mod strategic;
pub mod table;
pub mod typed;
pub mod validate;
pub mod validation;

pub use cause::{Cause, CauseType};
pub use registry::{Registry, ResourceInfo, SubresourceInfo};
pub use selector::{FieldSelector, LabelSelector};
pub use status::{ApiError, Status, StatusCause, StatusDetails};
