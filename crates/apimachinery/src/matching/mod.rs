//! Kubernetes' matching rules on typed objects, written once for the
//! scheduler, the controllers and admission:
//! - `label_selector.rs`: `metav1.LabelSelector` against labels (the
//!   operators In, NotIn, Exists, DoesNotExist);
//! - `node_selector.rs`: node selector terms (also Gt and Lt, and
//!   `matchFields` on `metadata.name`), a pod's `nodeSelector` and
//!   required node affinity;
//! - `taints.rs`: tolerations against taints;
//! - `node_fit.rs`: whether a pod fits a node by name, selector, affinity
//!   and taints;
//! - `volume.rs`: which PersistentVolume a claim binds to (the PV
//!   controller's and the scheduler's volume binding), a volume's node
//!   affinity.
//!
//! (Selectors given as strings, for lists and watches, are
//! `crate::selector`.)

mod label_selector;
mod node_fit;
mod node_selector;
mod taints;
mod volume;

pub use label_selector::label_selector_matches;
pub use node_fit::{node_fit, NodeFit};
pub use node_selector::{node_affinity_matches, node_selector_requirement_matches, term_matches};
pub use taints::{first_untolerated, tolerates};
pub use volume::{
    access_modes_contain, find_matching_volume, volume_bound_to_claim, volume_node_affinity_matches,
};
