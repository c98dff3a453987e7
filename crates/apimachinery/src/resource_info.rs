//! [`ResourceInfo`]: one served resource — its group/version/kind and
//! plural, scope, verbs, short names, categories and
//! [`SubresourceInfo`]s — and the verb sets they use. The registry holds
//! them; the built-in table and CRDs make them.

use crate::crd::custom_resource::CustomResource;

/// The eight verbs of an ordinary stored resource, in discovery order.
pub const VERBS_ALL: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
/// Namespaces: everything but `deletecollection`.
pub const VERBS_NAMESPACE: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];
/// Read-only resources (`componentstatuses`).
pub const VERBS_GET_LIST: &[&str] = &["get", "list"];
/// `status` and `scale` subresources.
pub const VERBS_GET_PATCH_UPDATE: &[&str] = &["get", "patch", "update"];
/// Create-only resources and subresources (`bindings`, `pods/binding`, `pods/eviction`).
pub const VERBS_CREATE: &[&str] = &["create"];
/// `namespaces/finalize`.
pub const VERBS_UPDATE: &[&str] = &["update"];
/// `pods/exec`, `pods/attach`, `pods/portforward` (GET or POST).
pub const VERBS_CONNECT: &[&str] = &["create", "get"];
/// `pods/proxy`, `services/proxy`, `nodes/proxy`: every method.
pub const VERBS_PROXY: &[&str] = &["create", "delete", "get", "patch", "update"];

/// A subresource of a resource (`pods/status`, `deployments/scale`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubresourceInfo {
    /// The path segment after the object name (`status`, `scale`).
    pub name: String,
    /// Group of the payload when it differs from the parent's group-version
    /// (`autoscaling` for `scale`); `None` = same as the parent.
    pub group: Option<String>,
    /// Version of the payload when the group-version differs (`v1`).
    pub version: Option<String>,
    /// Payload kind (`Scale`, `Eviction`, or the parent's kind).
    pub kind: String,
    /// Verbs, sorted.
    pub verbs: Vec<String>,
}

impl SubresourceInfo {
    /// A subresource whose payload is in the parent's group-version.
    pub fn new(name: &str, kind: &str, verbs: &[&str]) -> Self {
        SubresourceInfo {
            name: name.into(),
            group: None,
            version: None,
            kind: kind.into(),
            verbs: sorted(verbs),
        }
    }

    /// A subresource whose payload lives in another group-version
    /// (`deployments/scale` → `autoscaling/v1 Scale`).
    pub fn foreign(name: &str, group: &str, version: &str, kind: &str, verbs: &[&str]) -> Self {
        SubresourceInfo {
            name: name.into(),
            group: Some(group.into()),
            version: Some(version.into()),
            kind: kind.into(),
            verbs: sorted(verbs),
        }
    }

    /// The subresource's conventional `status` with get/patch/update.
    pub fn status(kind: &str) -> Self {
        SubresourceInfo::new("status", kind, VERBS_GET_PATCH_UPDATE)
    }

    /// `scale` as `autoscaling/v1 Scale` with get/patch/update.
    pub fn scale() -> Self {
        SubresourceInfo::foreign(
            "scale",
            "autoscaling",
            "v1",
            "Scale",
            VERBS_GET_PATCH_UPDATE,
        )
    }

    /// Whether this subresource supports `verb`.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }
}

/// One served resource in one group-version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group; `""` is the core (legacy) group.
    pub group: String,
    /// Version (`v1`).
    pub version: String,
    /// Kind (`Pod`).
    pub kind: String,
    /// Kind of list responses (`PodList`).
    pub list_kind: String,
    /// Plural, the URL segment (`pods`).
    pub plural: String,
    /// Singular (`pod`).
    pub singular: String,
    /// Namespaced (`true`) or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`po`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Verbs, sorted as discovery lists them.
    pub verbs: Vec<String>,
    /// Subresources, sorted by name.
    pub subresources: Vec<SubresourceInfo>,
    /// What a CustomResourceDefinition declares for this resource (schema,
    /// printer columns, ...); `None` for built-in resources.
    pub custom: Option<std::sync::Arc<CustomResource>>,
    /// The warning every response about a deprecated resource carries
    /// (`v1 ComponentStatus is deprecated in v1.19+`); `None` when served
    /// without one.
    pub deprecation: Option<String>,
}

impl ResourceInfo {
    /// A resource with the given names; list kind `<Kind>List`, no short
    /// names, categories or subresources, all eight verbs.
    pub fn new(
        group: &str,
        version: &str,
        kind: &str,
        plural: &str,
        singular: &str,
        namespaced: bool,
    ) -> Self {
        ResourceInfo {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            list_kind: format!("{kind}List"),
            plural: plural.into(),
            singular: singular.into(),
            namespaced,
            short_names: Vec::new(),
            categories: Vec::new(),
            verbs: sorted(VERBS_ALL),
            subresources: Vec::new(),
            custom: None,
            deprecation: None,
        }
    }

    /// Sets the short names.
    pub fn with_short_names(mut self, names: &[&str]) -> Self {
        self.short_names = names.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Sets the categories.
    pub fn with_categories(mut self, cats: &[&str]) -> Self {
        self.categories = cats.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Marks the resource deprecated: responses carry `warning`.
    pub fn with_deprecation(mut self, warning: &str) -> Self {
        self.deprecation = Some(warning.to_string());
        self
    }

    /// Sets the verbs (stored sorted).
    pub fn with_verbs(mut self, verbs: &[&str]) -> Self {
        self.verbs = sorted(verbs);
        self
    }

    /// Adds a subresource (kept sorted by name).
    pub fn with_subresource(mut self, sub: SubresourceInfo) -> Self {
        self.subresources.retain(|s| s.name != sub.name);
        self.subresources.push(sub);
        self.subresources.sort_by(|a, b| a.name.cmp(&b.name));
        self
    }

    /// `v1` for core, `<group>/<version>` otherwise (the `apiVersion` field).
    pub fn api_version(&self) -> String {
        group_version(&self.group, &self.version)
    }

    /// Whether this is in the core (legacy, `/api`) group.
    pub fn is_core(&self) -> bool {
        self.group.is_empty()
    }

    /// Whether the resource itself supports `verb`.
    pub fn has_verb(&self, verb: &str) -> bool {
        self.verbs.iter().any(|v| v == verb)
    }

    /// The subresource with this name.
    pub fn subresource(&self, name: &str) -> Option<&SubresourceInfo> {
        self.subresources.iter().find(|s| s.name == name)
    }

    /// `(group, version, kind)` of a subresource's payload.
    pub fn subresource_gvk(&self, sub: &SubresourceInfo) -> (String, String, String) {
        match (&sub.group, &sub.version) {
            (Some(g), Some(v)) => (g.clone(), v.clone(), sub.kind.clone()),
            (Some(g), None) => (g.clone(), self.version.clone(), sub.kind.clone()),
            (None, Some(v)) => (self.group.clone(), v.clone(), sub.kind.clone()),
            (None, None) => (self.group.clone(), self.version.clone(), sub.kind.clone()),
        }
    }

    /// The store key prefix of DESIGN.md's key layout:
    /// `/registry/<group>/<plural>` (core without the group segment).
    pub fn storage_prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/registry/{}", self.plural)
        } else {
            format!("/registry/{}/{}", self.group, self.plural)
        }
    }
}

/// `v1` for the core group, `<group>/<version>` otherwise.
pub fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn sorted(verbs: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = verbs.iter().map(|s| s.to_string()).collect();
    v.sort();
    v.dedup();
    v
}
