//! Authorization: may this user do what the request asks?
//!
//! [`Authorizer`] is the slot RBAC will fill. Until then
//! [`BootstrapAuthorizer`] applies the part of kube-apiserver's bootstrap
//! policy that needs no stored roles: `system:masters` may do anything,
//! anyone may read the public-info paths (`system:public-info-viewer`), and
//! authenticated users may read discovery (`system:discovery`).

use crate::request_attributes::RequestAttributes;
use rkube_apimachinery::ApiError;

use crate::user::{UserInfo, GROUP_AUTHENTICATED, GROUP_MASTERS};

/// An authorizer's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Refused; `reason` (may be empty) is appended to the 403 message.
    Deny {
        reason: String,
    },
    /// Neither allowed nor denied: a chain asks the next authorizer; at the
    /// end of the chain it is a refusal.
    NoOpinion,
}

/// Decides whether a user may perform a request.
pub trait Authorizer: Send + Sync + 'static {
    fn authorize(&self, user: &UserInfo, attrs: &RequestAttributes) -> Decision;
}

/// Non-resource paths anyone may `get`, authenticated or not.
pub const PUBLIC_INFO_PATHS: &[&str] = &["/healthz", "/livez", "/readyz", "/version", "/version/"];

/// The policy that needs no stored roles; see the module documentation.
#[derive(Clone, Copy, Debug, Default)]
pub struct BootstrapAuthorizer;

impl Authorizer for BootstrapAuthorizer {
    fn authorize(&self, user: &UserInfo, attrs: &RequestAttributes) -> Decision {
        if user.in_group(GROUP_MASTERS) {
            return Decision::Allow;
        }
        if !attrs.is_resource_request && matches!(attrs.verb.as_str(), "get" | "head") {
            let path = attrs.path.as_str();
            if PUBLIC_INFO_PATHS.contains(&path) {
                return Decision::Allow;
            }
            if user.in_group(GROUP_AUTHENTICATED) && is_discovery_path(path) {
                return Decision::Allow;
            }
        }
        Decision::NoOpinion
    }
}

/// `system:discovery`'s paths: `/api`, `/apis`, `/openapi` and below.
fn is_discovery_path(path: &str) -> bool {
    ["/api", "/apis", "/openapi"].iter().any(|root| {
        path == *root
            || path
                .strip_prefix(root)
                .is_some_and(|rest| rest.starts_with('/'))
    })
}

/// The 403 kube-apiserver answers when authorization fails, e.g.
/// `pods "p" is forbidden: User "bob" cannot get resource "pods" in API
/// group "" in the namespace "ns"`; `reason` (if any) follows after `: `.
pub fn forbidden(user: &UserInfo, attrs: &RequestAttributes, reason: &str) -> ApiError {
    let mut message = if attrs.is_resource_request {
        let mut resource = attrs.resource.clone();
        if !attrs.subresource.is_empty() {
            resource.push('/');
            resource.push_str(&attrs.subresource);
        }
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace {:?}", attrs.namespace)
        };
        format!(
            "User {:?} cannot {} resource {:?} in API group {:?} {scope}",
            user.name, attrs.verb, resource, attrs.api_group
        )
    } else {
        format!(
            "User {:?} cannot {} path {:?}",
            user.name, attrs.verb, attrs.path
        )
    };
    if !reason.is_empty() {
        message.push_str(": ");
        message.push_str(reason);
    }
    if attrs.is_resource_request {
        ApiError::forbidden(&attrs.api_group, &attrs.resource, &attrs.name, message)
    } else {
        ApiError::forbidden("", "", "", message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, path: &str) -> RequestAttributes {
        RequestAttributes::from_request(method, path, None)
    }

    #[test]
    fn bootstrap_policy() {
        let admin = UserInfo::authenticated("a", "", [GROUP_MASTERS.to_owned()]);
        let bob = UserInfo::authenticated("bob", "", []);
        let anonymous = UserInfo::anonymous();
        let authz = BootstrapAuthorizer;
        let pods = attrs("DELETE", "/api/v1/namespaces/ns/pods/p");
        assert_eq!(authz.authorize(&admin, &pods), Decision::Allow);
        assert_eq!(authz.authorize(&bob, &pods), Decision::NoOpinion);
        for path in ["/version", "/healthz", "/readyz", "/livez"] {
            assert_eq!(
                authz.authorize(&anonymous, &attrs("GET", path)),
                Decision::Allow
            );
        }
        for path in ["/api", "/api/v1", "/apis/apps/v1", "/openapi/v3"] {
            assert_eq!(
                authz.authorize(&bob, &attrs("GET", path)),
                Decision::Allow,
                "{path}"
            );
            assert_eq!(
                authz.authorize(&anonymous, &attrs("GET", path)),
                Decision::NoOpinion,
                "{path}"
            );
        }
        assert_eq!(
            authz.authorize(&bob, &attrs("GET", "/apiary")),
            Decision::NoOpinion
        );
        assert_eq!(
            authz.authorize(&bob, &attrs("POST", "/api")),
            Decision::NoOpinion
        );
    }

    #[test]
    fn forbidden_messages_follow_kube_apiserver() {
        let bob = UserInfo::authenticated("bob", "", []);
        let cases = [
            (
                attrs("GET", "/api/v1/namespaces/ns/pods/p/log"),
                r#"pods "p" is forbidden: User "bob" cannot get resource "pods/log" in API group "" in the namespace "ns""#,
            ),
            (
                attrs("GET", "/apis/apps/v1/deployments"),
                r#"deployments.apps is forbidden: User "bob" cannot list resource "deployments" in API group "apps" at the cluster scope"#,
            ),
            (
                attrs("GET", "/metrics"),
                r#"forbidden: User "bob" cannot get path "/metrics""#,
            ),
        ];
        for (a, want) in cases {
            assert_eq!(forbidden(&bob, &a, "").message(), want);
        }
        let error = forbidden(&bob, &attrs("GET", "/metrics"), "no RBAC yet");
        assert!(error.message().ends_with(": no RBAC yet"));
        assert_eq!(error.code(), 403);
        assert_eq!(error.reason(), "Forbidden");
        let details = forbidden(&bob, &attrs("GET", "/api/v1/namespaces/ns/pods/p"), "")
            .status()
            .details
            .expect("details");
        assert_eq!(
            (details.kind.as_str(), details.name.as_str()),
            ("pods", "p")
        );
    }
}
