//! What a request asks to do, in the terms an authorizer decides on:
//! kube-apiserver's `RequestInfo`, derived from the method, path and query.
//!
//! Resource requests are `/api/<version>/…` and `/apis/<group>/<version>/…`
//! with at least a resource segment:
//!
//! | path after the group/version | namespace | resource | name | subresource |
//! | --- | --- | --- | --- | --- |
//! | `pods` | | pods | | |
//! | `namespaces/ns/pods/p/log` | ns | pods | p | log |
//! | `namespaces/ns` | ns | namespaces | ns | |
//! | `namespaces/ns/status` | ns | namespaces | ns | status |
//! | `watch/namespaces/ns/pods` (verb watch) | ns | pods | | |
//!
//! Verbs: `GET`/`HEAD` → get, list without a name, watch with `?watch=true`
//! or the `watch/` prefix; `POST` → create; `PUT` → update; `PATCH` → patch;
//! `DELETE` → delete, deletecollection without a name. Everything else
//! (`/version`, `/healthz`, discovery documents such as `/api/v1`) is a
//! non-resource request whose verb is the lower-case method.

use percent_encoding::percent_decode_str;

/// The attributes of one request.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestAttributes {
    /// Whether this addresses an API resource (else a plain path).
    pub is_resource_request: bool,
    /// The request path, as sent.
    pub path: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
    /// `deletecollection`; for non-resource requests the lower-case method.
    pub verb: String,
    /// `""` for the core group.
    pub api_group: String,
    pub api_version: String,
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

impl RequestAttributes {
    /// Derive the attributes from a request's method, path and raw query.
    pub fn from_request(method: &str, path: &str, query: Option<&str>) -> Self {
        let mut attrs = RequestAttributes {
            path: path.to_owned(),
            verb: method.to_ascii_lowercase(),
            ..Self::default()
        };
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let rest = match segments.as_slice() {
            ["api", version, rest @ ..] if !rest.is_empty() => {
                attrs.api_version = (*version).to_owned();
                rest
            }
            ["apis", group, version, rest @ ..] if !rest.is_empty() => {
                attrs.api_group = (*group).to_owned();
                attrs.api_version = (*version).to_owned();
                rest
            }
            _ => return attrs,
        };

        let mut verb = match method {
            "GET" | "HEAD" => "get",
            "POST" => "create",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            _ => "",
        };
        let mut rest = rest;
        if let ["watch", after @ ..] = rest {
            if verb == "get" {
                verb = "watch";
            }
            rest = after;
        }
        if rest.is_empty() || rest[0].is_empty() {
            attrs.api_group.clear();
            attrs.api_version.clear();
            return attrs;
        }

        // namespaces/<ns>/<resource>… is namespaced; namespaces/<ns> and
        // namespaces/<ns>/{status,finalize} are the namespace object itself.
        if rest[0] == "namespaces" && rest.len() > 1 {
            attrs.namespace = rest[1].to_owned();
            if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
                rest = &rest[2..];
            }
        }
        attrs.is_resource_request = true;
        attrs.resource = rest[0].to_owned();
        attrs.name = rest.get(1).map(|s| (*s).to_owned()).unwrap_or_default();
        attrs.subresource = rest.get(2).map(|s| (*s).to_owned()).unwrap_or_default();

        let params = QueryParams(query.unwrap_or(""));
        if attrs.name.is_empty() {
            verb = match verb {
                "get" if params.is_true("watch") => "watch",
                "get" => "list",
                "delete" => "deletecollection",
                other => other,
            };
        }
        // A list or watch of exactly one object names it, as kube does.
        if matches!(verb, "list" | "watch") {
            if let Some(name) = params
                .get("fieldSelector")
                .and_then(|s| s.strip_prefix("metadata.name=").map(str::to_owned))
            {
                if !name.is_empty() && !name.contains(',') {
                    attrs.name = name;
                }
            }
        }
        attrs.verb = verb.to_owned();
        attrs
    }
}

/// Read access to a raw query string.
struct QueryParams<'a>(&'a str);

