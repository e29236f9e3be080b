//! `GET /media/{key}` for the local driver: stored renditions served with their stored type, no
//! sniffing, a sandboxing CSP, immutable caching, an ETag, and single byte ranges.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::AppError;
use crate::error::code;
use crate::media::storage::content_type_of;
use crate::media::storage::local::is_safe_key;
use crate::state::AppState;

/// The media route; mounted only when the local driver is in use.
pub fn router() -> Router<AppState> {
    Router::new().route("/media/{*key}", get(serve_media))
}

const NOT_FOUND: AppError = AppError::NotFound {
    code: code::MEDIA_NOT_FOUND,
    detail: "No such file.",
};

async fn serve_media(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    if !is_safe_key(&key) {
        return Err(NOT_FOUND);
    }
    let ctype = content_type_of(&key).ok_or(NOT_FOUND)?;
    let path = state.settings().media_dir().join(&key);
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(NOT_FOUND),
        Err(e) => return Err(anyhow::Error::from(e).context("reading media").into()),
    };
    // Keys are never reused, so the content behind a key never changes: length and key identify it.
    let etag = format!("\"{:x}-{:x}\"", bytes.len(), crc(&key));
    let mut res = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
            None => (StatusCode::OK, bytes).into_response(),
            Some(range) => match parse_range(range, bytes.len()) {
                Some((start, end)) => {
                    let mut r = (StatusCode::PARTIAL_CONTENT, bytes[start..=end].to_vec()).into_response();
                    let value = format!("bytes {start}-{end}/{}", bytes.len());
                    r.headers_mut().insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&value).map_err(anyhow::Error::from)?,
                    );
                    r
                }
                None => {
                    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    let value = format!("bytes */{}", bytes.len());
                    r.headers_mut().insert(
                        header::CONTENT_RANGE,
                        HeaderValue::from_str(&value).map_err(anyhow::Error::from)?,
                    );
                    return Ok(r);
                }
            },
        }
    };
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(anyhow::Error::from)?);
    Ok(res)
}

/// A small stable checksum of the key for the ETag.
fn crc(key: &str) -> u32 {
    key.bytes()
        .fold(0x811c_9dc5u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193))
}

/// One `bytes=a-b`, `bytes=a-` or `bytes=-n` range within `len`; anything else is unsatisfiable.
fn parse_range(value: &str, len: usize) -> Option<(usize, usize)> {
    let spec = value.strip_prefix("bytes=")?.trim();
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: usize = n.parse().ok()?;
            if n == 0 {
                return None;
            }
            (len.saturating_sub(n), len - 1)
        }
        (s, "") => (s.parse().ok()?, len - 1),
        (s, e) => (s.parse().ok()?, e.parse::<usize>().ok()?.min(len - 1)),
    };
    (start <= end && start < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn byte_ranges_parse_within_the_length() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        for bad in [
            "bytes=100-",
            "bytes=5-1",
            "bytes=0-1,3-4",
            "items=0-1",
            "bytes=x-y",
            "bytes=-0",
        ] {
            assert_eq!(parse_range(bad, 100), None, "{bad}");
        }
    }
}
