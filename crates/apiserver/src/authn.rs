//! Authentication and the authorization check, as one axum middleware.
//!
//! Who a request is, in kube-apiserver's order:
//! 1. a client certificate rustls verified against the cluster CA
//!    ([`crate::serve::ConnectionInfo::client_cert_user`]): CN is the user,
//!    each O a group;
//! 2. `Authorization: Bearer <token>` found by a [`TokenAuthenticator`]
//!    (the header is then removed); an unknown token is a 401 whatever the
//!    path;
//! 3. otherwise anonymous (`system:anonymous`, `system:unauthenticated`),
//!    which may reach only the public-info paths
//!    ([`crate::authz::PUBLIC_INFO_PATHS`]); anywhere else it gets 401, as
//!    kube-apiserver does when anonymous auth is limited to those endpoints.
//!
//! Then the [`Authorizer`] decides; a refusal is a 403 `Status`. Handlers
//! find the [`UserInfo`] and the [`RequestAttributes`] in the request's
//! extensions.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use tracing::debug;

use crate::authz::{self, Authorizer, Decision, PUBLIC_INFO_PATHS};
use crate::request_attributes::RequestAttributes;
use crate::serve::ConnectionInfo;
use crate::status::{error_response, unauthorized};
use crate::tokens::TokenFile;
use crate::user::UserInfo;

/// Finds the user a bearer token belongs to.
pub trait TokenAuthenticator: Send + Sync + 'static {
    /// The token's user, or `None` if this authenticator does not know it.
    fn authenticate_token(&self, token: &str) -> Option<UserInfo>;
}

impl TokenAuthenticator for TokenFile {
    fn authenticate_token(&self, token: &str) -> Option<UserInfo> {
        self.lookup(token).cloned()
    }
}

/// A request that must be answered 401.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unauthenticated {
    /// A bearer token no authenticator knows.
    InvalidToken,
    /// No credentials, on a path anonymous requests may not reach.
    AnonymousNotAllowed,
}

/// Turns a request's credentials into a [`UserInfo`].
pub struct Authenticator {
    tokens: Vec<Arc<dyn TokenAuthenticator>>,
    anonymous_paths: Vec<String>,
}

impl Authenticator {
    /// Client certificates, then `tokens` in order; anonymous requests may
    /// reach the public-info paths only.
    pub fn new(tokens: Vec<Arc<dyn TokenAuthenticator>>) -> Self {
        Authenticator {
            tokens,
            anonymous_paths: PUBLIC_INFO_PATHS.iter().map(|p| (*p).to_owned()).collect(),
        }
    }

    /// Who made a request with these headers, on this connection, to `path`.
    pub fn authenticate(
        &self,
        headers: &HeaderMap,
        connection: Option<&ConnectionInfo>,
        path: &str,
    ) -> Result<UserInfo, Unauthenticated> {
        if let Some(user) = connection.and_then(|c| c.client_cert_user.as_ref()) {
            return Ok(user.clone());
        }
        if let Some(token) = bearer_token(headers) {
            return self
                .tokens
                .iter()
                .find_map(|t| t.authenticate_token(token))
                .ok_or(Unauthenticated::InvalidToken);
        }
        if self.anonymous_paths.iter().any(|p| p == path) {
            Ok(UserInfo::anonymous())
        } else {
            Err(Unauthenticated::AnonymousNotAllowed)
        }
    }
}

/// The token of an `Authorization: Bearer <token>` header. Like
/// kube-apiserver: the scheme is case-insensitive, and a header that is not
/// a bearer token counts as no credentials.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let mut parts = value.splitn(3, ' ');
    let scheme = parts.next()?;
    let token = parts.next()?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Authentication and authorization for a router; see the module documentation.
#[derive(Clone)]
pub struct Auth {
    authenticator: Arc<Authenticator>,
    authorizer: Arc<dyn Authorizer>,
}

impl Auth {
    pub fn new(authenticator: Arc<Authenticator>, authorizer: Arc<dyn Authorizer>) -> Self {
        Auth {
            authenticator,
            authorizer,
        }
    }

    /// `router` with every request (its fallback included) authenticated
    /// and authorized first.
    pub fn protect(self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self, middleware))
    }
}

/// The middleware [`Auth::protect`] installs.
pub async fn middleware(State(auth): State<Auth>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let connection = request.extensions().get::<ConnectionInfo>();
    let user = match auth
        .authenticator
        .authenticate(request.headers(), connection, &path)
    {
        Ok(user) => user,
        Err(why) => {
            debug!(path, ?why, "unauthenticated request");
            return error_response(&unauthorized());
        }
    };
    request.headers_mut().remove(header::AUTHORIZATION);

    let attrs =
        RequestAttributes::from_request(request.method().as_str(), &path, request.uri().query());
    match auth.authorizer.authorize(&user, &attrs) {
        Decision::Allow => {}
        Decision::Deny { reason } => {
            debug!(
                user = user.name,
                verb = attrs.verb,
                path,
                reason,
                "forbidden"
            );
            return error_response(&authz::forbidden(&user, &attrs, &reason));
        }
        Decision::NoOpinion => {
            debug!(
                user = user.name,
                verb = attrs.verb,
                path,
                "forbidden (no opinion)"
            );
            return error_response(&authz::forbidden(&user, &attrs, ""));
        }
    }
    request.extensions_mut().insert(user);
    request.extensions_mut().insert(attrs);
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(authorization: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = authorization {
            headers.insert(
                header::AUTHORIZATION,
                HeaderValue::from_str(value).expect("header"),
            );
        }
        headers
    }

    #[test]
    fn bearer_parsing() {
        assert_eq!(bearer_token(&headers(Some("Bearer abc"))), Some("abc"));
        assert_eq!(
            bearer_token(&headers(Some("bearer abc extra"))),
            Some("abc")
        );
        assert_eq!(bearer_token(&headers(Some("Basic abc"))), None);
        assert_eq!(bearer_token(&headers(Some("Bearer "))), None);
        assert_eq!(bearer_token(&headers(Some("Bearer"))), None);
        assert_eq!(bearer_token(&headers(None)), None);
    }

    #[test]
    fn order_and_anonymous_paths() {
        let file = TokenFile::parse(std::path::Path::new("t"), "good,alice,1\n").expect("tokens");
        let authn = Authenticator::new(vec![Arc::new(file)]);
        let cert_user = UserInfo::authenticated("cert", "", []);
        let conn = ConnectionInfo {
            remote_addr: ([127, 0, 0, 1], 1).into(),
            client_cert_user: Some(cert_user.clone()),
        };
        // A certificate wins over a token, even an invalid one.
        assert_eq!(
            authn.authenticate(&headers(Some("Bearer bad")), Some(&conn), "/api"),
            Ok(cert_user)
        );
        assert_eq!(
            authn
                .authenticate(&headers(Some("Bearer good")), None, "/api")
                .map(|u| u.name),
            Ok("alice".to_owned())
        );
        assert_eq!(
            authn.authenticate(&headers(Some("Bearer bad")), None, "/version"),
            Err(Unauthenticated::InvalidToken)
        );
        assert_eq!(
            authn.authenticate(&headers(None), None, "/version"),
            Ok(UserInfo::anonymous())
        );
        assert_eq!(
            authn.authenticate(&headers(Some("Basic x")), None, "/api"),
            Err(Unauthenticated::AnonymousNotAllowed)
        );
    }
}