impl QueryParams<'_> {
    /// The first value of `key`, percent-decoded (`+` as a space).
    fn get(&self, key: &str) -> Option<String> {
        self.0
            .split('&')
            .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| {
                let v = v.replace('+', " ");
                percent_decode_str(&v).decode_utf8_lossy().into_owned()
            })
    }

    /// Whether `key` is set to a true value (`true` or `1`, as Go's ParseBool).
    fn is_true(&self, key: &str) -> bool {
        matches!(
            self.get(key).as_deref(),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, target: &str) -> RequestAttributes {
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        RequestAttributes::from_request(method, path, query)
    }

    /// (resource request, verb, group, namespace, resource, name, subresource)
    type Short<'a> = (bool, &'a str, &'a str, &'a str, &'a str, &'a str, &'a str);

    fn short(a: &RequestAttributes) -> Short<'_> {
        (
            a.is_resource_request,
            a.verb.as_str(),
            a.api_group.as_str(),
            a.namespace.as_str(),
            a.resource.as_str(),
            a.name.as_str(),
            a.subresource.as_str(),
        )
    }

    #[test]
    fn resource_requests() {
        let cases: &[(&str, &str, Short<'static>)] = &[
            (
                "GET",
                "/api/v1/pods",
                (true, "list", "", "", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/pods/p",
                (true, "get", "", "ns", "pods", "p", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/pods/p/log",
                (true, "get", "", "ns", "pods", "p", "log"),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/pods?watch=true",
                (true, "watch", "", "ns", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/watch/namespaces/ns/pods",
                (true, "watch", "", "ns", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/pods?watch=false",
                (true, "list", "", "ns", "pods", "", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns",
                (true, "get", "", "ns", "namespaces", "ns", ""),
            ),
            (
                "PUT",
                "/api/v1/namespaces/ns/finalize",
                (true, "update", "", "ns", "namespaces", "ns", "finalize"),
            ),
            (
                "GET",
                "/api/v1/namespaces",
                (true, "list", "", "", "namespaces", "", ""),
            ),
            (
                "POST",
                "/apis/apps/v1/namespaces/ns/deployments",
                (true, "create", "apps", "ns", "deployments", "", ""),
            ),
            (
                "PATCH",
                "/apis/apps/v1/namespaces/ns/deployments/d/scale",
                (true, "patch", "apps", "ns", "deployments", "d", "scale"),
            ),
            (
                "DELETE",
                "/apis/apps/v1/namespaces/ns/deployments",
                (
                    true,
                    "deletecollection",
                    "apps",
                    "ns",
                    "deployments",
                    "",
                    "",
                ),
            ),
            (
                "DELETE",
                "/api/v1/nodes/n1",
                (true, "delete", "", "", "nodes", "n1", ""),
            ),
            (
                "GET",
                "/api/v1/namespaces/ns/pods?&fieldSelector=metadata.name%3Dp",
                (true, "list", "", "ns", "pods", "p", ""),
            ),
        ];
        for (method, target, want) in cases {
            assert_eq!(short(&attrs(method, target)), *want, "{method} {target}");
        }
        let a = attrs("GET", "/apis/apps/v1/deployments");
        assert_eq!(a.api_version, "v1");
    }

    #[test]
    fn non_resource_requests() {
        for (method, target, verb) in [
            ("GET", "/version", "get"),
            ("GET", "/healthz", "get"),
            ("GET", "/api", "get"),
            ("GET", "/api/v1", "get"),
            ("GET", "/apis/apps/v1", "get"),
            ("GET", "/apis/apps", "get"),
            ("POST", "/openapi/v3", "post"),
            ("GET", "/", "get"),
            ("GET", "/api/v1/watch", "get"),
        ] {
            let a = attrs(method, target);
            assert!(!a.is_resource_request, "{target}");
            assert_eq!(a.verb, verb, "{target}");
            assert_eq!(a.path, target);
            assert_eq!(a.api_group, "", "{target}");
        }
    }
}
