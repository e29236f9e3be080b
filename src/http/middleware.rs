//! The edge middleware every request passes: its request id, and on the way out security headers, the
//! mapper that turns any error response not produced by [`AppError`] (axum's 404/405, body limits,
//! timeouts) into problem+json, the access log, and the request metrics (`crate::metrics::http`).
//!
//! These are steps of one middleware rather than four layers: each `from_fn` layer boxes a future and
//! clones the rest of the stack (CORS configuration included) on every request, which cost more than
//! the steps themselves on a cheap read (`bench/README.md`, "Fixes").

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::request_id;
use crate::error::code;
use crate::error::{InternalCause, ProblemMarker, problem_response};
use crate::metrics::http::HttpMetrics;

/// Middleware: assigns the request id and runs the request inside its scope and span; the steps on
/// the way out run innermost first, as the separate layers did. With metrics on, the request is
/// counted under its route template once its final status is known.
pub async fn edge(State(metrics): State<Option<Arc<HttpMetrics>>>, req: Request, next: Next) -> Response {
    let observed = metrics.as_deref().map(|m| m.start(&req));
    let id = request_id::from_request(&req);
    // The route template, never the query string: a mailed link's token must not reach a log line.
    // `user_id` is filled in by the authentication extractor, `status` by the access log.
    let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        route = route.unwrap_or("unmatched"),
        path = %req.uri().path(),
        user_id = tracing::field::Empty,
        status = tracing::field::Empty,
        otel.name = tracing::field::Empty,
        otel.kind = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if crate::telemetry::exporting() && !span.is_disabled() {
        span.record(
            "otel.name",
            format!("{} {}", req.method(), route.unwrap_or("unmatched")),
        );
        span.record("otel.kind", "server");
    }
    let header = HeaderValue::from_str(&id).ok();
    let is_api = req.uri().path().starts_with("/api/");
    let work = async move {
        let started = std::time::Instant::now();
        let mut res = next.run(req).await;
        security_headers(&mut res, is_api);
        let res = problem_fallback(res);
        access_log(&res, started);
        res
    };
    let mut res = request_id::scope(id, tracing::Instrument::instrument(work, span)).await;
    if let Some(h) = header {
        res.headers_mut().insert(request_id::HEADER, h);
    }
    if let Some(observed) = observed {
        observed.finish(res.status());
    }
    res
}

/// Adds the headers every response carries.
fn security_headers(res: &mut Response, is_api: bool) {
    let h = res.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.remove(header::SERVER);
    if is_api && !h.contains_key(header::CACHE_CONTROL) {
        // API answers carry tokens and personal data: no shared or browser caching.
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Logs one line per request and the internal cause of any 5xx, inside the request span.
fn access_log(res: &Response, started: std::time::Instant) {
    let status = res.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let span = tracing::Span::current();
    span.record("status", status);
    if status >= 500 && crate::telemetry::exporting() {
        span.record("otel.status_code", "error");
    }
    if let Some(InternalCause(cause)) = res.extensions().get::<InternalCause>() {
        tracing::error!(status, elapsed_ms = ms, error = %cause, "request failed");
    } else if status >= 500 {
        tracing::warn!(status, elapsed_ms = ms, "request answered with a server error");
    } else {
        tracing::info!(status, elapsed_ms = ms, "request served");
    }
}

/// Rewrites error responses produced outside our handlers into problem+json, keeping their headers
/// (for example `Allow` on a 405).
fn problem_fallback(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) || res.extensions().get::<ProblemMarker>().is_some() {
        return res;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => (code::NOT_FOUND, "No resource lives at this path."),
        StatusCode::METHOD_NOT_ALLOWED => (code::METHOD_NOT_ALLOWED, "This path does not accept that method."),
        StatusCode::PAYLOAD_TOO_LARGE => (
            code::PAYLOAD_TOO_LARGE,
            "The request body is larger than this route accepts.",
        ),
        StatusCode::REQUEST_TIMEOUT => (code::REQUEST_TIMEOUT, "The request took too long to complete."),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => (code::UNSUPPORTED_MEDIA_TYPE, "The content type is not accepted here."),
        StatusCode::SERVICE_UNAVAILABLE => (code::SERVICE_UNAVAILABLE, "The service is temporarily unavailable."),
        s if s.is_server_error() => (code::INTERNAL_ERROR, "An unexpected error occurred."),
        _ => (code::BAD_REQUEST, "The request could not be processed."),
    };
    let (parts, _body) = res.into_parts();
    let mut fresh = problem_response(status, code, detail.to_owned(), None);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && !fresh.headers().contains_key(header::RETRY_AFTER) {
        fresh.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
    }
    fresh
}

/// Turns a panic inside a handler into a problem response instead of a dropped connection.
pub fn panic_response(_err: Box<dyn std::any::Any + Send + 'static>) -> Response<Body> {
    tracing::error!("handler panicked");
    problem_response(
        StatusCode::INTERNAL_SERVER_ERROR,
        code::INTERNAL_ERROR,
        "An unexpected error occurred.".into(),
        None,
    )
}
