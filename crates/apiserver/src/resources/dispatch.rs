//! The dispatch table of the resource API: a request's verb (computed
//! once, as the authorizer saw it: `RequestAttributes::verb`) and
//! subresource choose its handler. Each handler reads what it needs from
//! the request (`request.rs`), calls its verb module and writes the
//! answer. A pair that is not in [`ROUTES`] is a 405.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::future::BoxFuture;
use rkube_apimachinery::typed::FieldValidation;
use rkube_apimachinery::{ApiError, FieldSelector};
use serde::Serialize;
use serde_json::Value;

use super::create::create;
use super::delete::{delete, delete_collection};
use super::ephemeral::{self, Change};
use super::finalize::finalize_namespace;
use super::get::{get, list_raw};
use super::metrics_api;
use super::negotiate::{self, Render};
use super::options::{PatchType, WriteOptions};
use super::patch::{apply_patch, patch};
use super::path::ResourcePath;
use super::pod_actions;
use super::request::{
    decode_body, decode_object, decode_yaml, delete_options, dry_run, is_true, list_options,
    patch_type, render, write_options,
};
use super::respond::{json_response, ok_json, page_not_found, with_warnings};
use super::scale;
use super::state::ApiState;
use super::strategy::{self, CreateAction};
use super::update::update;
use super::watch::{self, WatchParams};

/// A list response is sent in pieces of about this size.
const LIST_CHUNK: usize = 256 * 1024;

/// The verb of a resource request, as kube-apiserver's `RequestInfo`
/// names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    /// The verb of `RequestAttributes::verb` (`None` for anything else).
    pub fn parse(verb: &str) -> Option<Verb> {
        Some(match verb {
            "get" => Verb::Get,
            "list" => Verb::List,
            "watch" => Verb::Watch,
            "create" => Verb::Create,
            "update" => Verb::Update,
            "patch" => Verb::Patch,
            "delete" => Verb::Delete,
            "deletecollection" => Verb::DeleteCollection,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }
}

/// One resource request, parsed.
pub struct Request<'a> {
    pub state: &'a ApiState,
    pub path: &'a ResourcePath,
    pub headers: &'a HeaderMap,
    pub query: &'a HashMap<String, String>,
    pub body: Bytes,
}

impl Request<'_> {
    fn ns(&self) -> Option<&str> {
        self.path.namespace.as_deref()
    }

    /// The object's name (the table routes only named requests to the
    /// handlers that call this).
    fn name(&self) -> &str {
        self.path.name.as_deref().unwrap_or("")
    }
}

type Reply<'a> = BoxFuture<'a, Result<Response, ApiError>>;
type Handler = for<'a> fn(Request<'a>) -> Reply<'a>;

/// (verb, subresource) → handler; `""` is the resource itself.
const ROUTES: &[(Verb, &str, Handler)] = &[
    (Verb::Get, "", get_one),
    (Verb::List, "", list_all),
    (Verb::Watch, "", watch_all),
    (Verb::Create, "", create_one),
    (Verb::Update, "", update_main),
    (Verb::Patch, "", patch_main),
    (Verb::Delete, "", delete_one),
    (Verb::DeleteCollection, "", delete_all),
    (Verb::Get, "status", get_one),
    (Verb::Update, "status", update_status),
    (Verb::Patch, "status", patch_status),
    (Verb::Get, "scale", scale_get),
    (Verb::Update, "scale", scale_update),
    (Verb::Patch, "scale", scale_patch),
    (Verb::Create, "binding", bind),
    (Verb::Create, "eviction", evict),
    (Verb::Update, "finalize", finalize),
    (Verb::Get, "ephemeralcontainers", get_one),
    (Verb::Update, "ephemeralcontainers", ephemeral_update),
    (Verb::Patch, "ephemeralcontainers", ephemeral_patch),
];

