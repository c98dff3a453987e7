//! Writing plain answers: a JSON body with a status code, warnings as
//! `Warning` headers, and kube-apiserver's 404 for a path where nothing is
//! served.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use rkube_apimachinery::ApiError;
use serde::Serialize;

use crate::status::error_response;

pub fn json_response<T: Serialize>(
    code: StatusCode,
    body: &T,
    content_type: &'static str,
) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (code, [(header::CONTENT_TYPE, content_type)], bytes).into_response(),
        Err(e) => error_response(&ApiError::internal(e.to_string())),
    }
}

pub fn ok_json<T: Serialize>(body: &T) -> Response {
    json_response(StatusCode::OK, body, "application/json")
}

/// kube-apiserver's 404 for a path where nothing is served.
pub fn page_not_found() -> Response {
    let body = serde_json::json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "the server could not find the requested resource",
        "reason": "NotFound", "details": {}, "code": 404
    });
    json_response(StatusCode::NOT_FOUND, &body, "application/json")
}

/// Adds one `Warning: 299 - "<text>"` header per warning, as kube-apiserver does.
pub fn with_warnings(mut response: Response, warnings: &[String]) -> Response {
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
