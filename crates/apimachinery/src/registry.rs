//! The resource registry: which resources the API serves, under which
//! group/version/kind and plural, with which scope, verbs, short names,
//! categories and subresources.
//!
//! [`Registry::builtin`] holds exactly what kube-apiserver 1.37 serves for
//! the resources rkube implements (the table is in `builtin.rs`);
//! [`Registry::insert`] adds more (CRDs) at run time.
//! Everything the discovery documents, routing and the CLI need to know
//! about a resource is here; nothing here does I/O.

use std::cmp::Ordering;

pub use crate::resource_info::{
    group_version, ResourceInfo, SubresourceInfo, VERBS_ALL, VERBS_CREATE, VERBS_GET_LIST,
    VERBS_GET_PATCH_UPDATE, VERBS_NAMESPACE, VERBS_UPDATE,
};

/// Discovery priority of an API group, from kube-apiserver's aggregator
/// table (`DefaultGenericAPIServicePriorities` plus the kube-apiserver
/// groups): higher is listed first. Groups it does not know (CRDs) get
/// 1000, the priority kube-apiserver gives CRD groups.
pub fn group_priority(group: &str) -> u32 {
    match group {
        "" | "apiregistration.k8s.io" => 18000,
        "apps" => 17800,
        "events.k8s.io" => 17750,
        "authentication.k8s.io" => 17700,
        "authorization.k8s.io" => 17600,
        "autoscaling" => 17500,
        "batch" => 17400,
        "certificates.k8s.io" => 17300,
        "networking.k8s.io" => 17200,
        "policy" => 17100,
        "rbac.authorization.k8s.io" => 17000,
        "storage.k8s.io" => 16800,
        "apiextensions.k8s.io" | "admissionregistration.k8s.io" => 16700,
        "scheduling.k8s.io" => 16600,
        "coordination.k8s.io" => 16500,
        "node.k8s.io" => 16300,
        "discovery.k8s.io" => 16200,
        "flowcontrol.apiserver.k8s.io" => 16100,
        "internal.apiserver.k8s.io" => 16000,
        // metrics-server's APIService asks for 100.
        "metrics.k8s.io" => 100,
        _ => 1000,
    }
}

/// Orders two group names as `/apis` lists them: priority descending, then
/// by name.
pub fn compare_groups(a: &str, b: &str) -> Ordering {
    group_priority(b)
        .cmp(&group_priority(a))
        .then_with(|| a.cmp(b))
}

/// Orders versions by Kubernetes' version priority, most preferred first:
/// GA before beta before alpha, higher major first, then higher minor;
/// versions not of the form `v<N>[(alpha|beta)<M>]` come last, by name.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn parse(v: &str) -> Option<(u8, u64, u64)> {
        let rest = v.strip_prefix('v')?;
        let digits = rest.bytes().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        let major: u64 = rest[..digits].parse().ok()?;
        let tail = &rest[digits..];
        if tail.is_empty() {
            return Some((2, major, 0));
        }
        let (level, num) = if let Some(n) = tail.strip_prefix("beta") {
            (1, n)
        } else if let Some(n) = tail.strip_prefix("alpha") {
            (0, n)
        } else {
            return None;
        };
        if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        Some((level, major, num.parse().ok()?))
    }
    match (parse(a), parse(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => a.cmp(b),
    }
}

/// One API group and its versions, preferred first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupVersions {
    /// Group name (`""` for core).
    pub name: String,
    /// Versions in descending preference; the first is preferred.
    pub versions: Vec<String>,
}

impl GroupVersions {
    /// The preferred version.
    pub fn preferred(&self) -> Option<&str> {
        self.versions.first().map(String::as_str)
    }
}

