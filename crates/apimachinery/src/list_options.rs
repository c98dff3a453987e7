//! The rules kube-apiserver applies to the query of a list or watch before
//! it reads anything (`meta.k8s.io` `ListOptions` validation): which
//! combinations of `resourceVersion`, `resourceVersionMatch`, `continue` and
//! `sendInitialEvents` make sense. A violation is a 422 `Invalid` on kind
//! `ListOptions` of group `meta.k8s.io`.

use crate::cause::Cause;
use crate::status::ApiError;

/// `resourceVersionMatch=Exact`.
pub const MATCH_EXACT: &str = "Exact";
/// `resourceVersionMatch=NotOlderThan`.
pub const MATCH_NOT_OLDER_THAN: &str = "NotOlderThan";

/// The query parameters the rules look at, as the client sent them.
#[derive(Debug, Clone, Copy, Default)]
pub struct ListQuery<'a> {
    /// A watch (`watch=true` or a legacy `/watch/` path) rather than a list.
    pub watch: bool,
    pub resource_version: Option<&'a str>,
    pub resource_version_match: Option<&'a str>,
    pub continue_token: Option<&'a str>,
    /// `sendInitialEvents`, when given at all.
    pub send_initial_events: Option<bool>,
}

fn given(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

/// Every rule the query breaks, as field causes.
pub fn violations(q: &ListQuery<'_>) -> Vec<Cause> {
    let mut causes = Vec::new();
    let rv = given(q.resource_version);
    let cont = given(q.continue_token);
    if let Some(m) = given(q.resource_version_match) {
        let field = "resourceVersionMatch";
        if q.watch && q.send_initial_events.is_none() {
            causes.push(Cause::forbidden(
                field,
                "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
            ));
        }
        if rv.is_none() && !(q.watch && q.send_initial_events.is_some()) {
            causes.push(Cause::forbidden(
                field,
                "resourceVersionMatch is forbidden unless resourceVersion is provided",
            ));
        }
        if cont.is_some() {
            causes.push(Cause::forbidden(
                field,
                "resourceVersionMatch is forbidden when continue is provided",
            ));
        }
        if m != MATCH_EXACT && m != MATCH_NOT_OLDER_THAN {
            causes.push(Cause::not_supported(
                field,
                m,
                &[MATCH_EXACT, MATCH_NOT_OLDER_THAN],
            ));
        }
        if m == MATCH_EXACT && rv == Some("0") {
            causes.push(Cause::forbidden(
                field,
                "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"",
            ));
        }
    }
    if q.send_initial_events.is_some() {
        if !q.watch {
            causes.push(Cause::forbidden(
                "sendInitialEvents",
                "sendInitialEvents is forbidden for list",
            ));
        } else {
            if given(q.resource_version_match) != Some(MATCH_NOT_OLDER_THAN) {
                causes.push(Cause::forbidden(
                    "resourceVersionMatch",
                    "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
                ));
            }
            if cont.is_some() {
                causes.push(Cause::forbidden(
                    "sendInitialEvents",
                    "sendInitialEvents is forbidden when continue is provided",
                ));
            }
        }
    }
    causes
}

/// `Ok` when the query is valid, else the 422 kube-apiserver answers.
pub fn validate(q: &ListQuery<'_>) -> Result<(), ApiError> {
    let causes = violations(q);
    if causes.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid("meta.k8s.io", "ListOptions", "", causes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(q: ListQuery<'_>) -> Vec<String> {
        violations(&q).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn plain_lists_and_watches_are_valid() {
        assert!(messages(ListQuery::default()).is_empty());
        assert!(messages(ListQuery {
            resource_version: Some("10"),
            resource_version_match: Some("Exact"),
            ..Default::default()
        })
        .is_empty());
        assert!(messages(ListQuery {
            watch: true,
            send_initial_events: Some(true),
            resource_version_match: Some("NotOlderThan"),
            ..Default::default()
        })
        .is_empty());
    }

    #[test]
    fn match_needs_a_resource_version_and_no_continue() {
        assert_eq!(
            messages(ListQuery {
                resource_version_match: Some("NotOlderThan"),
                ..Default::default()
            }),
            ["resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided"]
        );
        assert_eq!(
            messages(ListQuery {
                resource_version: Some("5"),
                resource_version_match: Some("Exact"),
                continue_token: Some("abc"),
                ..Default::default()
            }),
            ["resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden when continue is provided"]
        );
    }

    #[test]
    fn unknown_match_and_exact_zero_are_refused() {
        assert_eq!(
            messages(ListQuery {
                resource_version: Some("5"),
                resource_version_match: Some("Newest"),
                ..Default::default()
            }),
            ["resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\""]
        );
        assert_eq!(
            messages(ListQuery {
                resource_version: Some("0"),
                resource_version_match: Some("Exact"),
                ..Default::default()
            }),
            ["resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""]
        );
    }

    #[test]
    fn send_initial_events_only_on_watches_with_not_older_than() {
        assert_eq!(
            messages(ListQuery {
                send_initial_events: Some(true),
                ..Default::default()
            }),
            ["sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"]
        );
        assert_eq!(
            messages(ListQuery {
                watch: true,
                send_initial_events: Some(true),
                ..Default::default()
            }),
            ["resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"]
        );
        assert_eq!(
            messages(ListQuery {
                watch: true,
                resource_version: Some("3"),
                resource_version_match: Some("NotOlderThan"),
                ..Default::default()
            }),
            ["resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"]
        );
    }

    #[test]
    fn the_error_is_invalid_list_options() {
        let e = validate(&ListQuery {
            resource_version_match: Some("Exact"),
            ..Default::default()
        })
        .expect_err("should fail");
        assert_eq!(e.code(), 422);
        assert!(e
            .message()
            .starts_with("ListOptions.meta.k8s.io \"\" is invalid: "));
    }
}
