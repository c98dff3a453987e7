//! The API client `rkube up` gives the components it runs in its own
//! process: a [`kube::Client`] whose transport is the API server's router
//! itself, called in memory instead of through TCP and TLS.
//!
//! Everything above the transport is unchanged — the same requests, paths,
//! headers, authentication and authorization middleware, admission, store
//! and watch streams as for any client — so the components still go
//! through the API (DESIGN.md, principle 2). What is skipped is only the
//! encryption, the kernel round trip and hyper's framing, which cost about
//! a sixth of the process' CPU in a 10,000-pod cluster (bench/README.md).
//! kube-apiserver does the same for its own loopback client in spirit: it
//! talks to itself with a privileged identity that no one outside can use.
//!
//! The identity is the admin's (`kubernetes-admin`, `system:masters`), the
//! user the components had through the admin kubeconfig before.

use std::net::{Ipv4Addr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::Router;
use kube::Client;
use rkube_apiserver::user::UserInfo;
use rkube_apiserver::ConnectionInfo;
use tower::ServiceExt;

use crate::agent::Agent;

/// The address in-process requests appear to come from.
const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// A client that sends its requests straight to `router` (the protected
/// router: authentication runs as for everyone), as `agent`.
pub fn client(router: Router, agent: Agent) -> anyhow::Result<Client> {
    let user_agent = http::HeaderValue::from_str(&agent.user_agent())?;
    let info = ConnectionInfo {
        remote_addr: LOOPBACK,
        client_cert_user: Some(UserInfo::authenticated(
            rkube_apiserver::pki::ADMIN_USER,
            "",
            vec![rkube_apiserver::user::GROUP_MASTERS.to_string()],
        )),
    };
    let service = tower::service_fn(move |request: http::Request<kube::client::Body>| {
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(info.clone());
        parts.extensions.insert(ConnectInfo(LOOPBACK));
        parts
            .headers
            .insert(http::header::USER_AGENT, user_agent.clone());
        let request = http::Request::from_parts(parts, axum::body::Body::new(body));
        router.clone().oneshot(request)
    });
    Ok(Client::new(service, "default"))
}