/// The set of served resources.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registry {
    resources: Vec<ResourceInfo>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// The built-in resources rkube serves, as kube-apiserver 1.37 does.
    pub fn builtin() -> Self {
        let mut r = Registry::new();
        for info in crate::builtin::resources() {
            r.insert(info);
        }
        r
    }

    /// Adds a resource, replacing one with the same group, version and
    /// plural (returned).
    pub fn insert(&mut self, info: ResourceInfo) -> Option<ResourceInfo> {
        let old = self.remove(&info.group, &info.version, &info.plural);
        self.resources.push(info);
        old
    }

    /// Removes a resource.
    pub fn remove(&mut self, group: &str, version: &str, plural: &str) -> Option<ResourceInfo> {
        let idx = self
            .resources
            .iter()
            .position(|r| r.group == group && r.version == version && r.plural == plural)?;
        Some(self.resources.remove(idx))
    }

    /// All resources, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &ResourceInfo> {
        self.resources.iter()
    }

    /// Number of resources.
    pub fn len(&self) -> usize {
        self.resources.len()
    }

    /// Whether the registry is empty.
    pub fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }

    /// The resource at `/apis/<group>/<version>/<plural>` (core: group `""`).
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.plural == plural)
    }

    /// The resource serving `group/version, Kind=kind`.
    pub fn get_by_gvk(&self, group: &str, version: &str, kind: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .find(|r| r.group == group && r.version == version && r.kind == kind)
    }

    /// The resource serving `kind` in `group`, in the group's preferred
    /// version when several serve it.
    pub fn get_by_kind(&self, group: &str, kind: &str) -> Option<&ResourceInfo> {
        self.resources
            .iter()
            .filter(|r| r.group == group && r.kind == kind)
            .min_by(|a, b| compare_versions(&a.version, &b.version))
    }

    /// Resolves what a user typed (`po`, `pod`, `pods`, `Pod`,
    /// `deployments.apps`, `deploy.v1.apps`) the way kubectl does: plural,
    /// then singular, then short name, then kind (case-insensitive). When
    /// several groups match, the one listed first in discovery wins (so
    /// `events` and `ev` are core events); within a group, the preferred
    /// version.
    pub fn resolve(&self, arg: &str) -> Option<&ResourceInfo> {
        let arg = arg.trim().to_ascii_lowercase();
        if arg.is_empty() {
            return None;
        }
        if let Some(found) = self.resolve_name(&arg, None, None) {
            return Some(found);
        }
        let (name, rest) = arg.split_once('.')?;
        // `<name>.<version>.<group>` first, like kubectl's fully-qualified parse.
        if let Some((version, group)) = rest.split_once('.') {
            if let Some(found) = self.resolve_name(name, Some(version), Some(group)) {
                return Some(found);
            }
        }
        self.resolve_name(name, None, Some(rest))
    }

    fn resolve_name(
        &self,
        name: &str,
        version: Option<&str>,
        group: Option<&str>,
    ) -> Option<&ResourceInfo> {
        let in_scope = |r: &&ResourceInfo| {
            group.is_none_or(|g| r.group == g) && version.is_none_or(|v| r.version == v)
        };
        let matchers: [&dyn Fn(&ResourceInfo) -> bool; 4] = [
            &|r| r.plural == name,
            &|r| r.singular == name,
            &|r| r.short_names.iter().any(|s| s == name),
            &|r| r.kind.to_ascii_lowercase() == name,
        ];
        for m in matchers {
            let best = self
                .resources
                .iter()
                .filter(in_scope)
                .filter(|r| m(r))
                .min_by(|a, b| {
                    compare_groups(&a.group, &b.group)
                        .then_with(|| compare_versions(&a.version, &b.version))
                });
            if best.is_some() {
                return best;
            }
        }
        None
    }

    /// The groups served, in discovery order, each with its versions
    /// (preferred first). The core group is included as `""`.
    pub fn groups(&self) -> Vec<GroupVersions> {
        let mut groups: Vec<GroupVersions> = Vec::new();
        for r in &self.resources {
            match groups.iter_mut().find(|g| g.name == r.group) {
                Some(g) => {
                    if !g.versions.contains(&r.version) {
                        g.versions.push(r.version.clone());
                    }
                }
                None => groups.push(GroupVersions {
                    name: r.group.clone(),
                    versions: vec![r.version.clone()],
                }),
            }
        }
        for g in &mut groups {
            g.versions.sort_by(|a, b| compare_versions(a, b));
        }
        groups.sort_by(|a, b| compare_groups(&a.name, &b.name));
        groups
    }

    /// The resources of one group-version, sorted by plural (discovery order).
    pub fn resources_in(&self, group: &str, version: &str) -> Vec<&ResourceInfo> {
        let mut v: Vec<&ResourceInfo> = self
            .resources
            .iter()
            .filter(|r| r.group == group && r.version == version)
            .collect();
        v.sort_by(|a, b| a.plural.cmp(&b.plural));
        v
    }

    /// The resources in a category (`all`), in discovery order, preferred
    /// versions only.
    pub fn category(&self, category: &str) -> Vec<&ResourceInfo> {
        let mut out = Vec::new();
        for g in self.groups() {
            let Some(preferred) = g.preferred() else {
                continue;
            };
            for r in self.resources_in(&g.name, preferred) {
                if r.categories.iter().any(|c| c == category) {
                    out.push(r);
                }
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "registry_test.rs"]
mod tests;
