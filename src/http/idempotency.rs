//! Idempotent POSTs: a client that sends `Idempotency-Key` may retry a request and get the first
//! answer back instead of a second effect. Any handler can use it:
//!
//! 1. [`key`] reads the header (1–255 visible ASCII characters, else `400 invalid_idempotency_key`);
//! 2. [`fingerprint`] hashes what makes two requests the same request;
//! 3. [`claim`] takes the key for the caller: a finished earlier attempt with the same fingerprint is
//!    replayed, a running one is waited for (then `409 idempotency_in_progress`), another fingerprint
//!    is `422 idempotency_key_reused`;
//! 4. the handler runs; an answer to keep carries its body as a [`Replayable`] extension;
//! 5. [`settle`] stores that answer for the key, or frees the key if the attempt failed, so that a
//!    retry can succeed.
//!
//! Keys belong to a user and live in `idempotency_keys` (`store::idempotency`), so every instance
//! sees the same claims.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::code;
use crate::error::{AppError, Result};
use crate::state::AppState;
use crate::store::{self, idempotency::Claim};

/// How long a retry waits for an attempt with its key that is still running.
const WAIT: Duration = Duration::from_secs(20);

/// A valid `Idempotency-Key`.
pub struct Key(String);

/// The header as the OpenAPI document states it (`params(idempotency::Header)`); [`key`] is the rule.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)] // only describes the header; handlers read it with `key`
pub struct Header {
    /// Retries with the same key and body return the original answer. 1–255 visible ASCII characters.
    #[param(
        rename = "Idempotency-Key",
        pattern = "^[\\x21-\\x7E]{1,255}$",
        min_length = 1,
        max_length = 255
    )]
    key: Option<String>,
}

pub fn key(headers: &HeaderMap) -> Result<Option<Key>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = v
        .to_str()
        .ok()
        .map(str::trim)
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(|k| Some(Key(k.to_owned()))).ok_or(AppError::BadRequest {
        code: code::INVALID_IDEMPOTENCY_KEY,
        detail: "Idempotency-Key must be 1–255 visible ASCII characters.".into(),
    })
}

/// SHA-256 of the parts, each followed by a zero byte except the last (hex).
pub fn fingerprint(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0u8]);
        }
        h.update(part);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The JSON body of an answer that [`settle`] keeps for its key.
#[derive(Clone)]
pub struct Replayable(pub String);

/// Claims `key` for `user`. `None`: this request owns the key and must [`settle`] it. `Some`: the
/// replayed answer of an earlier attempt, with `Idempotent-Replayed: true` and the headers that
/// `headers_of` derives from its body (a `Location`, an `ETag`).
pub async fn claim(
    state: &AppState,
    user: Uuid,
    key: &Key,
    fingerprint: &str,
    headers_of: impl Fn(&serde_json::Value) -> Vec<(HeaderName, String)>,
) -> Result<Option<Response>> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match store::idempotency::claim(state.db(), user, &key.0, fingerprint).await? {
            Claim::Fresh => return Ok(None),
            Claim::Done { status, body } => {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::CREATED);
                let saved: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                let mut res = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
                set_header(&mut res, HeaderName::from_static("idempotent-replayed"), "true");
                for (name, value) in headers_of(&saved) {
                    set_header(&mut res, name, &value);
                }
                return Ok(Some(res));
            }
            Claim::Mismatch => {
                return Err(AppError::Unprocessable {
                    code: code::IDEMPOTENCY_KEY_REUSED,
                    detail: "This Idempotency-Key was used with a different request.".into(),
                });
            }
            Claim::InProgress if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Claim::InProgress => {
                return Err(AppError::Conflict {
                    code: code::IDEMPOTENCY_IN_PROGRESS,
                    detail: "A request with this Idempotency-Key is still running; retry shortly.",
                    field: None,
                });
            }
        }
    }
}

/// Keeps the answer for the key when it carries a [`Replayable`] body, frees the key otherwise, and
/// hands the answer back.
pub async fn settle(state: &AppState, user: Uuid, key: &Key, result: Result<Response>) -> Result<Response> {
    let kept = result.as_ref().ok().and_then(|res| {
        let body = res.extensions().get::<Replayable>()?;
        Some((res.status().as_u16(), body.0.clone()))
    });
    match kept {
        Some((status, body)) => store::idempotency::complete(state.db(), user, &key.0, status, &body).await?,
        None => store::idempotency::release(state.db(), user, &key.0).await?,
    }
    result
}

/// Sets a header whose value was built from data (an unrepresentable value is left out).
pub fn set_header(res: &mut Response, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().insert(name, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_separates_its_parts() {
        assert_ne!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"a", b"bc"]));
        assert_eq!(fingerprint(&[b"ab", b"c"]), fingerprint(&[b"ab", b"c"]));
    }

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        let read = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert("idempotency-key", HeaderValue::from_str(v).unwrap());
            key(&h).map(|k| k.map(|k| k.0))
        };
        assert_eq!(read(" abc ").ok().flatten().as_deref(), Some("abc"));
        assert!(read(&"k".repeat(255)).is_ok());
        assert!(read(&"k".repeat(256)).is_err());
        assert!(read("has space").is_err());
        assert!(key(&HeaderMap::new()).unwrap().is_none());
    }
}
