//! Queries on `email_tokens`: single-use, expiring tokens bound to a user, a purpose and an address.

use super::Db;
use crate::domain::now_ms;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::VerifyEmail => "verify_email",
            Purpose::ResetPassword => "reset_password",
            Purpose::ChangeEmail => "change_email",
        }
    }
}

/// Stores a new token (as its hash), ending any earlier unused token of the same purpose for the user.
#[tracing::instrument(skip_all)]
pub async fn issue(
    db: &Db,
    user_id: &str,
    purpose: Purpose,
    email: &str,
    hash: &str,
    ttl_ms: i64,
) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query("UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL")
        .bind(user_id)
        .bind(purpose.as_str())
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(hash)
    .bind(user_id)
    .bind(purpose.as_str())
    .bind(email)
    .bind(now)
    .bind(now + ttl_ms)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The (user id, address) of a usable token, without using it.
#[tracing::instrument(skip_all)]
pub async fn peek(db: &Db, hash: &str, purpose: Purpose) -> Result<Option<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT user_id, email FROM email_tokens WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(hash)
    .bind(purpose.as_str())
    .bind(now_ms())
    .fetch_optional(&db.pool)
    .await
}

/// Uses a token: exactly one caller gets `Some((user id, address))`, however many race for it.
#[tracing::instrument(skip_all)]
pub async fn consume(db: &Db, hash: &str, purpose: Purpose) -> Result<Option<(String, String)>, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as(
        "UPDATE email_tokens SET used_at = $3 WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
         RETURNING user_id, email",
    )
    .bind(hash)
    .bind(purpose.as_str())
    .bind(now)
    .fetch_optional(&db.pool)
    .await
}

/// Deletes tokens that expired before `expired_before`, used or not.
#[tracing::instrument(skip_all)]
pub async fn prune_expired(db: &Db, expired_before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM email_tokens WHERE expires_at < $1")
        .bind(expired_before)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