/// Serve one resource request: `verb` as computed from the request
/// (`None` for a method no verb has), `method` for the 405 of a pair the
/// table does not hold.
pub async fn dispatch(
    r: Request<'_>,
    verb: Option<Verb>,
    method: &str,
) -> Result<Response, ApiError> {
    let p = r.path;
    let info = &p.info;
    let named = p.name.is_some();
    if info.namespaced && p.namespace.is_none() && named {
        return Ok(page_not_found());
    }
    let sub = p.subresource.as_deref().unwrap_or("");
    let resource = match sub {
        "" => info.plural.clone(),
        s => format!("{}/{s}", info.plural),
    };
    let route = verb.and_then(|v| {
        ROUTES
            .iter()
            .find(|(rv, rs, _)| *rv == v && *rs == sub)
            .map(|(_, _, h)| (v, *h))
    });
    let Some((verb, handler)) = route else {
        return Err(ApiError::method_not_allowed(&info.group, &resource, method));
    };
    // A named request reaches one object, an unnamed one a collection.
    // (A watch may name one: `/watch/.../<name>`.)
    let unnamed = matches!(verb, Verb::List | Verb::DeleteCollection | Verb::Create);
    let wants_name = !unnamed || !sub.is_empty();
    if wants_name != named && verb != Verb::Watch {
        return Err(ApiError::method_not_allowed(&info.group, &resource, method));
    }
    let allowed = match info.subresource(sub) {
        Some(s) if !sub.is_empty() => s.has_verb(verb.as_str()),
        _ => info.has_verb(verb.as_str()),
    };
    if !allowed {
        return Err(ApiError::method_not_allowed(
            &info.group,
            &resource,
            verb.as_str(),
        ));
    }
    // Resources not kept in the store have their own backend.
    if metrics_api::serves(info) {
        return metrics_api::serve(r.state, p, r.headers, r.query).await;
    }
    handler(r).await
}

fn created_json<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::CREATED, body, "application/json")
}

/// A response of the negotiated body and media type.
fn answer(code: StatusCode, body: negotiate::Answer) -> Result<Response, ApiError> {
    Ok((
        code,
        [(header::CONTENT_TYPE, body.content_type)],
        body.bytes,
    )
        .into_response())
}

fn get_one(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let info = &r.path.info;
        let shape = render(r.headers, r.query, false)?;
        let (obj, rev) = get(r.state.store.as_ref(), info, r.ns(), r.name()).await?;
        match shape {
            Render::Table(t) => Ok(ok_json(&negotiate::table(
                info,
                &[obj],
                serde_json::json!({"resourceVersion": rev.to_string()}),
                &t,
            ))),
            shape => answer(StatusCode::OK, negotiate::answer(info, obj, &shape)?),
        }
    })
}

fn list_all(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let info = &r.path.info;
        let opts = list_options(r.path, r.query, false)?;
        let shape = render(r.headers, r.query, false)?;
        negotiate::fits(info, &shape, true)?;
        let list = list_raw(r.state.store.as_ref(), info, r.ns(), &opts).await?;
        match shape {
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
            shape => {
                let items = list.item_values()?;
                let whole = serde_json::json!({
                    "kind": info.list_kind, "metadata": list.metadata, "items": items,
                });
                return answer(StatusCode::OK, negotiate::answer(info, whole, &shape)?);
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
    })
}

fn watch_all(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let (s, p, q) = (r.state, r.path, r.query);
        let info = &p.info;
        let mut opts = list_options(p, q, true)?;
        if let Some(name) = p.name.as_deref() {
            opts.field_selector =
                name_selector(name, q.get("fieldSelector"))?.for_kind(&info.group, &info.kind)?;
        }
        let params = WatchParams {
            send_initial_events: q.get("sendInitialEvents").map(|v| v == "true"),
            allow_bookmarks: is_true(q, "allowWatchBookmarks"),
            timeout: q
                .get("timeoutSeconds")
                .and_then(|t| t.parse().ok())
                .map(Duration::from_secs),
            bookmark_interval: s.watch_bookmark_interval,
            render: render(r.headers, q, true)?,
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
    })
}

