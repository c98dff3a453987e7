//! Label and field selectors: parsing the `labelSelector` / `fieldSelector`
//! query parameters the way kube-apiserver does, matching objects, and the
//! field labels each kind supports.
//!
//! - [`LabelSelector`] (in `selector/label.rs`): `=`, `==`, `!=`, `in`,
//!   `notin`, `key`, `!key`, `>`, `<`, comma-separated.
//! - [`FieldSelector`] (in `selector/field.rs`): `=`, `==`, `!=` on dotted
//!   field labels, checked per kind with [`FieldSelector::for_kind`].
//!
//! Every parse or label error is a `400 BadRequest` [`crate::ApiError`].

mod field;
mod label;

pub use field::{
    convert_field_label, field_value, kind_field_labels, supported_field_labels, FieldOp,
    FieldSelector, FieldTerm,
};
pub use label::{LabelSelector, Labels, Operator, Requirement};

#[cfg(test)]
#[path = "selector/label_test.rs"]
mod label_tests;

#[cfg(test)]
#[path = "selector/field_test.rs"]
mod field_tests;
