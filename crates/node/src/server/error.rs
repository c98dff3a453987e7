//! [`NodeApiError`]: why a request to the node's API failed, answered as
//! a Kubernetes `Status` (what `kubectl` prints).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rkube_cri::CriError;

/// Why a request to the node's API failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeApiError {
    /// No such pod or container on this node.
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed (a bad query parameter, no command).
    #[error("{0}")]
    BadRequest(String),
    /// The request is valid but cannot be served now (container not
    /// running).
    #[error("{0}")]
    Conflict(String),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] CriError),
}

impl NodeApiError {
    /// The HTTP code and `Status.reason` of this error.
    pub fn code_and_reason(&self) -> (StatusCode, &'static str) {
        match self {
            NodeApiError::NotFound(_) | NodeApiError::Runtime(CriError::NotFound(_)) => {
                (StatusCode::NOT_FOUND, "NotFound")
            }
            NodeApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "BadRequest"),
            NodeApiError::Conflict(_) => (StatusCode::CONFLICT, "Conflict"),
            NodeApiError::Runtime(_) => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        }
    }
}

impl IntoResponse for NodeApiError {
    fn into_response(self) -> Response {
        let (code, reason) = self.code_and_reason();
        let body = serde_json::json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": reason,
            "code": code.as_u16(),
        });
        (
            code,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response()
    }
}