fn create_one(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let info = &r.path.info;
        let store = r.state.store.as_ref();
        match strategy::for_resource(info).create_action() {
            CreateAction::BindPod => {
                let body = decode_body(r.headers, &r.body)?;
                let Some(ns) = r.ns() else {
                    return Err(ApiError::bad_request(
                        "the namespace of the object must be given in the request path",
                    ));
                };
                let name = body
                    .pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let registry = r.state.registry();
                let done =
                    pod_actions::bind(store, &registry, ns, &name, &body, dry_run(r.query)).await?;
                Ok(created_json(&done))
            }
            CreateAction::Store => {
                let shape = render(r.headers, r.query, false)?;
                let opts = write_options(r.query, r.headers, None)?;
                let (obj, mut warnings) = decode_object(r.path, r.headers, &r.body, &opts)?;
                let created = create(store, info, r.ns(), obj, &opts).await?;
                warnings.extend(created.warnings);
                let body = negotiate::answer(info, created.object, &shape)?;
                Ok(with_warnings(answer(StatusCode::CREATED, body)?, &warnings))
            }
        }
    })
}

async fn update_any(r: Request<'_>, status: bool) -> Result<Response, ApiError> {
    let shape = render(r.headers, r.query, false)?;
    let opts = write_options(r.query, r.headers, None)?;
    let (obj, mut warnings) = decode_object(r.path, r.headers, &r.body, &opts)?;
    let store = r.state.store.as_ref();
    let updated = update(store, &r.path.info, r.ns(), r.name(), obj, status, &opts).await?;
    warnings.extend(updated.warnings);
    let body = negotiate::answer(&r.path.info, updated.object, &shape)?;
    Ok(with_warnings(answer(StatusCode::OK, body)?, &warnings))
}

fn update_main(r: Request<'_>) -> Reply<'_> {
    Box::pin(update_any(r, false))
}

fn update_status(r: Request<'_>) -> Reply<'_> {
    Box::pin(update_any(r, true))
}

async fn patch_any(r: Request<'_>, status: bool) -> Result<Response, ApiError> {
    let shape = render(r.headers, r.query, false)?;
    let kind = patch_type(r.headers)?;
    let body: Value = if kind == PatchType::Apply {
        decode_yaml(&r.body)?
    } else {
        serde_json::from_slice(&r.body).map_err(|e| {
            ApiError::bad_request(format!("the patch could not be decoded as JSON: {e}"))
        })?
    };
    let opts = write_options(r.query, r.headers, Some(kind))?;
    let store = r.state.store.as_ref();
    let info = &r.path.info;
    let patched = patch(store, info, r.ns(), r.name(), kind, &body, status, &opts).await?;
    let answered = negotiate::answer(info, patched.object, &shape)?;
    Ok(with_warnings(
        answer(StatusCode::OK, answered)?,
        &patched.warnings,
    ))
}

fn patch_main(r: Request<'_>) -> Reply<'_> {
    Box::pin(patch_any(r, false))
}

fn patch_status(r: Request<'_>) -> Reply<'_> {
    Box::pin(patch_any(r, true))
}

fn delete_one(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let shape = render(r.headers, r.query, false)?;
        let mut opts = delete_options(r.headers, &r.body, r.query)?;
        opts.dry_run |= dry_run(r.query);
        let store = r.state.store.as_ref();
        let obj = delete(store, &r.path.info, r.ns(), r.name(), &opts).await?;
        answer(
            StatusCode::OK,
            negotiate::answer(&r.path.info, obj, &shape)?,
        )
    })
}

fn delete_all(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let shape = render(r.headers, r.query, false)?;
        let mut opts = delete_options(r.headers, &r.body, r.query)?;
        opts.dry_run |= dry_run(r.query);
        let list_opts = list_options(r.path, r.query, false)?;
        let store = r.state.store.as_ref();
        let deleted = delete_collection(store, &r.path.info, r.ns(), &list_opts, &opts).await?;
        answer(
            StatusCode::OK,
            negotiate::answer(&r.path.info, deleted, &shape)?,
        )
    })
}

fn bind(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let body = decode_body(r.headers, &r.body)?;
        let (store, registry) = (r.state.store.as_ref(), r.state.registry());
        let ns = r.ns().unwrap_or("");
        let done =
            pod_actions::bind(store, &registry, ns, r.name(), &body, dry_run(r.query)).await?;
        Ok(created_json(&done))
    })
}

