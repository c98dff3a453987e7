//! The axum routes of the resource API: discovery, then every verb of
//! every registered resource under `/api/v1/...` and `/apis/<g>/<v>/...`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::Router;
use rkube_apimachinery::discovery::{self, DiscoveryFormat, ServerAddressByClientCidr};
use rkube_apimachinery::list_options::{self, ListQuery};
use rkube_apimachinery::openapi;
use rkube_apimachinery::protobuf;
use rkube_apimachinery::table::{IncludeObject, TableOptions};
use rkube_apimachinery::typed::{self, FieldValidation};
use rkube_apimachinery::{ApiError, FieldSelector, LabelSelector, Registry};
use rkube_store::Store;
use serde::Serialize;
use serde_json::Value;

use super::fanout::Fanout;
use super::metrics::{ApiMetrics, RequestKind};
use super::negotiate::{self, Output, Render};
use super::object;
use super::path::{self, ResourcePath};
use super::pod_actions;
use super::scale;
use super::storage::{self, DeleteOptions, ListOptions, PatchType, WriteOptions};
use super::watch::{self, WatchParams};
use crate::status::error_response;

/// A list response is sent in pieces of about this size.
const LIST_CHUNK: usize = 256 * 1024;

/// Largest request body kube-apiserver accepts (3 MiB).
const MAX_BODY: usize = 3 * 1024 * 1024;

/// What the handlers share.
pub struct ApiState {
    pub store: Arc<dyn Store>,
    /// What is served: the built-in resources and those of established
    /// CRDs (swapped by `crds.rs` when CRDs change).
    registry: parking_lot::RwLock<Arc<Registry>>,
    pub metrics: ApiMetrics,
    /// The shared watch of each watched resource.
    pub fanout: Fanout,
    /// How often a watch that allows bookmarks gets one while idle
    /// (kube-apiserver: about a minute).
    pub watch_bookmark_interval: Duration,
    /// Cancelled when the server starts shutting down: open watches end
    /// then (clients re-watch elsewhere), so the graceful shutdown does not
    /// wait on connections that would stay open forever.
    pub stopping: tokio_util::sync::CancellationToken,
}

impl ApiState {
    /// The resources served now.
    pub fn registry(&self) -> Arc<Registry> {
        self.registry.read().clone()
    }

    /// Serve `registry` from now on.
    pub fn set_registry(&self, registry: Arc<Registry>) {
        *self.registry.write() = registry;
    }

    pub fn new(store: Arc<dyn Store>, registry: Arc<Registry>) -> Self {
        ApiState {
            fanout: Fanout::new(store.clone()),
            store,
            registry: parking_lot::RwLock::new(registry),
            metrics: ApiMetrics::default(),
            watch_bookmark_interval: Duration::from_secs(60),
            stopping: tokio_util::sync::CancellationToken::new(),
        }
    }
}

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

fn json_response<T: Serialize>(code: StatusCode, body: &T, content_type: &'static str) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (code, [(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => error_response(&ApiError::internal(e.to_string())),
    }
}

fn ok_json<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::OK, body, "application/json")
}

/// kube-apiserver's 404 for a path where nothing is served.
fn page_not_found() -> Response {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound", "details": {}, "code": 404
    });
    json_response(StatusCode::NOT_FOUND, &body, "application/json")
}

fn accept(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())
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

type Body3 = Result<Bytes, axum::extract::rejection::BytesRejection>;

async fn core_resource(
    State(s): State<Arc<ApiState>>,
    Path(rest): Path<String>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Body3,
) -> Response {
    resource(s, "", "v1", &rest, method, headers, query, body).await
}

async fn group_resource(
    State(s): State<Arc<ApiState>>,
    Path((group, version, rest)): Path<(String, String, String)>,
    method: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: Body3,
) -> Response {
    resource(s, &group, &version, &rest, method, headers, query, body).await
}

