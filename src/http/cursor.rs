//! Opaque pagination cursors: a keyset position (a UUIDv7 id) that clients pass back unchanged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AppError;

/// Encodes a keyset position.
pub fn encode(id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.hyphenated().to_string())
}

/// Decodes a cursor made by [`encode`]; anything else is a 400.
pub fn decode(cursor: &str) -> Result<uuid::Uuid, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| uuid::Uuid::try_parse_ascii(&b).ok())
        .ok_or(AppError::BadRequest {
            code: "invalid_cursor",
            detail: "The cursor is not valid.".into(),
        })
}

/// A page size from the query: default 20, at most 100.
pub fn page_limit(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid("limit", "must be between 1 and 100")),
    }
}
