//! Who is making a request: the result of authentication.

/// The group every authenticated user belongs to.
pub const GROUP_AUTHENTICATED: &str = "system:authenticated";
/// The group of requests without credentials.
pub const GROUP_UNAUTHENTICATED: &str = "system:unauthenticated";
/// The group whose members may do anything (cluster-admin without RBAC).
pub const GROUP_MASTERS: &str = "system:masters";
/// The user name of requests without credentials.
pub const USER_ANONYMOUS: &str = "system:anonymous";

/// An authenticated (or anonymous) user, as kube-apiserver's `user.Info`.
///
/// Handlers find it in the request's extensions once the authentication
/// middleware ([`crate::authn`]) has run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserInfo {
    /// The user name: a client certificate's common name, a token's user.
    pub name: String,
    /// A unique id, when the authenticator knows one (tokens do).
    pub uid: String,
    /// Group names, `system:authenticated` included for authenticated users.
    pub groups: Vec<String>,
}

impl UserInfo {
    /// An authenticated user: `groups` plus `system:authenticated`.
    pub fn authenticated(
        name: impl Into<String>,
        uid: impl Into<String>,
        groups: impl IntoIterator<Item = String>,
    ) -> Self {
        let mut groups: Vec<String> = groups.into_iter().filter(|g| !g.is_empty()).collect();
        if !groups.iter().any(|g| g == GROUP_AUTHENTICATED) {
            groups.push(GROUP_AUTHENTICATED.to_owned());
        }
        UserInfo {
            name: name.into(),
            uid: uid.into(),
            groups,
        }
    }

    /// The user of a request that carried no credentials.
    pub fn anonymous() -> Self {
        UserInfo {
            name: USER_ANONYMOUS.to_owned(),
            uid: String::new(),
            groups: vec![GROUP_UNAUTHENTICATED.to_owned()],
        }
    }

    /// Whether this is the anonymous user.
    pub fn is_anonymous(&self) -> bool {
        self.name == USER_ANONYMOUS
    }

    /// Whether the user belongs to `group`.
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authenticated_adds_the_group_once() {
        let u = UserInfo::authenticated("a", "", ["x".to_owned(), GROUP_AUTHENTICATED.to_owned()]);
        assert_eq!(u.groups, ["x", GROUP_AUTHENTICATED]);
        let u = UserInfo::authenticated("a", "", [String::new()]);
        assert_eq!(u.groups, [GROUP_AUTHENTICATED]);
    }

    #[test]
    fn anonymous() {
        let u = UserInfo::anonymous();
        assert!(u.is_anonymous());
        assert!(u.in_group(GROUP_UNAUTHENTICATED));
        assert!(!u.in_group(GROUP_AUTHENTICATED));
    }
}