#[allow(clippy::too_many_arguments)]
async fn resource(
    s: Arc<ApiState>,
    group: &str,
    version: &str,
    rest: &str,
    method: Method,
    headers: HeaderMap,
    query: HashMap<String, String>,
    body: Body3,
) -> Response {
    let Some(p) = path::parse(&s.registry(), group, version, rest) else {
        return page_not_found();
    };
    let body = match body {
        Ok(b) if b.len() > MAX_BODY => {
            return error_response(&ApiError::request_entity_too_large("limit is 3145728"))
        }
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::request_entity_too_large("limit is 3145728")),
    };
    let started = std::time::Instant::now();
    let response = match dispatch(&s, &p, &method, &headers, &query, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    };
    let response = match &p.info.deprecation {
        Some(warning) => with_warnings(response, std::slice::from_ref(warning)),
        None => response,
    };
    let verb = match (&method, p.name.is_some()) {
        (&Method::GET, false) if p.legacy_watch || is_true(&query, "watch") => "watch",
        (&Method::GET, false) => "list",
        (&Method::GET, true) => "get",
        (&Method::POST, _) => "create",
        (&Method::PUT, _) => "update",
        (&Method::PATCH, _) => "patch",
        (&Method::DELETE, true) => "delete",
        (&Method::DELETE, false) => "deletecollection",
        _ => "other",
    };
    let scope = match (p.info.namespaced, &p.namespace, &p.name) {
        (_, _, Some(_)) => "resource",
        (true, Some(_), None) => "namespace",
        _ => "cluster",
    };
    let kind = RequestKind {
        verb,
        info: &p.info,
        subresource: p.subresource.as_deref().unwrap_or(""),
        scope,
    };
    s.metrics
        .observe(&kind, response.status().as_u16(), started.elapsed());
    response
}

fn verb_not_allowed(p: &ResourcePath, verb: &str) -> ApiError {
    ApiError::method_not_allowed(&p.info.group, &p.info.plural, verb)
}

/// Decode a request body: JSON, YAML (one document), or Kubernetes protobuf.
fn decode_body(headers: &HeaderMap, body: &[u8]) -> Result<Value, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let media = ct.split(';').next().unwrap_or("").trim();
    match media {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as JSON: {e}"
            ))
        }),
        "application/yaml" => decode_yaml(body),
        "application/vnd.kubernetes.protobuf" => protobuf::decode_object(body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body of the request could not be decoded as protobuf: {e}"
            ))
        }),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json",
            "application/yaml",
            "application/vnd.kubernetes.protobuf",
        ])),
    }
}

/// One YAML document as JSON (YAML-only values such as non-string keys are refused).
fn decode_yaml(body: &[u8]) -> Result<Value, ApiError> {
    serde_saphyr::from_slice::<Value>(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body of the request could not be decoded as YAML: {e}"
        ))
    })
}

/// The list options of a list, watch or deletecollection, after
/// kube-apiserver's `ListOptions` validation (422 when they contradict).
fn list_options(
    p: &ResourcePath,
    q: &HashMap<String, String>,
    watch: bool,
) -> Result<ListOptions, ApiError> {
    list_options::validate(&ListQuery {
        watch,
        resource_version: q.get("resourceVersion").map(String::as_str),
        resource_version_match: q.get("resourceVersionMatch").map(String::as_str),
        continue_token: q.get("continue").map(String::as_str),
        send_initial_events: q.get("sendInitialEvents").and_then(|v| v.parse().ok()),
    })?;
    let label_selector = match q.get("labelSelector") {
        Some(s) if !s.is_empty() => LabelSelector::parse(s)?,
        _ => LabelSelector::everything(),
    };
    let field_selector = match q.get("fieldSelector") {
        Some(s) if !s.is_empty() => {
            FieldSelector::parse(s)?.for_kind(&p.info.group, &p.info.kind)?
        }
        _ => FieldSelector::everything(),
    };
    let limit = match q.get("limit") {
        Some(l) if !l.is_empty() => l
            .parse()
            .map_err(|_| ApiError::bad_request(format!("invalid limit: {l}")))?,
        _ => 0,
    };
    Ok(ListOptions {
        label_selector,
        field_selector,
        limit,
        continue_token: q.get("continue").filter(|c| !c.is_empty()).cloned(),
        resource_version: q.get("resourceVersion").filter(|c| !c.is_empty()).cloned(),
        resource_version_match: q
            .get("resourceVersionMatch")
            .filter(|c| !c.is_empty())
            .cloned(),
    })
}

fn is_true(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| v == "true" || v == "1")
}

fn dry_run(q: &HashMap<String, String>) -> bool {
    q.get("dryRun").is_some_and(|v| v == "All")
}

/// How to shape a get, list or watch answer, from `Accept` and `includeObject`.
fn render(headers: &HeaderMap, q: &HashMap<String, String>) -> Result<Render, ApiError> {
    match negotiate::output(accept(headers))? {
        Output::Json => Ok(Render::Json),
        Output::Metadata(v) => Ok(Render::Metadata(v)),
        Output::Table(api_version) => {
            let include = IncludeObject::parse(q.get("includeObject").map(String::as_str))
                .map_err(ApiError::bad_request)?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0);
            Ok(Render::Table(TableOptions {
                api_version,
                include,
                headers: true,
                now,
            }))
        }
    }
}

