//! Kubernetes-visible failures ([`ApiError`]) and the `meta.k8s.io/v1`
//! [`Status`] object they become on the wire.
//!
//! Every variant maps to one `reason` and one HTTP code, and builds the
//! message kube-apiserver would send, word for word (the constructors are
//! named after apimachinery's `errors.NewXxx`). Two naming rules matter:
//! - NotFound / AlreadyExists / Conflict / Forbidden / MethodNotAllowed name
//!   the *resource*, qualified by its group when there is one
//!   (`deployments.apps "web" not found`), and put the plural in
//!   `details.kind`;
//! - Invalid names the *Kind* (`Deployment.apps "web" is invalid: ...`) and
//!   puts the Kind in `details.kind`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::cause::{aggregate_message, Cause};

/// Detail of `Conflict` on a resourceVersion mismatch.
pub const OPTIMISTIC_LOCK_ERROR_MSG: &str =
    "the object has been modified; please apply your changes to the latest version and try again";

/// Cause type set on the `Timeout` for a resourceVersion newer than the store.
pub const CAUSE_RESOURCE_VERSION_TOO_LARGE: &str = "ResourceVersionTooLarge";
/// Cause type on the `Forbidden` for writes into a terminating namespace.
pub const CAUSE_NAMESPACE_TERMINATING: &str = "NamespaceTerminating";
/// Cause type of each conflicting field of a server-side apply.
pub const CAUSE_FIELD_MANAGER_CONFLICT: &str = "FieldManagerConflict";

/// The `metav1.Status` object, field for field (and in kube-apiserver's
/// JSON key order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// Always `Status`.
    pub kind: String,
    /// Always `v1` (what kube-apiserver writes).
    pub api_version: String,
    /// List metadata; `{}` except for an expired `continue`.
    #[serde(default)]
    pub metadata: StatusMetadata,
    /// `Success` or `Failure`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Human-readable description.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Machine-readable reason (`NotFound`, ...); empty on success.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Extra data about the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    /// HTTP status code.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub code: u16,
}

/// `Status.metadata` (a `ListMeta`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusMetadata {
    /// Set only on an expired continue token that may be used inconsistently.
    #[serde(rename = "continue", default, skip_serializing_if = "String::is_empty")]
    pub continue_token: String,
    /// Unused on errors.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_version: String,
}

/// `metav1.StatusDetails`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetails {
    /// Name of the object concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Its API group (empty for core).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
    /// Resource plural for most reasons, the Kind for `Invalid`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// UID of the object (delete responses).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub uid: String,
    /// One entry per problem.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub causes: Vec<StatusCause>,
    /// Client should retry after this many seconds (copied into `Retry-After`).
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub retry_after_seconds: u32,
}

/// `metav1.StatusCause`: the cause type is serialized as `reason`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCause {
    /// Cause type (`FieldValueRequired`, `FieldManagerConflict`, ...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Human-readable text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Field path, if the cause is about a field.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub field: String,
}

impl From<&Cause> for StatusCause {
    fn from(c: &Cause) -> Self {
        StatusCause {
            reason: c.kind.as_str().to_string(),
            message: c.message.clone(),
            field: c.field.clone(),
        }
    }
}

