//! Writing plain answers: a JSON body with a status code, and
//! kube-apiserver's 404 for a path where nothing is served.

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
