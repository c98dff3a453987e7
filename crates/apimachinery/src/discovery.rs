//! Discovery documents built from a [`Registry`]: the legacy ones
//! (`/api`, `/apis`, `/apis/<g>`, `/api/v1`, `/apis/<g>/<v>`) and
//! aggregated discovery v2 (`/api` and `/apis` when the client asks for
//! `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`).
//!
//! The shapes follow what kube-apiserver writes, key for key:
//! - `/api` is `APIVersions` without `apiVersion`; `/api/v1` is an
//!   `APIResourceList` without `apiVersion`; the `/apis...` documents carry
//!   `apiVersion: v1`.
//! - resources and subresources are listed by name; a subresource is a
//!   separate entry `pods/status` whose `group`/`version` are set only when
//!   its payload lives in another group-version (`deployments/scale` →
//!   `autoscaling/v1 Scale`); `singularName` is always present (empty for
//!   subresources).
//! - aggregated `responseKind` copies the legacy entry's group/version/kind,
//!   so its group and version are empty unless the payload is foreign;
//!   every version is `freshness: Current`.
//! - groups are in kube-apiserver's priority order, versions preferred
//!   first, and `preferredVersion` equals the first `versions` entry.
//!
//! The caller serializes the returned structs with `serde_json` and, for
//! aggregated documents, sets [`AGGREGATED_DISCOVERY_CONTENT_TYPE`].

use serde::{Deserialize, Serialize};

use crate::registry::{group_version, Registry, ResourceInfo};
use crate::status::ApiError;

/// The response `Content-Type` of aggregated discovery v2; clients decide
/// the format from it.
pub const AGGREGATED_DISCOVERY_CONTENT_TYPE: &str =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

/// `apiVersion` of the aggregated documents.
pub const AGGREGATED_DISCOVERY_API_VERSION: &str = "apidiscovery.k8s.io/v2";

/// `GET /api`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiVersions {
    /// `APIVersions`.
    pub kind: String,
    /// The core versions (`["v1"]`).
    pub versions: Vec<String>,
    /// Where clients reach the server; always present (Python requires it).
    #[serde(rename = "serverAddressByClientCIDRs")]
    pub server_address_by_client_cidrs: Vec<ServerAddressByClientCidr>,
}

/// One `serverAddressByClientCIDRs` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerAddressByClientCidr {
    /// Client network (`0.0.0.0/0`).
    #[serde(rename = "clientCIDR")]
    pub client_cidr: String,
    /// `host:port` clients in that network should use.
    #[serde(rename = "serverAddress")]
    pub server_address: String,
}

impl ServerAddressByClientCidr {
    /// The entry kube-apiserver writes for its advertise address:
    /// every client (`0.0.0.0/0`) uses `server_address`.
    pub fn any(server_address: &str) -> Self {
        ServerAddressByClientCidr {
            client_cidr: "0.0.0.0/0".into(),
            server_address: server_address.into(),
        }
    }
}

/// `GET /apis`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupList {
    /// `APIGroupList`.
    pub kind: String,
    /// `v1`.
    pub api_version: String,
    /// Named groups in priority order (no core group).
    pub groups: Vec<ApiGroup>,
}

/// An `APIGroup` (an entry of `/apis`, or the whole `/apis/<g>` document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroup {
    /// `APIGroup` on `/apis/<g>`, absent inside a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `v1` on `/apis/<g>`, absent inside a list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Group name.
    pub name: String,
    /// Served versions, preferred first.
    pub versions: Vec<GroupVersionForDiscovery>,
    /// Identical to `versions[0]`.
    pub preferred_version: GroupVersionForDiscovery,
}

/// `{groupVersion, version}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupVersionForDiscovery {
    /// `apps/v1`.
    pub group_version: String,
    /// `v1`.
    pub version: String,
}

