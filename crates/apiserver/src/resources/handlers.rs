//! The axum routes of the resource API: discovery and OpenAPI, then every
//! resource request under `/api/v1/...` and `/apis/<g>/<v>/...`, handed
//! to the dispatch table (`dispatch.rs`) with its verb.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Router};
use rkube_apimachinery::discovery::{self, DiscoveryFormat, ServerAddressByClientCidr};
use rkube_apimachinery::openapi;
use rkube_apimachinery::ApiError;

use super::connect;
use super::dispatch::{dispatch, Request, Verb};
use super::metrics::RequestKind;
use super::path;
use super::request::accept;
use super::respond::{json_response, ok_json, page_not_found, with_warnings};
use super::state::ApiState;
use crate::request_attributes::RequestAttributes;
use crate::status::error_response;

/// Largest request body kube-apiserver accepts (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The resource API's routes (put them behind authentication).
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/api", get(api))
        .route("/apis", get(apis))
        .route("/api/v1", get(core_v1))
        .route("/apis/:group", get(group))
        .route("/apis/:group/:version", get(group_version))
        .route("/openapi/v2", get(openapi_v2))
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/*path", get(openapi_document))
        .route("/api/v1/*rest", any(core_resource))
        .route("/apis/:group/:version/*rest", any(group_resource))
        .layer(DefaultBodyLimit::max(MAX_BODY + 1))
        .with_state(state)
}

fn server_address(headers: &HeaderMap) -> Vec<ServerAddressByClientCidr> {
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("127.0.0.1:6443");
    vec![ServerAddressByClientCidr::any(host)]
}

async fn api(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    match discovery::negotiate_discovery(accept(&headers)) {
        Ok(DiscoveryFormat::Aggregated) => json_response(
            StatusCode::OK,
            &discovery::aggregated_core(&s.registry()),
            discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE,
        ),
        Ok(DiscoveryFormat::Legacy) => ok_json(&discovery::api_versions(
            &s.registry(),
            server_address(&headers),
        )),
        Err(e) => error_response(&e),
    }
}

async fn apis(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    match discovery::negotiate_discovery(accept(&headers)) {
        Ok(DiscoveryFormat::Aggregated) => json_response(
            StatusCode::OK,
            &discovery::aggregated_groups(&s.registry()),
            discovery::AGGREGATED_DISCOVERY_CONTENT_TYPE,
        ),
        Ok(DiscoveryFormat::Legacy) => ok_json(&discovery::api_group_list(&s.registry())),
        Err(e) => error_response(&e),
    }
}

/// `/openapi/v2` in JSON, or as gnostic's protobuf message when the
/// client asks for it (kubectl does, when the v3 documents do not
/// describe a kind); a request accepting neither gets 406.
async fn openapi_v2(State(s): State<Arc<ApiState>>, headers: HeaderMap) -> Response {
    let types: Vec<&str> = accept(&headers)
        .unwrap_or("")
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    // The first media type of the client's list that we can give.
    let choice = types.iter().find_map(|t| {
        if openapi::v2_proto::accepts(t) {
            Some(true)
        } else if matches!(*t, "application/json" | "application/*" | "*/*" | "") {
            Some(false)
        } else {
            None
        }
    });
    match choice {
        Some(true) => {
            let bytes = openapi::v2_proto::encode(&openapi::v2(&s.registry()));
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, openapi::v2_proto::CONTENT_TYPE)],
                bytes,
            )
                .into_response()
        }
        Some(false) => ok_json(&openapi::v2(&s.registry())),
        None => error_response(&ApiError::not_acceptable(&[
            "application/json",
            openapi::v2_proto::ACCEPT,
        ])),
    }
}

async fn openapi_index(State(s): State<Arc<ApiState>>) -> Response {
    ok_json(&openapi::v3_index(&s.registry()))
}

async fn openapi_document(State(s): State<Arc<ApiState>>, Path(path): Path<String>) -> Response {
    let parts: Vec<&str> = path.split('/').collect();
    let doc = match parts.as_slice() {
        ["api", version] => openapi::v3_group_version(&s.registry(), "", version),
        ["apis", group, version] => openapi::v3_group_version(&s.registry(), group, version),
        _ => None,
    };
    match doc {
        Some(d) => ok_json(&d),
        None => page_not_found(),
    }
}