fn evict(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let body = decode_body(r.headers, &r.body)?;
        let (store, registry) = (r.state.store.as_ref(), r.state.registry());
        let ns = r.ns().unwrap_or("");
        let done =
            pod_actions::evict(store, &registry, ns, r.name(), &body, dry_run(r.query)).await?;
        Ok(created_json(&done))
    })
}

fn finalize(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let body = decode_body(r.headers, &r.body)?;
        let store = r.state.store.as_ref();
        let done =
            finalize_namespace(store, &r.path.info, r.name(), &body, dry_run(r.query)).await?;
        Ok(ok_json(&done))
    })
}

async fn ephemeral_any(r: Request<'_>, patch: Option<PatchType>) -> Result<Response, ApiError> {
    let shape = render(r.headers, r.query, false)?;
    let opts = write_options(r.query, r.headers, patch)?;
    let body: Value = match patch {
        Some(_) => serde_json::from_slice(&r.body).map_err(|e| {
            ApiError::bad_request(format!("the patch could not be decoded as JSON: {e}"))
        })?,
        None => decode_body(r.headers, &r.body)?,
    };
    let change = match patch {
        Some(kind) => Change::Patch(kind, &body),
        None => Change::Replace(&body),
    };
    let info = &r.path.info;
    let store = r.state.store.as_ref();
    let ns = r.ns().unwrap_or("");
    let written = ephemeral::write(store, info, ns, r.name(), change, &opts).await?;
    let answered = negotiate::answer(info, written.object, &shape)?;
    Ok(with_warnings(
        answer(StatusCode::OK, answered)?,
        &written.warnings,
    ))
}

fn ephemeral_update(r: Request<'_>) -> Reply<'_> {
    Box::pin(ephemeral_any(r, None))
}

fn ephemeral_patch(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let kind = patch_type(r.headers)?;
        ephemeral_any(r, Some(kind)).await
    })
}

/// The Scale view of the object, and the object's current version.
async fn scale_view(r: &Request<'_>) -> Result<Value, ApiError> {
    let info = &r.path.info;
    let (current, _) = get(r.state.store.as_ref(), info, r.ns(), r.name()).await?;
    Ok(scale::to_scale(info, &current))
}

fn scale_get(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move { Ok(ok_json(&scale_view(&r).await?)) })
}

fn scale_update(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        scale_view(&r).await?;
        let wanted = decode_body(r.headers, &r.body)?;
        scale_write(&r, &wanted).await
    })
}

fn scale_patch(r: Request<'_>) -> Reply<'_> {
    Box::pin(async move {
        let mut doc = scale_view(&r).await?;
        let kind = patch_type(r.headers)?;
        let body: Value = serde_json::from_slice(&r.body).map_err(|e| {
            ApiError::bad_request(format!("the patch could not be decoded as JSON: {e}"))
        })?;
        apply_patch(kind, &mut doc, &body)?;
        scale_write(&r, &doc).await
    })
}

/// A Scale a client sent, written into the object's desired replicas
/// (a merge patch of the main resource, through the pipeline).
async fn scale_write(r: &Request<'_>, wanted: &Value) -> Result<Response, ApiError> {
    let info = &r.path.info;
    let name = r.name();
    let replicas = scale::replicas_from(info, name, wanted)?;
    let mut body = scale::replicas_patch(info, replicas);
    if let Some(rv) = wanted
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        body["metadata"] = serde_json::json!({"resourceVersion": rv});
    }
    let opts = WriteOptions {
        dry_run: dry_run(r.query),
        field_validation: FieldValidation::Ignore,
        ..write_options(r.query, r.headers, None)?
    };
    let store = r.state.store.as_ref();
    let updated = patch(
        store,
        info,
        r.ns(),
        name,
        PatchType::Merge,
        &body,
        false,
        &opts,
    )
    .await?;
    Ok(ok_json(&scale::to_scale(info, &updated.object)))
}

/// The field selector of a watch of one object (`/watch/.../<name>`):
/// its name, and the selector the query gives.
fn name_selector(name: &str, given: Option<&String>) -> Result<FieldSelector, ApiError> {
    let mut s = format!("metadata.name={name}");
    if let Some(g) = given.filter(|g| !g.is_empty()) {
        s.push(',');
        s.push_str(g);
    }
    FieldSelector::parse(&s)
}
