//! Queries on `idempotency_keys`: at most one creation per (user, key).

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Error, Exec};
use crate::args;
use crate::domain::now;

/// An unfinished attempt older than this is considered abandoned (longer than any request may run).
const STALE: Duration = Duration::minutes(2);

/// What a key says about a request.
#[derive(Debug)]
pub enum Claim {
    /// This request owns the key and must finish it with [`complete`] or [`release`].
    Fresh,
    /// An earlier request with the same body finished: replay its answer.
    Done { status: u16, body: String },
    /// An earlier request with the same body is still running.
    InProgress,
    /// The key was used with a different body.
    Mismatch,
}

/// Claims `key` for `user_id` with the request's hash, atomically through the primary key.
#[tracing::instrument(skip_all)]
pub async fn claim(mut ex: impl Exec, user_id: Uuid, key: &str, request_hash: &str) -> Result<Claim, Error> {
    let inserted = ex
        .execute(
            "INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)",
            args![user_id, key, request_hash, now()],
        )
        .await;
    match inserted {
        Ok(_) => return Ok(Claim::Fresh),
        Err(e) if e.unique_violation().is_some() => {}
        Err(e) => return Err(e),
    }
    let row: Option<(String, Option<i64>, Option<String>)> = ex
        .fetch_optional(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            args![user_id, key],
        )
        .await?;
    // An attempt that never finished (its server crashed) is abandoned after `STALE`: take it over.
    let now = now();
    let taken_over = ex
        .execute(
            "UPDATE idempotency_keys SET created_at = $4, request_hash = $3 \
             WHERE user_id = $1 AND key = $2 AND response_status IS NULL AND created_at < $5 AND request_hash = $3",
            args![user_id, key, request_hash, now, now - STALE],
        )
        .await?;
    if taken_over == 1 {
        return Ok(Claim::Fresh);
    }
    Ok(match row {
        // Released between our insert and this read: treat as running; the client retries.
        None => Claim::InProgress,
        Some((hash, _, _)) if hash != request_hash => Claim::Mismatch,
        Some((_, Some(status), Some(body))) => Claim::Done {
            status: u16::try_from(status).map_err(|_| Error::Decode {
                column: "response_status",
                detail: format!("{status} is not an HTTP status"),
            })?,
            body,
        },
        Some(_) => Claim::InProgress,
    })
}

/// Records the answer for a claimed key.
#[tracing::instrument(skip_all)]
pub async fn complete(mut ex: impl Exec, user_id: Uuid, key: &str, status: u16, body: &str) -> Result<(), Error> {
    ex.execute(
        "UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE user_id = $1 AND key = $2",
        args![user_id, key, i64::from(status), body],
    )
    .await?;
    Ok(())
}

/// Frees a claimed key after a failure, so that a retry can try again.
#[tracing::instrument(skip_all)]
pub async fn release(mut ex: impl Exec, user_id: Uuid, key: &str) -> Result<(), Error> {
    ex.execute(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND response_status IS NULL",
        args![user_id, key],
    )
    .await?;
    Ok(())
}

/// Forgets keys created before `created_before`: a retry with such a key is a new request.
#[tracing::instrument(skip_all)]
pub async fn prune(mut ex: impl Exec, created_before: OffsetDateTime) -> Result<u64, Error> {
    ex.execute(
        "DELETE FROM idempotency_keys WHERE created_at < $1",
        args![created_before],
    )
    .await
}