/// `dryRun` and `fieldValidation` from the query of a write.
fn write_options(
    q: &HashMap<String, String>,
    headers: &HeaderMap,
    patch: Option<PatchType>,
) -> Result<WriteOptions, ApiError> {
    let options_kind = if patch.is_some() {
        "PatchOptions"
    } else {
        "CreateOptions"
    };
    use rkube_apimachinery::Cause;
    let invalid = |cause: Cause| ApiError::invalid("meta.k8s.io", options_kind, "", vec![cause]);
    let field_manager = match q.get("fieldManager") {
        Some(m) if m.chars().count() > 128 => {
            return Err(invalid(Cause::too_long("fieldManager", 128)));
        }
        Some(m) if m.chars().any(|c| c.is_control()) => {
            return Err(invalid(Cause::invalid(
                "fieldManager",
                m.as_str(),
                "must only contain printable characters",
            )));
        }
        Some(m) => m.clone(),
        // kube-apiserver: the User-Agent up to its first '/'.
        None => headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| {
                ua.split('/')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|c| !c.is_control())
                    .take(128)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let force = match (q.get("force"), patch) {
        (None, _) => false,
        (Some(f), Some(PatchType::Apply)) => f == "true",
        (Some(_), _) => {
            return Err(invalid(Cause::forbidden(
                "force",
                "may not be specified for non-apply patch",
            )))
        }
    };
    if patch == Some(PatchType::Apply) && !q.contains_key("fieldManager") {
        return Err(invalid(Cause::required(
            "fieldManager",
            "is required for apply patch",
        )));
    }
    Ok(WriteOptions {
        dry_run: dry_run(q),
        field_validation: FieldValidation::parse(q.get("fieldValidation").map(String::as_str))?,
        field_manager,
        force,
    })
}

/// The body of a create or update, read through the kind's type as
/// kube-apiserver decodes it; returns the object and the warnings.
fn decode_object(
    p: &ResourcePath,
    headers: &HeaderMap,
    body: &[u8],
    opts: &WriteOptions,
) -> Result<(Value, Vec<String>), ApiError> {
    let info = &p.info;
    let mut obj = decode_body(headers, body)?;
    object::check_type(info, &mut obj)?;
    let decoded = storage::decode_typed(info, obj, opts.field_validation)?;
    let warnings = typed::warnings(&decoded);
    Ok((decoded.object, warnings))
}

/// Adds one `Warning: 299 - "<text>"` header per warning, as kube-apiserver does.
fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
    for w in warnings {
        let text: String = w
            .chars()
            .filter(|c| !c.is_control())
            .flat_map(|c| match c {
                '"' | '\\' => vec!['\\', c],
                c => vec![c],
            })
            .collect();
        if let Ok(v) = header::HeaderValue::from_str(&format!("299 - \"{text}\"")) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    response
}

async fn dispatch(
    s: &ApiState,
    p: &ResourcePath,
    method: &Method,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let store = s.store.as_ref();
    let info = &p.info;
    let ns = p.namespace.as_deref();
    if info.namespaced && ns.is_none() && p.name.is_some() {
        return Ok(page_not_found());
    }
    if let (Some("scale"), Some(name)) = (p.subresource.as_deref(), p.name.as_deref()) {
        return scale_subresource(s, p, name, method, headers, q, &body).await;
    }
    let is_pods = info.group.is_empty() && info.plural == "pods";
    match (p.subresource.as_deref(), p.name.as_deref(), ns, method) {
        (Some(action @ ("binding" | "eviction")), Some(name), Some(ns), &Method::POST)
            if is_pods =>
        {
            let body = decode_body(headers, &body)?;
            let done = if action == "binding" {
                pod_actions::bind(store, &s.registry(), ns, name, &body, dry_run(q)).await?
            } else {
                pod_actions::evict(store, &s.registry(), ns, name, &body, dry_run(q)).await?
            };
            return Ok(json_response(
                StatusCode::CREATED,
                &done,
                "application/json",
            ));
        }
        (None, None, Some(ns), &Method::POST)
            if info.group.is_empty() && info.plural == "bindings" =>
        {
            let body = decode_body(headers, &body)?;
            let name = body
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let done =
                pod_actions::bind(store, &s.registry(), ns, &name, &body, dry_run(q)).await?;
            return Ok(json_response(
                StatusCode::CREATED,
                &done,
                "application/json",
            ));
        }
        _ => {}
    }
    if let (Some("finalize"), Some(name), &Method::PUT) =
        (p.subresource.as_deref(), p.name.as_deref(), method)
    {
        if info.group.is_empty() && info.plural == "namespaces" {
            let body = decode_body(headers, &body)?;
            let done = storage::finalize_namespace(store, info, name, &body, dry_run(q)).await?;
            return Ok(ok_json(&done));
        }
    }
    let status_sub = match p.subresource.as_deref() {
        None => false,
        Some("status") => true,
        Some(other) => {
            return Err(ApiError::method_not_allowed(
                &info.group,
                &format!("{}/{other}", info.plural),
                method.as_str(),
            ))
        }
    };
    if !status_sub {
        let verb = match (method, p.name.is_some()) {
            (&Method::PUT, true) => Some("update"),
            (&Method::PATCH, true) => Some("patch"),
            (&Method::DELETE, true) => Some("delete"),
            (&Method::GET, true) => Some("get"),
            _ => None,
        };
        if let Some(verb) = verb.filter(|v| !info.has_verb(v)) {
            return Err(verb_not_allowed(p, verb));
        }
    }
    match (method.clone(), p.name.as_deref()) {
        (Method::GET, None) if p.legacy_watch || is_true(q, "watch") => {
            if !info.has_verb("watch") {
                return Err(verb_not_allowed(p, "watch"));
            }
            let opts = list_options(p, q, true)?;
            let params = WatchParams {
                send_initial_events: q.get("sendInitialEvents").map(|v| v == "true"),
                allow_bookmarks: is_true(q, "allowWatchBookmarks"),
                timeout: q
                    .get("timeoutSeconds")
                    .and_then(|t| t.parse().ok())
                    .map(Duration::from_secs),
                bookmark_interval: s.watch_bookmark_interval,
                render: render(headers, q)?,
            };
            let body = watch::start(
                s.store.clone(),
                &s.fanout,
                info.clone(),
                p.namespace.clone(),
                opts,
                params,
                s.metrics.watchers(info),
            )
            .await?;
            let body = futures::StreamExt::take_until(body, s.stopping.clone().cancelled_owned());
            let stream = futures::StreamExt::map(body, Ok::<Bytes, std::convert::Infallible>);
            Ok((
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-cache, private"),
                ],
                Body::from_stream(stream),
            )
                .into_response())
        }
        (Method::GET, None) => {
            if !info.has_verb("list") {
                return Err(verb_not_allowed(p, "list"));
            }
            let opts = list_options(p, q, false)?;
            let list = storage::list_raw(store, info, ns, &opts).await?;
            match render(headers, q)? {
                Render::Json => {}
                Render::Table(t) => {
                    let items = list.item_values()?;
                    return Ok(ok_json(&negotiate::table(
                        info,
                        &items,
                        list.metadata.clone(),
                        &t,
                    )));
                }
                Render::Metadata(v) => {
                    let items = list.item_values()?;
                    return Ok(ok_json(&negotiate::partial_list(
                        &items,
                        list.metadata.clone(),
                        v,
                    )));
                }
            }
            let chunks = list.into_chunks(LIST_CHUNK)?;
            let stream = futures::stream::iter(chunks.map(Ok::<Bytes, std::convert::Infallible>));
            Ok((
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                Body::from_stream(stream),
            )
                .into_response())
        }
        (Method::GET, Some(name)) => {
            let shape = render(headers, q)?;
            let (obj, rev) = storage::read(store, info, ns, name).await?;
            match shape {
                Render::Table(t) => Ok(ok_json(&negotiate::table(
                    info,
                    &[obj],
                    serde_json::json!({"resourceVersion": rev.to_string()}),
                    &t,
                ))),
                Render::Metadata(v) => Ok(ok_json(&negotiate::partial(&obj, v))),
                Render::Json => Ok(ok_json(&obj)),
            }
        }
        (Method::POST, None) => {
            if !info.has_verb("create") {
                return Err(verb_not_allowed(p, "create"));
            }
            let opts = write_options(q, headers, None)?;
            let (obj, mut warnings) = decode_object(p, headers, &body, &opts)?;
            let created = storage::create(store, info, ns, obj, &opts).await?;
            warnings.extend(created.warnings);
            Ok(with_warnings(
                json_response(StatusCode::CREATED, &created.object, "application/json"),
                &warnings,
            ))
        }
        (Method::PUT, Some(name)) => {
            let opts = write_options(q, headers, None)?;
            let (obj, warnings) = decode_object(p, headers, &body, &opts)?;
            let updated = storage::update(store, info, ns, name, obj, status_sub, &opts).await?;
            Ok(with_warnings(ok_json(&updated), &warnings))
        }
        (Method::PATCH, Some(name)) => {
            let kind = patch_type(headers)?;
            let patch: Value = if kind == PatchType::Apply {
                decode_yaml(&body)?
            } else {
                serde_json::from_slice(&body).map_err(|e| {
                    ApiError::bad_request(format!("the patch could not be decoded as JSON: {e}"))
                })?
            };
            let opts = write_options(q, headers, Some(kind))?;
            let patched =
                storage::patch(store, info, ns, name, kind, &patch, status_sub, &opts).await?;
            Ok(with_warnings(ok_json(&patched.object), &patched.warnings))
        }
        (Method::DELETE, Some(name)) => {
            let mut opts = delete_options(headers, &body, q)?;
            opts.dry_run |= dry_run(q);
            let obj = storage::delete(store, info, ns, name, &opts).await?;
            Ok(ok_json(&obj))
        }
        (Method::DELETE, None) => {
            if !info.has_verb("deletecollection") {
                return Err(verb_not_allowed(p, "deletecollection"));
            }
            let mut opts = delete_options(headers, &body, q)?;
            opts.dry_run |= dry_run(q);
            let list_opts = list_options(p, q, false)?;
            Ok(ok_json(
                &storage::delete_collection(store, info, ns, &list_opts, &opts).await?,
            ))
        }
        (m, _) => Err(ApiError::method_not_allowed(
            &info.group,
            &info.plural,
            m.as_str(),
        )),
    }
}

