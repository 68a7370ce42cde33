//! RFC 9457 problem details: every error the API returns is `application/problem+json` with `type`, `title`,
//! `status`, `detail`, a stable `code`, field `errors` when validation failed, and the `request_id`.
//!
//! [`ApiError`] is what handlers return; it documents every error status in the OpenAPI spec. Errors raised by the
//! framework itself (unparseable JSON, unknown route, body too large, missing credentials) are rewritten into the
//! same shape by [`problem_for_framework_error`], so clients only ever see one error format.
use poem::http::{HeaderValue, StatusCode};
use poem::{IntoResponse, Response};
use poem_openapi::registry::{MetaMediaType, MetaResponse, MetaResponses, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiResponse, Object};

use crate::error::AppError;
use crate::http::request_id;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// A field that failed validation.
#[derive(Debug, Clone, Object)]
pub struct ProblemField {
    /// The JSON field (dotted path) or parameter name.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// An RFC 9457 problem document.
#[derive(Debug, Clone, Object)]
pub struct Problem {
    /// A URI naming the problem type.
    #[oai(rename = "type")]
    pub ty: String,
    /// Short human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation specific to this occurrence.
    pub detail: String,
    /// Stable machine-readable code, e.g. `task_not_found`.
    pub code: String,
    /// The request id, also sent as `X-Request-Id`.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// Fields that failed validation.
    #[oai(skip_serializing_if_is_empty, default)]
    pub errors: Vec<ProblemField>,
    /// For version conflicts: the current version of the resource.
    #[oai(skip_serializing_if_is_none)]
    pub current_version: Option<i32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Problem {
        Problem {
            ty: format!("https://taskforge.dev/problems/{}", code.replace('_', "-")),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_owned(),
            request_id: request_id::current(),
            errors: Vec::new(),
            current_version: None,
        }
    }

    pub fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&poem_openapi::types::ToJSON::to_json(&self)).unwrap_or_default();
        Response::builder().status(status).content_type(PROBLEM_JSON).body(body)
    }
}

/// The error half of every operation's result.
#[derive(Debug)]
pub struct ApiError(pub AppError);

impl<E: Into<AppError>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    fn status(&self) -> StatusCode {
        match &self.0 {
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::StaleVersion { .. } => StatusCode::PRECONDITION_FAILED,
            AppError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            AppError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Gone { .. } => StatusCode::GONE,
            AppError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem document for this error.
    pub fn problem(&self) -> Problem {
        let status = self.status();
        match &self.0 {
            AppError::Unauthenticated(detail) => Problem::new(status, "unauthenticated", *detail),
            AppError::Forbidden { code, detail } => Problem::new(status, code, detail.clone()),
            AppError::NotFound(code) => {
                let what = code.trim_end_matches("_not_found").replace('_', " ");
                Problem::new(status, code, format!("no such {what}"))
            }
            AppError::Conflict { code, detail } => Problem::new(status, code, detail.clone()),
            AppError::StaleVersion { current, .. } => {
                let mut p = Problem::new(status, "version_conflict", self.0.to_string());
                p.current_version = Some(*current);
                p
            }
            AppError::PreconditionRequired(detail) => Problem::new(status, "precondition_required", *detail),
            AppError::Validation(errors) => {
                let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
                let mut p = Problem::new(status, "validation_failed", format!("invalid fields: {}", fields.join(", ")));
                p.errors = errors
                    .iter()
                    .map(|e| ProblemField { field: e.field.clone(), message: e.message.clone() })
                    .collect();
                p
            }
            AppError::BadRequest { code, detail } => Problem::new(status, code, detail.clone()),
            AppError::TooLarge { code, detail } => Problem::new(status, code, detail.clone()),
            AppError::Gone { code, detail } => Problem::new(status, code, detail.clone()),
            AppError::RateLimited { retry_after_secs } => {
                Problem::new(status, "rate_limited", format!("too many requests; retry in {retry_after_secs} s"))
            }
            AppError::Unavailable { code, detail } => {
                tracing::warn!(code, detail, "a request needed a service that is down");
                Problem::new(status, code, detail.clone())
            }
            AppError::Internal(e) => {
                tracing::error!(error = ?e, "request failed with an internal error");
                Problem::new(status, "internal_error", "an internal error occurred; quote the request id")
            }
        }
    }
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        ApiError::status(self)
    }

    fn as_response(&self) -> Response {
        let mut resp = self.problem().into_response();
        match &self.0 {
            AppError::RateLimited { retry_after_secs } => {
                resp.headers_mut().insert("retry-after", HeaderValue::from(*retry_after_secs));
            }
            AppError::Unavailable { .. } => {
                resp.headers_mut().insert("retry-after", HeaderValue::from(UNAVAILABLE_RETRY_SECS));
            }
            _ => {}
        }
        resp
    }
}

const ERROR_STATUSES: &[(u16, &str)] = &[
    (400, "The request could not be parsed."),
    (401, "Missing, invalid or expired credentials."),
    (403, "The actor may not do this."),
    (404, "Not found, or not visible to the actor."),
    (409, "Conflicts with the current state."),
    (410, "No longer available (expired)."),
    (412, "The If-Match version is stale."),
    (413, "The request body is too large."),
    (415, "The body must be `application/json`."),
    (422, "Validation failed; `errors` names the fields."),
    (428, "An If-Match header is required."),
    (429, "Rate limited; see Retry-After."),
    (500, "Internal error; quote the request id."),
    (503, "A service the request needs is down; retry after Retry-After seconds."),
];

/// Retry-After of a 503: the queue or mail service is usually back within seconds.
const UNAVAILABLE_RETRY_SECS: u64 = 5;

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: ERROR_STATUSES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType { content_type: PROBLEM_JSON, schema: Problem::schema_ref() }],
                    headers: vec![],
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        Problem::register(registry);
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        poem::error::ResponseError::as_response(&self)
    }
}

/// Rewrites an error raised outside the handlers into a problem response.
pub fn problem_for_framework_error(err: poem::Error) -> Response {
    if err.is::<ApiError>() {
        return err.into_response();
    }
    let status = err.status();
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    };
    let detail = if status == StatusCode::UNAUTHORIZED {
        "authentication required: a session cookie or an `Authorization: Bearer tf_…` token".to_owned()
    } else if status.is_server_error() {
        tracing::error!(error = %err, "request failed in the framework");
        "an internal error occurred; quote the request id".to_owned()
    } else {
        err.to_string()
    };
    Problem::new(status, code, detail).into_response()
}
