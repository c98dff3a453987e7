//! [`CustomResource`]: what one served version of a CRD adds to the
//! [`ResourceInfo`](crate::ResourceInfo) the API serves it under.

use serde_json::Value;

use super::columns;
use super::schema;

/// What one served version of a CRD adds to a [`ResourceInfo`].
#[derive(Debug)]
pub struct CustomResource {
    /// The CRD's name (`crontabs.stable.example.com`).
    pub crd: String,
    /// The CRD's uid and resourceVersion this was built from.
    pub source: String,
    pub schema: Option<schema::Schema>,
    /// The version's `openAPIV3Schema` as written (for OpenAPI documents).
    pub raw_schema: Option<Value>,
    pub columns: Vec<columns::Column>,
    /// The version objects are stored in.
    pub storage_version: String,
    /// `spec.replicas`-like paths of the scale subresource.
    pub scale: Option<ScalePaths>,
    pub has_status: bool,
    /// The CRD is being deleted: its objects can be read and deleted, not
    /// created.
    pub terminating: bool,
}

impl PartialEq for CustomResource {
    fn eq(&self, other: &Self) -> bool {
        self.crd == other.crd
            && self.source == other.source
            && self.terminating == other.terminating
    }
}

impl Eq for CustomResource {}

/// The scale subresource's JSON paths (`.spec.replicas`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    pub spec_replicas: String,
    pub status_replicas: String,
    pub label_selector: Option<String>,
}
