//! The API edge: an [`ApiError`] becomes an HTTP response carrying its
//! `Status` object as JSON, with the error's code and, when the error says
//! so, a `Retry-After` header (as kube-apiserver copies
//! `details.retryAfterSeconds`).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rkube_apimachinery::ApiError;

/// The response for `error`.
pub fn error_response(error: &ApiError) -> Response {
    let code = StatusCode::from_u16(error.code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    // Serializing a Status cannot fail; fall back to a fixed body anyway.
    let body = serde_json::to_vec(&error.status()).unwrap_or_else(|_| {
        br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","code":500}"#
            .to_vec()
    });
    let mut response = (code, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(seconds) = error.retry_after_seconds() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}

/// kube-apiserver's 401: `message` and `reason` both `Unauthorized`.
pub fn unauthorized() -> ApiError {
    ApiError::unauthorized("Unauthorized")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unauthorized_is_exactly_kube_apiservers() {
        let response = error_response(&unauthorized());
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            HeaderValue::from_static("application/json")
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        assert_eq!(
            std::str::from_utf8(&body).expect("utf-8"),
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        );
    }

    #[test]
    fn retry_after_is_copied() {
        let response = error_response(&ApiError::too_many_requests("slow down", 3));
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(
            response.headers()[header::RETRY_AFTER],
            HeaderValue::from(3u32)
        );
    }
}