fn is_zero(n: &u16) -> bool {
    *n == 0
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

impl Status {
    /// A `Success` status, as returned by a delete that has no object to
    /// return (`{"status":"Success","details":{...}}`).
    pub fn success(details: Option<StatusDetails>) -> Self {
        Status {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: StatusMetadata::default(),
            status: "Success".into(),
            message: String::new(),
            reason: String::new(),
            details,
            code: 0,
        }
    }

    /// This status as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// Every failure a client can see. Build them with the constructors (which
/// take care of qualification and wording); read them with [`ApiError::code`],
/// [`ApiError::reason`], [`ApiError::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 404: the named object does not exist.
    #[error("{}", self.message())]
    NotFound {
        /// API group ("" for core).
        group: String,
        /// Resource plural.
        resource: String,
        /// Object name.
        name: String,
    },
    /// 409: create of a name that exists.
    #[error("{}", self.message())]
    AlreadyExists {
        /// API group.
        group: String,
        /// Resource plural.
        resource: String,
        /// Object name.
        name: String,
    },
    /// 409 (reason AlreadyExists): a generated name collided; retry.
    #[error("{}", self.message())]
    GenerateNameConflict {
        /// API group.
        group: String,
        /// Resource plural.
        resource: String,
        /// The generated name that collided.
        name: String,
        /// Seconds to wait before retrying.
        retry_after_seconds: u32,
    },
    /// 409: precondition or resourceVersion mismatch.
    #[error("{}", self.message())]
    Conflict {
        /// API group.
        group: String,
        /// Resource plural.
        resource: String,
        /// Object name.
        name: String,
        /// Why (e.g. [`OPTIMISTIC_LOCK_ERROR_MSG`]).
        detail: String,
    },
    /// 409 (reason Conflict): server-side apply field conflicts.
    #[error("{message}")]
    ApplyConflict {
        /// Full message.
        message: String,
        /// One `FieldManagerConflict` cause per field.
        causes: Vec<StatusCause>,
    },
    /// 422: the object failed validation.
    #[error("{}", self.message())]
    Invalid {
        /// API group of the Kind.
        group: String,
        /// Kind (`Pod`).
        kind: String,
        /// Object name.
        name: String,
        /// The field errors.
        causes: Vec<Cause>,
    },
    /// 400: malformed request.
    #[error("{message}")]
    BadRequest {
        /// Message shown as is.
        message: String,
    },
    /// 422 without field causes: a well-formed request that cannot be
    /// carried out (e.g. a JSON patch whose `test` fails).
    #[error("{message}")]
    Unprocessable {
        /// Message shown as is.
        message: String,
    },
    /// 401: no or bad credentials.
    #[error("{}", self.message())]
    Unauthorized {
        /// Message; empty means "not authorized".
        message: String,
    },
    /// 403: authorization or admission said no.
    #[error("{}", self.message())]
    Forbidden {
        /// API group.
        group: String,
        /// Resource plural ("" for a non-resource request).
        resource: String,
        /// Object name, may be empty.
        name: String,
        /// Why.
        reason: String,
        /// Extra causes (e.g. `NamespaceTerminating`).
        causes: Vec<StatusCause>,
    },
    /// 405: verb not supported on this resource.
    #[error("{}", self.message())]
    MethodNotAllowed {
        /// API group.
        group: String,
        /// Resource plural.
        resource: String,
        /// The action (`create`, `delete`, ...).
        action: String,
    },
    /// 410 with the legacy reason `Gone`.
    #[error("{message}")]
    Gone {
        /// Message.
        message: String,
    },
    /// 410 `Expired`: resourceVersion or continue token too old.
    #[error("{message}")]
    Expired {
        /// Message.
        message: String,
        /// Continue token for an inconsistent continuation (may be empty).
        continue_token: String,
    },
    /// 413: body too big.
    #[error("{}", self.message())]
    RequestEntityTooLarge {
        /// What was too large.
        message: String,
    },
    /// 415: unknown request body / patch type.
    #[error("{}", self.message())]
    UnsupportedMediaType {
        /// The media types that would have been accepted.
        accepted: Vec<String>,
    },
    /// 406: no acceptable response type.
    #[error("{}", self.message())]
    NotAcceptable {
        /// The media types the server can produce.
        accepted: Vec<String>,
    },
    /// 406: the answer asked for does not fit the object (metadata of one
    /// object asked of a list, or the reverse).
    #[error("{message}")]
    NotAcceptableAs {
        /// Message.
        message: String,
    },
    /// 429: throttled.
    #[error("{message}")]
    TooManyRequests {
        /// Message.
        message: String,
        /// Seconds to wait.
        retry_after_seconds: u32,
    },
    /// 504: the request (or a wait for a resourceVersion) timed out.
    #[error("{}", self.message())]
    Timeout {
        /// Message after `Timeout: `.
        message: String,
        /// Seconds to wait.
        retry_after_seconds: u32,
        /// Extra causes (e.g. `ResourceVersionTooLarge`).
        causes: Vec<StatusCause>,
    },
    /// 500 `ServerTimeout`: an operation could not complete in time; retry.
    #[error("{}", self.message())]
    ServerTimeout {
        /// API group.
        group: String,
        /// Resource plural.
        resource: String,
        /// The operation (`create`, `list`, ...).
        operation: String,
        /// Seconds to wait.
        retry_after_seconds: u32,
    },
    /// 503: not ready or shutting down.
    #[error("{message}")]
    ServiceUnavailable {
        /// Message.
        message: String,
    },
    /// 500: a bug or a store failure.
    #[error("{}", self.message())]
    InternalError {
        /// The underlying error text.
        message: String,
    },
}

/// `resource` or `resource.group` (Go's `GroupResource.String()`).
pub fn qualified(name: &str, group: &str) -> String {
    if group.is_empty() {
        name.to_string()
    } else {
        format!("{name}.{group}")
    }
}

fn q(s: &str) -> String {
    crate::cause::go_quote(s)
}

impl ApiError {
    /// `<resource> "<name>" not found`.
    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        ApiError::NotFound {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
        }
    }

    /// `<resource> "<name>" already exists`.
    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        ApiError::AlreadyExists {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
        }
    }

    /// `<resource> "<name>" already exists, the server was not able to generate a unique name for the object`.
    pub fn generate_name_conflict(
        group: &str,
        resource: &str,
        name: &str,
        retry_after_seconds: u32,
    ) -> Self {
        ApiError::GenerateNameConflict {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            retry_after_seconds,
        }
    }

    /// `Operation cannot be fulfilled on <resource> "<name>": <detail>`.
    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> Self {
        ApiError::Conflict {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            detail: detail.into(),
        }
    }

    /// The resourceVersion-mismatch conflict ([`OPTIMISTIC_LOCK_ERROR_MSG`]).
    pub fn conflict_modified(group: &str, resource: &str, name: &str) -> Self {
        ApiError::conflict(group, resource, name, OPTIMISTIC_LOCK_ERROR_MSG)
    }

    /// `<Kind> "<name>" is invalid: <causes>`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        ApiError::Invalid {
            group: group.into(),
            kind: kind.into(),
            name: name.into(),
            causes,
        }
    }

    /// 400 with this message.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            message: message.into(),
        }
    }

    /// 400 `BadRequest` with `message`.
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            message: message.into(),
        }
    }

    /// 401 with this message (`not authorized` when empty).
    pub fn unauthorized(message: impl Into<String>) -> Self {
        ApiError::Unauthorized {
            message: message.into(),
        }
    }

    /// `<resource> "<name>" is forbidden: <reason>` (name part dropped when
    /// empty, `forbidden: <reason>` without a resource).
    pub fn forbidden(group: &str, resource: &str, name: &str, reason: impl Into<String>) -> Self {
        ApiError::Forbidden {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            reason: reason.into(),
            causes: Vec::new(),
        }
    }

    /// NamespaceLifecycle's refusal to create in a terminating namespace,
    /// with its `NamespaceTerminating` cause on `metadata.namespace`.
    pub fn namespace_terminating(group: &str, resource: &str, name: &str, namespace: &str) -> Self {
        let reason = format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        );
        ApiError::Forbidden {
            group: group.into(),
            resource: resource.into(),
            name: name.into(),
            reason: reason.clone(),
            causes: vec![StatusCause {
                reason: CAUSE_NAMESPACE_TERMINATING.into(),
                message: reason,
                field: "metadata.namespace".into(),
            }],
        }
    }

    /// `<action> is not supported on resources of kind "<resource>"`.
    pub fn method_not_allowed(group: &str, resource: &str, action: &str) -> Self {
        ApiError::MethodNotAllowed {
            group: group.into(),
            resource: resource.into(),
            action: action.into(),
        }
    }

    /// 410 `Gone` (legacy reason).
    pub fn gone(message: impl Into<String>) -> Self {
        ApiError::Gone {
            message: message.into(),
        }
    }

    /// 410 `Expired`.
    pub fn expired(message: impl Into<String>) -> Self {
        ApiError::Expired {
            message: message.into(),
            continue_token: String::new(),
        }
    }

    /// `too old resource version: <requested> (<oldest available>)`, 410 Expired.
    pub fn too_old_resource_version(requested: u64, oldest: u64) -> Self {
        ApiError::expired(format!("too old resource version: {requested} ({oldest})"))
    }

    /// `Request entity too large: <message>`.
    pub fn request_entity_too_large(message: impl Into<String>) -> Self {
        ApiError::RequestEntityTooLarge {
            message: message.into(),
        }
    }

    /// 415 listing the accepted media types.
    pub fn unsupported_media_type<S: AsRef<str>>(accepted: &[S]) -> Self {
        ApiError::UnsupportedMediaType {
            accepted: accepted.iter().map(|s| s.as_ref().to_string()).collect(),
        }
    }

    /// 406 listing the media types the server can produce.
    pub fn not_acceptable<S: AsRef<str>>(accepted: &[S]) -> Self {
        ApiError::NotAcceptable {
            accepted: accepted.iter().map(|s| s.as_ref().to_string()).collect(),
        }
    }

    /// 406 `NotAcceptable` with this message.
    pub fn not_acceptable_as(message: impl Into<String>) -> Self {
        ApiError::NotAcceptableAs {
            message: message.into(),
        }
    }

    /// 429 with this message and `retryAfterSeconds`.
    pub fn too_many_requests(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        ApiError::TooManyRequests {
            message: message.into(),
            retry_after_seconds,
        }
    }

    /// 504 `Timeout: <message>`.
    pub fn timeout(message: impl Into<String>, retry_after_seconds: u32) -> Self {
        ApiError::Timeout {
            message: message.into(),
            retry_after_seconds,
            causes: Vec::new(),
        }
    }

    /// The 504 for a GET/LIST at a resourceVersion the store has not reached:
    /// `Timeout: Too large resource version: <requested>, current: <current>`
    /// with a `ResourceVersionTooLarge` cause.
    pub fn too_large_resource_version(
        requested: u64,
        current: u64,
        retry_after_seconds: u32,
    ) -> Self {
        ApiError::Timeout {
            message: format!("Too large resource version: {requested}, current: {current}"),
            retry_after_seconds,
            causes: vec![StatusCause {
                reason: CAUSE_RESOURCE_VERSION_TOO_LARGE.into(),
                message: "Too large resource version".into(),
                field: String::new(),
            }],
        }
    }

    /// 500 `ServerTimeout`.
    pub fn server_timeout(
        group: &str,
        resource: &str,
        operation: &str,
        retry_after_seconds: u32,
    ) -> Self {
        ApiError::ServerTimeout {
            group: group.into(),
            resource: resource.into(),
            operation: operation.into(),
            retry_after_seconds,
        }
    }

    /// 503 with this message.
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        ApiError::ServiceUnavailable {
            message: message.into(),
        }
    }

    /// 500 `Internal error occurred: <message>`.
    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::InternalError {
            message: message.into(),
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Unauthorized { .. } => 401,
            ApiError::Forbidden { .. } => 403,
            ApiError::NotFound { .. } => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::NotAcceptable { .. } | ApiError::NotAcceptableAs { .. } => 406,
            ApiError::AlreadyExists { .. }
            | ApiError::GenerateNameConflict { .. }
            | ApiError::Conflict { .. }
            | ApiError::ApplyConflict { .. } => 409,
            ApiError::Gone { .. } | ApiError::Expired { .. } => 410,
            ApiError::RequestEntityTooLarge { .. } => 413,
            ApiError::UnsupportedMediaType { .. } => 415,
            ApiError::Invalid { .. } => 422,
            ApiError::TooManyRequests { .. } => 429,
            ApiError::InternalError { .. } | ApiError::ServerTimeout { .. } => 500,
            ApiError::ServiceUnavailable { .. } => 503,
            ApiError::Timeout { .. } => 504,
        }
    }

    /// The `Status.reason`.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::NotFound { .. } => "NotFound",
            ApiError::AlreadyExists { .. } | ApiError::GenerateNameConflict { .. } => {
                "AlreadyExists"
            }
            ApiError::Conflict { .. } | ApiError::ApplyConflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::Unprocessable { .. } => "Invalid",
            ApiError::Unauthorized { .. } => "Unauthorized",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::Gone { .. } => "Gone",
            ApiError::Expired { .. } => "Expired",
            ApiError::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::NotAcceptable { .. } | ApiError::NotAcceptableAs { .. } => "NotAcceptable",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Timeout { .. } => "Timeout",
            ApiError::ServerTimeout { .. } => "ServerTimeout",
            ApiError::ServiceUnavailable { .. } => "ServiceUnavailable",
            ApiError::InternalError { .. } => "InternalError",
        }
    }

    /// The `Status.message`, worded as kube-apiserver words it.
    pub fn message(&self) -> String {
        match self {
            ApiError::NotFound { group, resource, name } => {
                format!("{} {} not found", qualified(resource, group), q(name))
            }
            ApiError::AlreadyExists { group, resource, name } => {
                format!("{} {} already exists", qualified(resource, group), q(name))
            }
            ApiError::GenerateNameConflict { group, resource, name, .. } => format!(
                "{} {} already exists, the server was not able to generate a unique name for the object",
                qualified(resource, group),
                q(name)
            ),
            ApiError::Conflict { group, resource, name, detail } => format!(
                "Operation cannot be fulfilled on {} {}: {}",
                qualified(resource, group),
                q(name),
                detail
            ),
            ApiError::ApplyConflict { message, .. } => message.clone(),
            ApiError::Invalid { group, kind, name, causes } => match aggregate_message(causes) {
                None => format!("{} {} is invalid", qualified(kind, group), q(name)),
                Some(agg) => format!("{} {} is invalid: {}", qualified(kind, group), q(name), agg),
            },
            ApiError::BadRequest { message } | ApiError::Unprocessable { message } => {
                message.clone()
            }
            ApiError::Unauthorized { message } => {
                if message.is_empty() {
                    "not authorized".to_string()
                } else {
                    message.clone()
                }
            }
            ApiError::Forbidden { group, resource, name, reason, .. } => {
                if resource.is_empty() && group.is_empty() {
                    format!("forbidden: {reason}")
                } else if name.is_empty() {
                    format!("{} is forbidden: {}", qualified(resource, group), reason)
                } else {
                    format!("{} {} is forbidden: {}", qualified(resource, group), q(name), reason)
                }
            }
            ApiError::MethodNotAllowed { group, resource, action } => {
                format!("{} is not supported on resources of kind {}", action, q(&qualified(resource, group)))
            }
            ApiError::Gone { message } | ApiError::Expired { message, .. } => message.clone(),
            ApiError::RequestEntityTooLarge { message } => format!("Request entity too large: {message}"),
            ApiError::UnsupportedMediaType { accepted } => format!(
                "the body of the request was in an unknown format - accepted media types include: {}",
                accepted.join(", ")
            ),
            ApiError::NotAcceptable { accepted } => {
                format!("only the following media types are accepted: {}", accepted.join(", "))
            }
            ApiError::NotAcceptableAs { message } => message.clone(),
            ApiError::TooManyRequests { message, .. } => message.clone(),
            ApiError::Timeout { message, .. } => format!("Timeout: {message}"),
            ApiError::ServerTimeout { group, resource, operation, .. } => format!(
                "The {} operation against {} could not be completed at this time, please try again.",
                operation,
                qualified(resource, group)
            ),
            ApiError::ServiceUnavailable { message } => message.clone(),
            ApiError::InternalError { message } => format!("Internal error occurred: {message}"),
        }
    }

    /// Seconds a client should wait before retrying, if this error says so
    /// (the server copies it into a `Retry-After` header).
    pub fn retry_after_seconds(&self) -> Option<u32> {
        match self {
            ApiError::GenerateNameConflict {
                retry_after_seconds,
                ..
            }
            | ApiError::TooManyRequests {
                retry_after_seconds,
                ..
            }
            | ApiError::Timeout {
                retry_after_seconds,
                ..
            }
            | ApiError::ServerTimeout {
                retry_after_seconds,
                ..
            } => {
                if *retry_after_seconds > 0 {
                    Some(*retry_after_seconds)
                } else {
                    None
                }
            }
            _ => None,
        }
    }

    /// `details` as kube-apiserver fills them for this reason (absent for the
    /// reasons whose constructors set none).
    fn details(&self) -> Option<StatusDetails> {
        let named = |group: &str, kind: &str, name: &str| StatusDetails {
            name: name.into(),
            group: group.into(),
            kind: kind.into(),
            ..StatusDetails::default()
        };
        match self {
            ApiError::NotFound {
                group,
                resource,
                name,
            }
            | ApiError::AlreadyExists {
                group,
                resource,
                name,
            }
            | ApiError::Conflict {
                group,
                resource,
                name,
                ..
            } => Some(named(group, resource, name)),
            ApiError::GenerateNameConflict {
                group,
                resource,
                name,
                retry_after_seconds,
            } => Some(StatusDetails {
                retry_after_seconds: *retry_after_seconds,
                ..named(group, resource, name)
            }),
            ApiError::ApplyConflict { causes, .. } => Some(StatusDetails {
                causes: causes.clone(),
                ..StatusDetails::default()
            }),
            ApiError::Invalid {
                group,
                kind,
                name,
                causes,
            } => Some(StatusDetails {
                causes: causes.iter().map(StatusCause::from).collect(),
                ..named(group, kind, name)
            }),
            ApiError::Forbidden {
                group,
                resource,
                name,
                causes,
                ..
            } => Some(StatusDetails {
                causes: causes.clone(),
                ..named(group, resource, name)
            }),
            ApiError::MethodNotAllowed {
                group, resource, ..
            } => Some(named(group, resource, "")),
            ApiError::TooManyRequests {
                retry_after_seconds,
                ..
            } => Some(StatusDetails {
                retry_after_seconds: *retry_after_seconds,
                ..StatusDetails::default()
            }),
            ApiError::Timeout {
                retry_after_seconds,
                causes,
                ..
            } => Some(StatusDetails {
                retry_after_seconds: *retry_after_seconds,
                causes: causes.clone(),
                ..StatusDetails::default()
            }),
            ApiError::ServerTimeout {
                group,
                resource,
                operation,
                retry_after_seconds,
            } => Some(StatusDetails {
                retry_after_seconds: *retry_after_seconds,
                ..named(group, resource, operation)
            }),
            ApiError::InternalError { message } => Some(StatusDetails {
                causes: vec![StatusCause {
                    message: message.clone(),
                    ..StatusCause::default()
                }],
                ..StatusDetails::default()
            }),
            ApiError::BadRequest { .. }
            | ApiError::Unprocessable { .. }
            | ApiError::Unauthorized { .. }
            | ApiError::Gone { .. }
            | ApiError::Expired { .. }
            | ApiError::RequestEntityTooLarge { .. }
            | ApiError::UnsupportedMediaType { .. }
            | ApiError::NotAcceptable { .. }
            | ApiError::NotAcceptableAs { .. }
            | ApiError::ServiceUnavailable { .. } => None,
        }
    }

    /// The typed `Status` for this error.
    pub fn status(&self) -> Status {
        let continue_token = match self {
            ApiError::Expired { continue_token, .. } => continue_token.clone(),
            _ => String::new(),
        };
        Status {
            kind: "Status".into(),
            api_version: "v1".into(),
            metadata: StatusMetadata {
                continue_token,
                resource_version: String::new(),
            },
            status: "Failure".into(),
            message: self.message(),
            reason: self.reason().into(),
            details: self.details(),
            code: self.code(),
        }
    }

    /// The `Status` as a JSON value. For a response body, serialize
    /// [`ApiError::status`] directly instead: the typed struct keeps
    /// kube-apiserver's key order, a `Value` map does not.
    pub fn to_status(&self) -> Value {
        self.status().to_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_match_kube_apiserver() {
        let cases: Vec<(ApiError, u16, &str, &str)> = vec![
            (ApiError::not_found("", "configmaps", "foo"), 404, "NotFound", "configmaps \"foo\" not found"),
            (ApiError::not_found("apps", "deployments", "web"), 404, "NotFound", "deployments.apps \"web\" not found"),
            (ApiError::already_exists("", "configmaps", "foo"), 409, "AlreadyExists", "configmaps \"foo\" already exists"),
            (
                ApiError::generate_name_conflict("", "pods", "web-abcde", 1),
                409,
                "AlreadyExists",
                "pods \"web-abcde\" already exists, the server was not able to generate a unique name for the object",
            ),
            (
                ApiError::conflict_modified("", "configmaps", "foo"),
                409,
                "Conflict",
                "Operation cannot be fulfilled on configmaps \"foo\": the object has been modified; please apply your changes to the latest version and try again",
            ),
            (
                ApiError::invalid("", "Pod", "x", vec![Cause::required("spec.containers[0].name", "")]),
                422,
                "Invalid",
                "Pod \"x\" is invalid: spec.containers[0].name: Required value",
            ),
            (
                ApiError::invalid(
                    "apps",
                    "Deployment",
                    "web",
                    vec![Cause::required("spec.selector", ""), Cause::invalid("spec.replicas", -1, "must be greater than or equal to 0")],
                ),
                422,
                "Invalid",
                "Deployment.apps \"web\" is invalid: [spec.selector: Required value, spec.replicas: Invalid value: -1: must be greater than or equal to 0]",
            ),
            (ApiError::invalid("", "Pod", "x", vec![]), 422, "Invalid", "Pod \"x\" is invalid"),
            (
                ApiError::namespace_terminating("", "pods", "x", "ns"),
                403,
                "Forbidden",
                "pods \"x\" is forbidden: unable to create new content in namespace ns because it is being terminated",
            ),
            (
                ApiError::forbidden("", "pods", "", "User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\""),
                403,
                "Forbidden",
                "pods is forbidden: User \"bob\" cannot list resource \"pods\" in API group \"\" in the namespace \"default\"",
            ),
            (ApiError::forbidden("", "", "", "User \"bob\" cannot get path \"/metrics\""), 403, "Forbidden", "forbidden: User \"bob\" cannot get path \"/metrics\""),
            (ApiError::unauthorized(""), 401, "Unauthorized", "not authorized"),
            (ApiError::unauthorized("Unauthorized"), 401, "Unauthorized", "Unauthorized"),
            (
                ApiError::method_not_allowed("", "bindings", "list"),
                405,
                "MethodNotAllowed",
                "list is not supported on resources of kind \"bindings\"",
            ),
            (ApiError::too_old_resource_version(100, 250), 410, "Expired", "too old resource version: 100 (250)"),
            (ApiError::gone("gone"), 410, "Gone", "gone"),
            (ApiError::request_entity_too_large("limit is 3145728"), 413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"),
            (
                ApiError::unsupported_media_type(&["application/json", "application/yaml"]),
                415,
                "UnsupportedMediaType",
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml",
            ),
            (
                ApiError::not_acceptable(&["application/json"]),
                406,
                "NotAcceptable",
                "only the following media types are accepted: application/json",
            ),
            (ApiError::too_many_requests("Too many requests, please try again later.", 1), 429, "TooManyRequests", "Too many requests, please try again later."),
            (ApiError::too_large_resource_version(5, 3, 1), 504, "Timeout", "Timeout: Too large resource version: 5, current: 3"),
            (
                ApiError::server_timeout("", "pods", "create", 2),
                500,
                "ServerTimeout",
                "The create operation against pods could not be completed at this time, please try again.",
            ),
            (ApiError::service_unavailable("shutting down"), 503, "ServiceUnavailable", "shutting down"),
            (ApiError::internal("disk on fire"), 500, "InternalError", "Internal error occurred: disk on fire"),
            (ApiError::bad_request("invalid json"), 400, "BadRequest", "invalid json"),
        ];
        for (err, code, reason, message) in cases {
            assert_eq!(err.code(), code, "{err:?}");
            assert_eq!(err.reason(), reason, "{err:?}");
            assert_eq!(err.message(), message, "{err:?}");
            assert_eq!(err.to_string(), message, "Display of {err:?}");
        }
    }

    #[test]
    fn not_found_status_shape() {
        let s = ApiError::not_found("apps", "deployments", "web").to_status();
        assert_eq!(
            s,
            json!({
                "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "deployments.apps \"web\" not found", "reason": "NotFound",
                "details": {"name": "web", "group": "apps", "kind": "deployments"}, "code": 404
            })
        );
        // Core: no group key at all.
        let s = ApiError::not_found("", "configmaps", "foo").to_status();
        assert_eq!(s["details"], json!({"name": "foo", "kind": "configmaps"}));
    }

    #[test]
    fn invalid_status_carries_causes_and_kind() {
        let err = ApiError::invalid(
            "",
            "Pod",
            "x",
            vec![Cause::required("spec.containers[0].name", "")],
        );
        let s = err.to_status();
        assert_eq!(
            s["details"],
            json!({"name": "x", "kind": "Pod", "causes": [
                {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.containers[0].name"}
            ]})
        );
        assert_eq!(s["code"], json!(422));
    }

    #[test]
    fn bad_request_has_no_details_and_key_order_is_kube_order() {
        let body =
            serde_json::to_string(&ApiError::bad_request("nope").status()).unwrap_or_default();
        assert_eq!(
            body,
            r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nope","reason":"BadRequest","code":400}"#
        );
    }

    #[test]
    fn retry_after_and_causes() {
        let err = ApiError::too_large_resource_version(5, 3, 1);
        assert_eq!(err.retry_after_seconds(), Some(1));
        let s = err.to_status();
        assert_eq!(
            s["details"],
            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1})
        );
        assert_eq!(
            ApiError::too_many_requests("x", 3).to_status()["details"],
            json!({"retryAfterSeconds": 3})
        );
        assert_eq!(
            ApiError::not_found("", "pods", "a").retry_after_seconds(),
            None
        );
        let internal = ApiError::internal("boom").to_status();
        assert_eq!(
            internal["details"],
            json!({"causes": [{"message": "boom"}]})
        );
        let ns = ApiError::namespace_terminating("", "pods", "x", "ns").to_status();
        assert_eq!(
            ns["details"]["causes"][0]["reason"],
            json!("NamespaceTerminating")
        );
        assert_eq!(
            ns["details"]["causes"][0]["field"],
            json!("metadata.namespace")
        );
    }

    #[test]
    fn status_round_trips_and_success() {
        let st = ApiError::conflict_modified("", "configmaps", "a").status();
        let back: Status =
            serde_json::from_value(st.to_value()).unwrap_or_else(|_| Status::success(None));
        assert_eq!(back, st);
        let ok = Status::success(Some(StatusDetails {
            name: "a".into(),
            kind: "pods".into(),
            uid: "u1".into(),
            ..StatusDetails::default()
        }));
        assert_eq!(
            ok.to_value(),
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                   "details": {"name": "a", "kind": "pods", "uid": "u1"}})
        );
    }
}
