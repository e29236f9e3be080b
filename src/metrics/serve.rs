//! `GET /metrics`: on a listener of its own (`metrics.bind`), or on the public port behind
//! `metrics.token`. When a token is set, every scrape must send it, whichever port it comes to.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use subtle::ConstantTimeEq;

use crate::error::{AppError, code};
use crate::state::AppState;

/// The content type of the text exposition format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The one route, for either listener.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(scrape))
}

/// The router a separate metrics listener serves: `/metrics`, and 404 for everything else.
pub fn listener_router(state: AppState) -> Router {
    router().with_state(state)
}

async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let Some(metrics) = state.metrics() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(token) = state.settings().metrics.token()
        && !bearer_matches(&headers, token)
    {
        return AppError::Unauthorized {
            code: code::INVALID_TOKEN,
            detail: "Scraping the metrics needs the metrics token.",
        }
        .into_response();
    }
    (
        [
            (header::CONTENT_TYPE, CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        metrics.render(&state),
    )
        .into_response()
}

/// Whether `Authorization: Bearer <token>` carries `token`, compared in constant time.
fn bearer_matches(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|sent| bool::from(sent.trim().as_bytes().ct_eq(token.as_bytes())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let with = |value: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
            h
        };
        assert!(bearer_matches(&with("Bearer s3cret"), "s3cret"));
        for wrong in ["Bearer s3cre", "Bearer s3cret2", "Basic s3cret", "s3cret", "Bearer "] {
            assert!(!bearer_matches(&with(wrong), "s3cret"), "{wrong}");
        }
        assert!(!bearer_matches(&HeaderMap::new(), "s3cret"));
    }
}