/// `GET /api/v1`, `GET /apis/<g>/<v>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceList {
    /// `APIResourceList`.
    pub kind: String,
    /// `v1` for named groups; absent on `/api/v1` like kube-apiserver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `v1` or `apps/v1`.
    pub group_version: String,
    /// Resources and subresources, by name.
    pub resources: Vec<ApiResource>,
}

/// One legacy `APIResource` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResource {
    /// Plural, or `plural/subresource`.
    pub name: String,
    /// Singular; empty for subresources (the key is always present).
    pub singular_name: String,
    /// Scope.
    pub namespaced: bool,
    /// Payload group when it differs from the list's group-version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Payload version when the group-version differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Payload kind.
    pub kind: String,
    /// Verbs, sorted.
    pub verbs: Vec<String>,
    /// Short names, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    /// Categories, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
}

/// Aggregated discovery: `APIGroupDiscoveryList`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiGroupDiscoveryList {
    /// `APIGroupDiscoveryList`.
    pub kind: String,
    /// `apidiscovery.k8s.io/v2`.
    pub api_version: String,
    /// Empty list metadata (`{}`).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// Groups in priority order.
    pub items: Vec<ApiGroupDiscovery>,
}

/// Aggregated discovery: one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiGroupDiscovery {
    /// `{"name": <group>}` (`""` for core).
    pub metadata: GroupMetadata,
    /// Versions, preferred first.
    pub versions: Vec<ApiVersionDiscovery>,
}

/// Metadata of an [`ApiGroupDiscovery`]: only the name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMetadata {
    /// Group name.
    pub name: String,
}

/// Aggregated discovery: one version of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiVersionDiscovery {
    /// `v1`.
    pub version: String,
    /// Resources by name.
    pub resources: Vec<ApiResourceDiscovery>,
    /// Always `Current` here.
    pub freshness: String,
}

/// Aggregated discovery: one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResourceDiscovery {
    /// Plural.
    pub resource: String,
    /// Payload GVK; a resource without it is dropped by client-go.
    pub response_kind: GroupVersionKind,
    /// `Namespaced` or `Cluster`.
    pub scope: String,
    /// Singular.
    pub singular_resource: String,
    /// Verbs, sorted.
    pub verbs: Vec<String>,
    /// Short names, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub short_names: Vec<String>,
    /// Categories, omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub categories: Vec<String>,
    /// Subresources by name, omitted when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subresources: Vec<ApiSubresourceDiscovery>,
}

/// Aggregated discovery: one subresource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiSubresourceDiscovery {
    /// `status`, `scale`, ...
    pub subresource: String,
    /// Payload GVK.
    pub response_kind: GroupVersionKind,
    /// Verbs, sorted.
    pub verbs: Vec<String>,
}

/// `{group, version, kind}` (all keys always present).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupVersionKind {
    /// Group (may be empty).
    pub group: String,
    /// Version (may be empty: same as the enclosing group-version).
    pub version: String,
    /// Kind.
    pub kind: String,
}

/// Which discovery format a request asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryFormat {
    /// Aggregated discovery v2 (`APIGroupDiscoveryList`).
    Aggregated,
    /// Legacy `APIVersions` / `APIGroupList`.
    Legacy,
}

