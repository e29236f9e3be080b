//! Wrappers around axum's extractors so that their rejections leave in our problem+json shape.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::error::code;

/// JSON body extractor. The body must be a JSON object: serde would otherwise map an array onto a
/// struct's fields by position (`["display_name", "x"]` as a profile update). Unknown fields are
/// refused by the target types (`deny_unknown_fields`).
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // axum's own extractor checks the content type and the body limit; the body is parsed once,
        // as a raw value, and only an object goes on to the target type.
        let axum::Json(raw) = axum::Json::<Box<serde_json::value::RawValue>>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        require_object(raw.get().as_bytes())?;
        serde_json::from_str(raw.get()).map(AppJson).map_err(|e| {
            let detail = e.to_string();
            let code = if detail.contains("unknown field") {
                code::UNKNOWN_FIELD
            } else {
                code::INVALID_BODY
            };
            AppError::BadRequest { code, detail }
        })
    }
}

/// For an optional field that may be left out but not sent as `null` (with `#[serde(default)]`):
/// serde would otherwise read `null` as "left out", which the document does not allow.
pub fn non_null<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// For a handler that reads its (optional) body itself: a body that is there must be declared as
/// JSON, as [`AppJson`] requires (`415 unsupported_media_type`).
pub fn require_json_type(headers: &axum::http::HeaderMap) -> Result<(), AppError> {
    let essence = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("application/json") => Ok(()),
        Some(t) if t.starts_with("application/") && t.ends_with("+json") => Ok(()),
        _ => Err(not_json()),
    }
}

fn not_json() -> AppError {
    AppError::UnsupportedMediaType {
        code: code::UNSUPPORTED_MEDIA_TYPE,
        detail: "Expected a body with `Content-Type: application/json`.".into(),
    }
}

/// Refuses a JSON document whose top level is not an object (`400 body_not_object`).
pub fn require_object(json: &[u8]) -> Result<(), AppError> {
    match json.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => Ok(()),
        _ => Err(AppError::BadRequest {
            code: code::BODY_NOT_OBJECT,
            detail: "The body must be a JSON object.".into(),
        }),
    }
}

fn json_rejection(rejection: JsonRejection) -> AppError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => not_json(),
        JsonRejection::JsonSyntaxError(_) => AppError::BadRequest {
            code: code::MALFORMED_JSON,
            detail: "The body is not valid JSON.".into(),
        },
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            // axum prefixes serde's message with its own sentence; keep only serde's part.
            let detail = text.split_once(": ").map(|(_, rest)| rest).unwrap_or(&text).to_owned();
            let code = if detail.contains("unknown field") {
                code::UNKNOWN_FIELD
            } else {
                code::INVALID_BODY
            };
            AppError::BadRequest { code, detail }
        }
        JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            AppError::PayloadTooLarge {
                detail: "The JSON body is larger than this route accepts.".into(),
            }
        }
        _ => AppError::BadRequest {
            code: code::UNREADABLE_BODY,
            detail: "The body could not be read.".into(),
        },
    }
}

/// Query-string extractor.
pub struct AppQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for AppQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(q) => Ok(AppQuery(q.0)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(AppError::BadRequest {
                code: code::INVALID_QUERY,
                detail: e
                    .body_text()
                    .split_once(": ")
                    .map(|(_, r)| r.to_owned())
                    .unwrap_or_default(),
            }),
            Err(_) => Err(AppError::BadRequest {
                code: code::INVALID_QUERY,
                detail: "Invalid query string.".into(),
            }),
        }
    }
}

/// Path-parameter extractor.
pub struct AppPath<T>(pub T);

impl<S, T> FromRequestParts<S> for AppPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(AppPath(p.0)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(AppError::BadRequest {
                code: code::INVALID_PATH,
                detail: "A path parameter is malformed.".into(),
            }),
            Err(_) => Err(AppError::BadRequest {
                code: code::INVALID_PATH,
                detail: "Invalid path.".into(),
            }),
        }
    }
}