fn delete_options(
    headers: &HeaderMap,
    body: &[u8],
    q: &HashMap<String, String>,
) -> Result<DeleteOptions, ApiError> {
    let mut opts = if body.iter().all(u8::is_ascii_whitespace) {
        DeleteOptions::default()
    } else {
        DeleteOptions::from_body(&decode_body(headers, body)?)
    };
    if let Some(g) = q.get("gracePeriodSeconds").and_then(|g| g.parse().ok()) {
        opts.grace_period_seconds = Some(g);
    }
    if let Some(p) = q.get("propagationPolicy") {
        opts.propagation_policy = Some(p.clone());
    }
    if let Some(o) = q.get("orphanDependents") {
        opts.orphan_dependents = Some(o == "true");
    }
    opts.check()?;
    Ok(opts)
}

/// GET, PUT and PATCH of `<resource>/scale`.
async fn scale_subresource(
    s: &ApiState,
    p: &ResourcePath,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
    body: &[u8],
) -> Result<Response, ApiError> {
    let store = s.store.as_ref();
    let (info, ns) = (&p.info, p.namespace.as_deref());
    let (current, _) = storage::read(store, info, ns, name).await?;
    let view = scale::to_scale(info, &current);
    let wanted = match *method {
        Method::GET => return Ok(ok_json(&view)),
        Method::PUT => decode_body(headers, body)?,
        Method::PATCH => {
            let kind = patch_type(headers)?;
            let patch: Value = serde_json::from_slice(body).map_err(|e| {
                ApiError::bad_request(format!("the patch could not be decoded as JSON: {e}"))
            })?;
            let mut doc = view.clone();
            storage::apply_patch(kind, &mut doc, &patch)?;
            doc
        }
        ref m => {
            return Err(ApiError::method_not_allowed(
                &info.group,
                &format!("{}/scale", info.plural),
                m.as_str(),
            ))
        }
    };
    let replicas = scale::replicas_from(info, name, &wanted)?;
    let mut patch = scale::replicas_patch(info, replicas);
    if let Some(rv) = wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        patch["metadata"] = serde_json::json!({"resourceVersion": rv});
    }
    let opts = WriteOptions {
        dry_run: dry_run(q),
        field_validation: FieldValidation::Ignore,
        ..write_options(q, headers, None)?
    };
    let updated = storage::patch(
        store,
        info,
        ns,
        name,
        PatchType::Merge,
        &patch,
        false,
        &opts,
    )
    .await?;
    Ok(ok_json(&scale::to_scale(info, &updated.object)))
}

/// The patch type of a PATCH request, from its `Content-Type`.
fn patch_type(headers: &HeaderMap) -> Result<PatchType, ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match ct.split(';').next().unwrap_or("").trim() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" => Ok(PatchType::Apply),
        _ => Err(ApiError::unsupported_media_type(&[
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json",
            "application/apply-patch+yaml",
        ])),
    }
}