/// Picks the format for `GET /api` or `GET /apis` from the `Accept`
/// header: the first acceptable clause (by `q`, then order) wins. The v2
/// clause (`application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`,
/// parameters in any order, extra ones such as `charset` or `profile`
/// ignored) selects aggregated; plain `application/json`, `application/*`
/// or `*/*` select legacy; clauses we cannot honour (`v2beta1`, protobuf,
/// other `as=` transforms) are skipped. No header means legacy; nothing
/// acceptable is `406 NotAcceptable`.
pub fn negotiate_discovery(accept: Option<&str>) -> Result<DiscoveryFormat, ApiError> {
    let Some(accept) = accept.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(DiscoveryFormat::Legacy);
    };
    let mut clauses: Vec<(f32, usize, DiscoveryFormat)> = Vec::new();
    for (idx, clause) in accept.split(',').enumerate() {
        let mut parts = clause.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let mut q = 1.0f32;
        let (mut g, mut v, mut as_) = (None, None, None);
        for p in parts {
            let Some((k, val)) = p.split_once('=') else {
                continue;
            };
            let val = val.trim().trim_matches('"');
            match k.trim().to_ascii_lowercase().as_str() {
                "q" => q = val.parse().unwrap_or(1.0),
                "g" => g = Some(val.to_string()),
                "v" => v = Some(val.to_string()),
                "as" => as_ = Some(val.to_string()),
                _ => {}
            }
        }
        if q <= 0.0 {
            continue;
        }
        let json_like = matches!(media.as_str(), "application/json" | "application/*" | "*/*");
        let format = match (g.as_deref(), v.as_deref(), as_.as_deref()) {
            (None, None, None) if json_like => Some(DiscoveryFormat::Legacy),
            (Some("apidiscovery.k8s.io"), Some("v2"), Some("APIGroupDiscoveryList"))
                if media == "application/json" =>
            {
                Some(DiscoveryFormat::Aggregated)
            }
            _ => None,
        };
        if let Some(f) = format {
            clauses.push((q, idx, f));
        }
    }
    clauses.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    match clauses.first() {
        Some((_, _, f)) => Ok(*f),
        None => Err(ApiError::not_acceptable(&[
            "application/json",
            AGGREGATED_DISCOVERY_CONTENT_TYPE,
        ])),
    }
}

/// Whether the `Accept` header asks for aggregated discovery v2 (and that
/// is what we should answer).
pub fn wants_aggregated(accept: Option<&str>) -> bool {
    matches!(negotiate_discovery(accept), Ok(DiscoveryFormat::Aggregated))
}

/// `GET /api`.
pub fn api_versions(
    reg: &Registry,
    server_addresses: Vec<ServerAddressByClientCidr>,
) -> ApiVersions {
    let versions = reg
        .groups()
        .into_iter()
        .find(|g| g.name.is_empty())
        .map(|g| g.versions)
        .unwrap_or_default();
    ApiVersions {
        kind: "APIVersions".into(),
        versions,
        server_address_by_client_cidrs: server_addresses,
    }
}

fn gv_entry(group: &str, version: &str) -> GroupVersionForDiscovery {
    GroupVersionForDiscovery {
        group_version: group_version(group, version),
        version: version.into(),
    }
}

fn group_entry(name: &str, versions: &[String]) -> Option<ApiGroup> {
    let entries: Vec<GroupVersionForDiscovery> =
        versions.iter().map(|v| gv_entry(name, v)).collect();
    let preferred = entries.first()?.clone();
    Some(ApiGroup {
        kind: None,
        api_version: None,
        name: name.into(),
        versions: entries,
        preferred_version: preferred,
    })
}

/// `GET /apis`: every named group, in priority order.
pub fn api_group_list(reg: &Registry) -> ApiGroupList {
    let groups = reg
        .groups()
        .into_iter()
        .filter(|g| !g.name.is_empty())
        .filter_map(|g| group_entry(&g.name, &g.versions))
        .collect();
    ApiGroupList {
        kind: "APIGroupList".into(),
        api_version: "v1".into(),
        groups,
    }
}

/// `GET /apis/<group>`; `None` if the group is not served.
pub fn api_group(reg: &Registry, group: &str) -> Option<ApiGroup> {
    if group.is_empty() {
        return None;
    }
    let g = reg.groups().into_iter().find(|g| g.name == group)?;
    let mut doc = group_entry(&g.name, &g.versions)?;
    doc.kind = Some("APIGroup".into());
    doc.api_version = Some("v1".into());
    Some(doc)
}

