//! Parsing resource URLs.

use rkube_apimachinery::{Registry, ResourceInfo};

/// A request for a resource, parsed from its path.
#[derive(Debug, Clone)]
pub struct ResourcePath {
    pub info: ResourceInfo,
    /// Namespace from the path (`None` for cluster-scoped or all-namespaces).
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subresource: Option<String>,
}

/// Parse the segments after `/api/v1/` or `/apis/<g>/<v>/`; `None` when no
/// resource lives there (the caller answers 404).
pub fn parse(registry: &Registry, group: &str, version: &str, rest: &str) -> Option<ResourcePath> {
    let mut segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    // The legacy `/watch/` prefix (the verb, `watch`, is the request's).
    if segs.first() == Some(&"watch") {
        segs.remove(0);
    }
    let mut namespace = None;
    if segs.len() >= 3 && segs[0] == "namespaces" {
        if let Some(info) = registry.get(group, version, segs[2]) {
            if info.namespaced {
                namespace = Some(segs[1].to_string());
                segs.drain(..2);
            }
        }
    }
    let plural = segs.first()?;
    let info = registry.get(group, version, plural)?.clone();
    let name = segs.get(1).map(|s| s.to_string());
    let subresource = segs.get(2).map(|s| s.to_string());
    // Only a proxy has a path after its subresource.
    if segs.len() > 3 && subresource.as_deref() != Some("proxy") {
        return None;
    }
    if let Some(sub) = &subresource {
        info.subresource(sub)?;
    }
    Some(ResourcePath {
        info,
        namespace,
        name,
        subresource,
    })
}
