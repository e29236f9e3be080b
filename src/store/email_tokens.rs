//! Queries on `email_tokens`: single-use, expiring tokens bound to a user, a purpose and an address.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Error, Exec, Tx};
use crate::args;
use crate::domain::now;

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
    tx: &mut Tx,
    user_id: Uuid,
    purpose: Purpose,
    email: &str,
    hash: &str,
    ttl: Duration,
) -> Result<(), Error> {
    let now = now();
    tx.execute(
        "UPDATE email_tokens SET used_at = $3 WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
        args![user_id, purpose.as_str(), now],
    )
    .await?;
    tx.execute(
        "INSERT INTO email_tokens (hash, user_id, purpose, email, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)",
        args![hash, user_id, purpose.as_str(), email, now, now + ttl],
    )
    .await?;
    Ok(())
}

/// The (user id, address) of a usable token, without using it.
#[tracing::instrument(skip_all)]
pub async fn peek(mut ex: impl Exec, hash: &str, purpose: Purpose) -> Result<Option<(Uuid, String)>, Error> {
    ex.fetch_optional(
        "SELECT user_id, email FROM email_tokens WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
        args![hash, purpose.as_str(), now()],
    )
    .await
}

/// Uses a token: exactly one caller gets `Some((user id, address))`, however many race for it.
#[tracing::instrument(skip_all)]
pub async fn consume(mut ex: impl Exec, hash: &str, purpose: Purpose) -> Result<Option<(Uuid, String)>, Error> {
    let mut rows = ex
        .write_returning(
            "UPDATE email_tokens SET used_at = $3 WHERE hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3 \
             RETURNING user_id, email",
            args![hash, purpose.as_str(), now()],
        )
        .await?;
    Ok(rows.pop())
}

/// Deletes tokens that expired before `expired_before`, used or not.
#[tracing::instrument(skip_all)]
pub async fn prune_expired(mut ex: impl Exec, expired_before: OffsetDateTime) -> Result<u64, Error> {
    ex.execute("DELETE FROM email_tokens WHERE expires_at < $1", args![expired_before])
        .await
}