fn legacy_entries(info: &ResourceInfo) -> Vec<ApiResource> {
    let mut out = vec![ApiResource {
        name: info.plural.clone(),
        singular_name: info.singular.clone(),
        namespaced: info.namespaced,
        group: None,
        version: None,
        kind: info.kind.clone(),
        verbs: info.verbs.clone(),
        short_names: info.short_names.clone(),
        categories: info.categories.clone(),
    }];
    for sub in &info.subresources {
        let (g, v, kind) = info.subresource_gvk(sub);
        let foreign = g != info.group || v != info.version;
        out.push(ApiResource {
            name: format!("{}/{}", info.plural, sub.name),
            singular_name: String::new(),
            namespaced: info.namespaced,
            group: foreign.then(|| g.clone()),
            version: foreign.then(|| v.clone()),
            kind,
            verbs: sub.verbs.clone(),
            short_names: Vec::new(),
            categories: Vec::new(),
        });
    }
    out
}

/// `GET /api/v1` (group `""`) or `GET /apis/<group>/<version>`; `None` if
/// that group-version is not served.
pub fn api_resource_list(reg: &Registry, group: &str, version: &str) -> Option<ApiResourceList> {
    let infos = reg.resources_in(group, version);
    if infos.is_empty() {
        return None;
    }
    let mut resources: Vec<ApiResource> = infos.into_iter().flat_map(legacy_entries).collect();
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    Some(ApiResourceList {
        kind: "APIResourceList".into(),
        api_version: (!group.is_empty()).then(|| "v1".to_string()),
        group_version: group_version(group, version),
        resources,
    })
}

fn aggregated_resource(info: &ResourceInfo) -> ApiResourceDiscovery {
    let subresources = info
        .subresources
        .iter()
        .map(|sub| {
            let (g, v, kind) = info.subresource_gvk(sub);
            let foreign = g != info.group || v != info.version;
            ApiSubresourceDiscovery {
                subresource: sub.name.clone(),
                response_kind: GroupVersionKind {
                    group: if foreign { g } else { String::new() },
                    version: if foreign { v } else { String::new() },
                    kind,
                },
                verbs: sub.verbs.clone(),
            }
        })
        .collect();
    ApiResourceDiscovery {
        resource: info.plural.clone(),
        response_kind: GroupVersionKind {
            group: String::new(),
            version: String::new(),
            kind: info.kind.clone(),
        },
        scope: if info.namespaced {
            "Namespaced"
        } else {
            "Cluster"
        }
        .into(),
        singular_resource: info.singular.clone(),
        verbs: info.verbs.clone(),
        short_names: info.short_names.clone(),
        categories: info.categories.clone(),
        subresources,
    }
}

fn aggregated(reg: &Registry, core: bool) -> ApiGroupDiscoveryList {
    let items = reg
        .groups()
        .into_iter()
        .filter(|g| g.name.is_empty() == core)
        .map(|g| ApiGroupDiscovery {
            metadata: GroupMetadata {
                name: g.name.clone(),
            },
            versions: g
                .versions
                .iter()
                .map(|v| ApiVersionDiscovery {
                    version: v.clone(),
                    resources: reg
                        .resources_in(&g.name, v)
                        .into_iter()
                        .map(aggregated_resource)
                        .collect(),
                    freshness: "Current".into(),
                })
                .collect(),
        })
        .collect();
    ApiGroupDiscoveryList {
        kind: "APIGroupDiscoveryList".into(),
        api_version: AGGREGATED_DISCOVERY_API_VERSION.into(),
        metadata: serde_json::Map::new(),
        items,
    }
}

/// Aggregated `GET /api`: one item, the core group (name `""`).
pub fn aggregated_core(reg: &Registry) -> ApiGroupDiscoveryList {
    aggregated(reg, true)
}

/// Aggregated `GET /apis`: every named group, in priority order.
pub fn aggregated_groups(reg: &Registry) -> ApiGroupDiscoveryList {
    aggregated(reg, false)
}

#[cfg(test)]
#[path = "discovery_test.rs"]
mod tests;
