//! One application error type, rendered as RFC 9457 `application/problem+json`.
//!
//! Handlers return `Result<T>`; whatever goes wrong leaves through [`AppError::into_response`] with a
//! stable machine `code`. Internal causes are logged (once, by the request middleware) and never sent.

pub mod code;

use std::collections::BTreeMap;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::limiter::LimitError;
use crate::http::request_id;
use crate::media::storage::StorageError;

/// The crate-wide result type.
pub type Result<T, E = AppError> = std::result::Result<T, E>;

/// Field name → human messages, for validation failures.
pub type FieldErrors = BTreeMap<String, Vec<String>>;

/// Every error a handler can return.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation {
        code: &'static str,
        detail: String,
        errors: FieldErrors,
    },
    #[error("bad request: {detail}")]
    BadRequest { code: &'static str, detail: String },
    /// Well-formed but unacceptable content (a broken image, a reused idempotency key).
    #[error("unprocessable: {detail}")]
    Unprocessable { code: &'static str, detail: String },
    #[error("unauthorized: {code}")]
    Unauthorized { code: &'static str, detail: &'static str },
    #[error("forbidden: {code}")]
    Forbidden { code: &'static str, detail: &'static str },
    #[error("not found")]
    NotFound { code: &'static str, detail: &'static str },
    #[error("conflict: {code}")]
    Conflict {
        code: &'static str,
        detail: &'static str,
        field: Option<&'static str>,
    },
    #[error("payload too large")]
    PayloadTooLarge { detail: String },
    #[error("unsupported media type")]
    UnsupportedMediaType { code: &'static str, detail: String },
    #[error("rate limited")]
    RateLimited { retry_after: Duration },
    #[error("service unavailable: {0}")]
    Unavailable(&'static str),
    /// A service we depend on failed: 502 (refused), 503 (down) or 504 (too slow).
    #[error("upstream failure: {code}")]
    /// A service Rampart depends on failed; `upstream` names it in the answer and the log.
    Upstream {
        upstream: &'static str,
        status: u16,
        code: &'static str,
    },
    #[error("precondition failed")]
    PreconditionFailed,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.insert(field.to_owned(), vec![message.into()]);
        AppError::Validation {
            code: code::VALIDATION_FAILED,
            detail: "The request did not pass validation.".into(),
            errors,
        }
    }

    /// Validation errors collected across several fields.
    pub fn invalid_fields(errors: FieldErrors) -> Self {
        AppError::Validation {
            code: code::VALIDATION_FAILED,
            detail: "The request did not pass validation.".into(),
            errors,
        }
    }

    /// The status this error maps to.
    pub fn status(&self) -> StatusCode {
        match self {
            AppError::Validation { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            AppError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            AppError::Forbidden { .. } => StatusCode::FORBIDDEN,
            AppError::NotFound { .. } => StatusCode::NOT_FOUND,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Upstream { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY),
            AppError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code_and_detail(&self) -> (&'static str, String) {
        match self {
            AppError::Validation { code, detail, .. }
            | AppError::BadRequest { code, detail }
            | AppError::Unprocessable { code, detail } => (code, detail.clone()),
            AppError::Unauthorized { code, detail }
            | AppError::Forbidden { code, detail }
            | AppError::NotFound { code, detail }
            | AppError::Conflict { code, detail, .. } => (code, (*detail).to_owned()),
            AppError::PayloadTooLarge { detail } => (code::PAYLOAD_TOO_LARGE, detail.clone()),
            AppError::UnsupportedMediaType { code, detail } => (code, detail.clone()),
            AppError::RateLimited { .. } => (
                code::RATE_LIMITED,
                "Too many requests; retry after the given delay.".into(),
            ),
            AppError::Unavailable(what) => (
                code::SERVICE_UNAVAILABLE,
                format!("{what} is unavailable; retry shortly."),
            ),
            AppError::Upstream { upstream, code, .. } => {
                (code, format!("{upstream} failed; nothing was saved. Retry later."))
            }
            AppError::PreconditionFailed => (
                code::PRECONDITION_FAILED,
                "The resource has changed since you read it (If-Match).".into(),
            ),
            AppError::Internal(_) => (code::INTERNAL_ERROR, "An unexpected error occurred.".into()),
        }
    }
}

/// The wire shape of a problem document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the problem type.
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine code, e.g. `email_taken`.
    pub code: String,
    pub request_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<FieldErrors>,
}

/// Marks an error response as already carrying its deliberate body (a problem document, or the
/// readiness report of a 503), so the fallback mapper leaves it alone.
#[derive(Clone, Copy)]
pub struct ProblemMarker;

/// Builds a problem response; used by [`AppError`] and by the middleware that wraps foreign errors.
pub fn problem_response(status: StatusCode, code: &str, detail: String, errors: Option<FieldErrors>) -> Response {
    let body = Problem {
        type_uri: format!("https://rampart.dev/problems/{}", code.replace('_', "-")),
        title: status.canonical_reason().unwrap_or("Error").to_owned(),
        status: status.as_u16(),
        detail,
        code: code.to_owned(),
        request_id: request_id::current().unwrap_or_default(),
        errors,
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut res = (status, bytes).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    res.extensions_mut().insert(ProblemMarker);
    res
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (code, detail) = self.code_and_detail();
        let errors = match &self {
            AppError::Validation { errors, .. } if !errors.is_empty() => Some(errors.clone()),
            AppError::Conflict {
                field: Some(f), detail, ..
            } => Some(FieldErrors::from([((*f).to_owned(), vec![(*detail).to_owned()])])),
            _ => None,
        };
        let mut res = problem_response(status, code, detail, errors);
        match &self {
            AppError::Unauthorized { code, .. } => {
                let value = if *code == code::INVALID_TOKEN {
                    "Bearer error=\"invalid_token\""
                } else {
                    "Bearer"
                };
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
            }
            AppError::RateLimited { retry_after } => {
                let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            AppError::Unavailable(_) | AppError::Upstream { status: 503, .. } => {
                res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
            }
            AppError::Internal(err) => {
                // Carried to the logging middleware so the cause chain is logged once, inside the request span.
                res.extensions_mut().insert(InternalCause(format!("{err:#}")));
            }
            _ => {}
        }
        res
    }
}

/// The cause chain of an internal error, for the log line only.
#[derive(Clone)]
pub struct InternalCause(pub String);

impl From<crate::store::Error> for AppError {
    fn from(err: crate::store::Error) -> Self {
        use crate::store::Error;
        match err {
            Error::Unavailable(why) => {
                tracing::warn!(error = %why, "database unavailable");
                AppError::Unavailable("The database")
            }
            // Stored data this code cannot read: logged, and the request refused rather than guessed at.
            Error::Decode { column, detail } => {
                tracing::error!(column, detail, "undecodable value in the database");
                AppError::Internal(anyhow::anyhow!("undecodable value in column {column}: {detail}"))
            }
            other => AppError::Internal(anyhow::Error::new(other).context("database query")),
        }
    }
}

/// The storage driver, as named in answers.
const STORAGE: &str = "The storage service";

/// Storage failures as HTTP errors: down → 503, too slow → 504, refused → 502.
impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        tracing::warn!(error = %e, upstream = STORAGE, "storage operation failed");
        match e {
            StorageError::TimedOut => AppError::Upstream {
                upstream: STORAGE,
                status: 504,
                code: code::STORAGE_TIMEOUT,
            },
            StorageError::Unreachable(_) => AppError::Upstream {
                upstream: STORAGE,
                status: 503,
                code: code::STORAGE_UNAVAILABLE,
            },
            StorageError::Rejected(_) | StorageError::Io(_) => AppError::Upstream {
                upstream: STORAGE,
                status: 502,
                code: code::STORAGE_ERROR,
            },
        }
    }
}

/// Over a rate limit → 429 with `Retry-After`; the shared limiter unreachable → 503 (fail closed).
impl From<LimitError> for AppError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(retry_after) => AppError::RateLimited { retry_after },
            LimitError::Unavailable => AppError::Unavailable("The rate limiter"),
        }
    }
}
