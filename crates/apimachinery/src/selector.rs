//! Label and field selectors: parsing the `labelSelector` / `fieldSelector`
//! query parameters the way kube-apiserver does, matching objects, and the
//! field labels each kind supports.
//!
//! - [`LabelSelector`] (in `selector/label.rs`): `=`, `==`, `!=`, `in`,
//!   `notin`, `key`, `!key`, `>`, `<`, comma-separated.
//! - [`FieldSelector`] (in `selector/field.rs`): `=`, `==`, `!=` on dotted
//!   field labels, checked per kind with [`FieldSelector::for_kind`].
//! - [`selectable`] (in `selector/selectable.rs`): decoding only the fields
//!   selectors read, for watches that test every change.
//!
//! Every parse or label error is a `400 BadRequest` [`crate::ApiError`].

mod field;
mod label;
mod selectable;

pub use field::{
    convert_field_label, field_value, kind_field_labels, supported_field_labels, FieldOp,
    FieldSelector, FieldTerm,
};
pub use label::{LabelSelector, Labels, Operator, Requirement};
pub use selectable::selectable;

#[cfg(test)]
#[path = "selector/label_test.rs"]
mod label_tests;

#[cfg(test)]
#[path = "selector/field_test.rs"]
mod field_tests;
