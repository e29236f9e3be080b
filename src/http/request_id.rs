//! Request ids: taken from a well-formed incoming `x-request-id`, or generated, and echoed back.
//!
//! The id lives in a task-local for the life of the request so that error bodies and log lines can name it
//! without threading it through every function.

use axum::extract::Request;

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

/// The id for a request: its own `x-request-id` when acceptable, else a fresh UUIDv7.
pub fn from_request(req: &Request) -> String {
    req.headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string())
}

/// Runs `work` with `id` as the current request id.
pub async fn scope<F: std::future::Future>(id: String, work: F) -> F::Output {
    REQUEST_ID.scope(id, work).await
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
