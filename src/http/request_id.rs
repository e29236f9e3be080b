//! Request ids: taken from a well-formed incoming `x-request-id`, or generated, and echoed back.
//!
//! The id lives in a task-local for the life of the request so that error bodies and log lines can name it
//! without threading it through every function.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request being served on this task, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// A client-supplied id is kept only when it is short and plain, so it cannot inject into logs or headers.
fn acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware: assign the id, run the request inside its scope, echo it on the response.
pub async fn assign(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    let header = HeaderValue::from_str(&id).ok();
    let mut res = REQUEST_ID
        .scope(id, tracing::Instrument::instrument(next.run(req), span))
        .await;
    if let Some(h) = header {
        res.headers_mut().insert(HEADER, h);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn plain_ids_are_kept_and_hostile_ones_are_replaced() {
        assert!(acceptable("abc-123_x.y:z"));
        for bad in ["", "a b", "line\nbreak", "<script>", &"x".repeat(129)] {
            assert!(!acceptable(bad), "{bad:?} should be refused");
        }
    }
}