async fn core_v1(State(s): State<Arc<ApiState>>) -> Response {
    match discovery::api_resource_list(&s.registry(), "", "v1") {
        Some(list) => ok_json(&list),
        None => page_not_found(),
    }
}

async fn group(State(s): State<Arc<ApiState>>, Path(group): Path<String>) -> Response {
    match discovery::api_group(&s.registry(), &group) {
        Some(g) => ok_json(&g),
        None => page_not_found(),
    }
}

async fn group_version(
    State(s): State<Arc<ApiState>>,
    Path((group, version)): Path<(String, String)>,
) -> Response {
    match discovery::api_resource_list(&s.registry(), &group, &version) {
        Some(list) => ok_json(&list),
        None => page_not_found(),
    }
}

/// What the resource handlers extract from every request.
type Attrs = Option<Extension<RequestAttributes>>;

#[allow(clippy::too_many_arguments)]
async fn core_resource(
    State(s): State<Arc<ApiState>>,
    Path(rest): Path<String>,
    attrs: Attrs,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: axum::extract::Request,
) -> Response {
    let target = Target {
        group: "",
        version: "v1",
        rest: &rest,
    };
    resource(s, target, attrs, method, uri, headers, query, body).await
}

#[allow(clippy::too_many_arguments)]
async fn group_resource(
    State(s): State<Arc<ApiState>>,
    Path((group, version, rest)): Path<(String, String, String)>,
    attrs: Attrs,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: axum::extract::Request,
) -> Response {
    let target = Target {
        group: &group,
        version: &version,
        rest: &rest,
    };
    resource(s, target, attrs, method, uri, headers, query, body).await
}

/// Where a resource request goes: group, version, and the path after them.
struct Target<'a> {
    group: &'a str,
    version: &'a str,
    rest: &'a str,
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    s: Arc<ApiState>,
    target: Target<'_>,
    attrs: Attrs,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    query: HashMap<String, String>,
    request: axum::extract::Request,
) -> Response {
    let Some(p) = path::parse(&s.registry(), target.group, target.version, target.rest) else {
        return page_not_found();
    };
    let started = std::time::Instant::now();
    // The verb, as authorization computed it (behind no authorization,
    // as it would have).
    let verb = match attrs {
        Some(Extension(a)) => a.verb,
        None => RequestAttributes::from_request(method.as_str(), uri.path(), uri.query()).verb,
    };
    let connecting = connect::is_connect(p.subresource.as_deref());
    let verb = match method {
        Method::GET | Method::POST | Method::PUT | Method::PATCH | Method::DELETE => {
            Verb::parse(&verb)
        }
        // A proxy passes HEAD on (authorized as `get`).
        Method::HEAD if connecting => Verb::parse(&verb),
        _ => None,
    };
    let outcome = if connecting {
        // The body goes on to the node as it arrives.
        connect::serve(&s, &p, verb, method.as_str(), request).await
    } else {
        match axum::body::to_bytes(request.into_body(), MAX_BODY + 1).await {
            Ok(body) if body.len() <= MAX_BODY => {
                let request = Request {
                    state: &s,
                    path: &p,
                    headers: &headers,
                    query: &query,
                    body,
                };
                dispatch(request, verb, method.as_str()).await
            }
            _ => Err(ApiError::request_entity_too_large("limit is 3145728")),
        }
    };
    let response = match outcome {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let response = match &p.info.deprecation {
        Some(warning) => with_warnings(response, std::slice::from_ref(warning)),
        None => response,
    };
    let scope = match (p.info.namespaced, &p.namespace, &p.name) {
        (_, _, Some(_)) => "resource",
        (true, Some(_), None) => "namespace",
        _ => "cluster",
    };
    let kind = RequestKind {
        verb: verb.map_or("other", Verb::as_str),
        info: &p.info,
        subresource: p.subresource.as_deref().unwrap_or(""),
        scope,
    };
    s.metrics
        .observe(&kind, response.status().as_u16(), started.elapsed());
    response
}
