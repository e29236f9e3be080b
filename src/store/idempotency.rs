//! Queries on `idempotency_keys`: at most one creation per (user, key).

use super::{Db, unique_violation};
use crate::domain::now_ms;

/// An unfinished attempt older than this is considered abandoned (longer than any request may run).
const STALE_MS: i64 = 120_000;

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
pub async fn claim(db: &Db, user_id: &str, key: &str, request_hash: &str) -> Result<Claim, sqlx::Error> {
    let inserted =
        sqlx::query("INSERT INTO idempotency_keys (user_id, key, request_hash, created_at) VALUES ($1, $2, $3, $4)")
            .bind(user_id)
            .bind(key)
            .bind(request_hash)
            .bind(now_ms())
            .execute(&db.pool)
            .await;
    match inserted {
        Ok(_) => return Ok(Claim::Fresh),
        Err(e) if unique_violation(&e).is_some() => {}
        Err(e) => return Err(e),
    }
    let row: Option<(String, Option<i64>, Option<String>)> = sqlx::query_as(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = $1 AND key = $2",
    )
    .bind(user_id)
    .bind(key)
    .fetch_optional(&db.pool)
    .await?;
    // An attempt that never finished (its server crashed) is abandoned after `STALE_MS`: take it over.
    let taken_over = sqlx::query(
        "UPDATE idempotency_keys SET created_at = $4, request_hash = $3 \
         WHERE user_id = $1 AND key = $2 AND response_status IS NULL AND created_at < $5 AND request_hash = $3",
    )
    .bind(user_id)
    .bind(key)
    .bind(request_hash)
    .bind(now_ms())
    .bind(now_ms() - STALE_MS)
    .execute(&db.pool)
    .await?
    .rows_affected();
    if taken_over == 1 {
        return Ok(Claim::Fresh);
    }
    Ok(match row {
        // Released between our insert and this read: treat as running; the client retries.
        None => Claim::InProgress,
        Some((hash, _, _)) if hash != request_hash => Claim::Mismatch,
        Some((_, Some(status), Some(body))) => Claim::Done {
            status: status as u16,
            body,
        },
        Some(_) => Claim::InProgress,
    })
}

/// Records the answer for a claimed key.
#[tracing::instrument(skip_all)]
pub async fn complete(db: &Db, user_id: &str, key: &str, status: u16, body: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE idempotency_keys SET response_status = $3, response_body = $4 WHERE user_id = $1 AND key = $2")
        .bind(user_id)
        .bind(key)
        .bind(i64::from(status))
        .bind(body)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Frees a claimed key after a failure, so that a retry can try again.
#[tracing::instrument(skip_all)]
pub async fn release(db: &Db, user_id: &str, key: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND response_status IS NULL")
        .bind(user_id)
        .bind(key)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Forgets keys created before `created_before`: a retry with such a key is a new request.
#[tracing::instrument(skip_all)]
pub async fn prune(db: &Db, created_before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at < $1")
        .bind(created_before)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
