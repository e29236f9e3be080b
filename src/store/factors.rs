//! Queries on `totp_factors`, `recovery_codes` and `mfa_challenges`. Every "use once" rule is a
//! conditional `UPDATE`, so of any number of racing requests exactly one wins.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Error, Exec, Tx};
use crate::domain::now;
use crate::{args, row};

/// Failed codes one sign-in challenge takes before it is spent.
pub const CHALLENGE_ATTEMPTS: i64 = 5;

row! {
    /// An account's authenticator. `confirmed_at` is unset while the enrolment waits for its first code.
    pub struct TotpRow {
        secret: String = "secret",
        confirmed_at: Option<OffsetDateTime> = "confirmed_at",
        last_step: Option<i64> = "last_step",
    }
}

row! {
    /// A live sign-in challenge.
    pub struct ChallengeRow {
        user_id: Uuid = "user_id",
        client_hash: String = "client_hash",
    }
}

/// The account's authenticator, confirmed or waiting.
#[tracing::instrument(skip_all)]
pub async fn totp(mut ex: impl Exec, user_id: Uuid) -> Result<Option<TotpRow>, Error> {
    let sql = format!("SELECT {} FROM totp_factors WHERE user_id = $1", TotpRow::columns());
    ex.fetch_optional(&sql, args![user_id]).await
}

/// Starts an enrolment with a sealed secret, replacing one still waiting. False, and nothing
/// changed, when a confirmed authenticator exists.
#[tracing::instrument(skip_all)]
pub async fn start_totp(tx: &mut Tx, user_id: Uuid, sealed: &str) -> Result<bool, Error> {
    tx.execute(
        "DELETE FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL",
        args![user_id],
    )
    .await?;
    let n = tx
        .execute(
            "INSERT INTO totp_factors (user_id, secret, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_id) DO NOTHING",
            args![user_id, sealed, now()],
        )
        .await?;
    Ok(n == 1)
}

/// Confirms a waiting enrolment with the step of its first code. False when none is waiting.
#[tracing::instrument(skip_all)]
pub async fn confirm_totp(tx: &mut Tx, user_id: Uuid, step: i64) -> Result<bool, Error> {
    let n = tx
        .execute(
            "UPDATE totp_factors SET confirmed_at = $3, last_step = $2 WHERE user_id = $1 AND confirmed_at IS NULL",
            args![user_id, step, now()],
        )
        .await?;
    Ok(n == 1)
}

/// Accepts the code of `step` for a confirmed authenticator: true for exactly one caller, and only if
/// no code of this or a later step was accepted before (a code works once).
#[tracing::instrument(skip_all)]
pub async fn use_totp_step(mut ex: impl Exec, user_id: Uuid, step: i64) -> Result<bool, Error> {
    let n = ex
        .execute(
            "UPDATE totp_factors SET last_step = $2 \
             WHERE user_id = $1 AND confirmed_at IS NOT NULL AND (last_step IS NULL OR last_step < $2)",
            args![user_id, step],
        )
        .await?;
    Ok(n == 1)
}

/// Removes the authenticator and every recovery code; true when an authenticator was removed.
#[tracing::instrument(skip_all)]
pub async fn remove_all(tx: &mut Tx, user_id: Uuid) -> Result<bool, Error> {
    let n = tx
        .execute("DELETE FROM totp_factors WHERE user_id = $1", args![user_id])
        .await?;
    tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", args![user_id])
        .await?;
    Ok(n == 1)
}

/// Replaces the account's recovery codes with `hashes`: the old ones stop working.
#[tracing::instrument(skip_all)]
pub async fn replace_recovery_codes(tx: &mut Tx, user_id: Uuid, hashes: &[String]) -> Result<(), Error> {
    tx.execute("DELETE FROM recovery_codes WHERE user_id = $1", args![user_id])
        .await?;
    let now = now();
    for hash in hashes {
        tx.execute(
            "INSERT INTO recovery_codes (hash, user_id, created_at) VALUES ($1, $2, $3)",
            args![hash, user_id, now],
        )
        .await?;
    }
    Ok(())
}

/// Uses one recovery code of the account: true for exactly one caller.
#[tracing::instrument(skip_all)]
pub async fn use_recovery_code(mut ex: impl Exec, user_id: Uuid, hash: &str) -> Result<bool, Error> {
    let n = ex
        .execute(
            "UPDATE recovery_codes SET used_at = $3 WHERE hash = $1 AND user_id = $2 AND used_at IS NULL",
            args![hash, user_id, now()],
        )
        .await?;
    Ok(n == 1)
}

/// What second factors an account has, in one query (sign-in asks on every password that passes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// A confirmed authenticator app.
    pub totp: bool,
    /// An enrolment waiting for its first code.
    pub totp_pending: bool,
    pub recovery_codes_left: i64,
    pub passkeys: i64,
}

/// The account's second factors.
#[tracing::instrument(skip_all)]
pub async fn summary(mut ex: impl Exec, user_id: Uuid) -> Result<Summary, Error> {
    let (totp, pending, left, passkeys): (i64, i64, i64, i64) = ex
        .fetch_one(
            "SELECT \
             (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NOT NULL), \
             (SELECT COUNT(*) FROM totp_factors WHERE user_id = $1 AND confirmed_at IS NULL), \
             (SELECT COUNT(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL), \
             (SELECT COUNT(*) FROM passkeys WHERE user_id = $1)",
            args![user_id],
        )
        .await?;
    Ok(Summary {
        totp: totp > 0,
        totp_pending: pending > 0,
        recovery_codes_left: left,
        passkeys,
    })
}

/// Stores a sign-in challenge (as its hash) for `user_id`, bound to the client.
#[tracing::instrument(skip_all)]
pub async fn create_challenge(
    mut ex: impl Exec,
    hash: &str,
    user_id: Uuid,
    client_hash: &str,
    ttl: Duration,
) -> Result<(), Error> {
    let now = now();
    ex.execute(
        "INSERT INTO mfa_challenges (hash, user_id, client_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
        args![hash, user_id, client_hash, now, now + ttl],
    )
    .await?;
    Ok(())
}

/// A challenge that is unused, unexpired and has attempts left, without taking an attempt (to start
/// a passkey ceremony for it).
#[tracing::instrument(skip_all)]
pub async fn live_challenge(mut ex: impl Exec, hash: &str) -> Result<Option<ChallengeRow>, Error> {
    let sql = format!(
        "SELECT {} FROM mfa_challenges WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3",
        ChallengeRow::columns()
    );
    ex.fetch_optional(&sql, args![hash, now(), CHALLENGE_ATTEMPTS]).await
}

/// Takes one attempt at a challenge that is unused, unexpired and has attempts left; its owner and
/// client binding, or `None`. Attempts are taken before the code is checked, so racing requests cannot
/// try more than [`CHALLENGE_ATTEMPTS`] codes between them.
#[tracing::instrument(skip_all)]
pub async fn claim_attempt(mut ex: impl Exec, hash: &str) -> Result<Option<ChallengeRow>, Error> {
    let sql = format!(
        "UPDATE mfa_challenges SET attempts = attempts + 1 \
         WHERE hash = $1 AND used_at IS NULL AND expires_at > $2 AND attempts < $3 RETURNING {}",
        ChallengeRow::columns()
    );
    let mut rows = ex.write_returning(&sql, args![hash, now(), CHALLENGE_ATTEMPTS]).await?;
    Ok(rows.pop())
}

/// Spends a challenge whose attempt passed: true for exactly one caller.
#[tracing::instrument(skip_all)]
pub async fn spend_challenge(mut ex: impl Exec, hash: &str) -> Result<bool, Error> {
    let n = ex
        .execute(
            "UPDATE mfa_challenges SET used_at = $2 WHERE hash = $1 AND used_at IS NULL AND expires_at > $2",
            args![hash, now()],
        )
        .await?;
    Ok(n == 1)
}

/// Deletes challenges that expired before `expired_before`.
#[tracing::instrument(skip_all)]
pub async fn prune_challenges(mut ex: impl Exec, expired_before: OffsetDateTime) -> Result<u64, Error> {
    ex.execute(
        "DELETE FROM mfa_challenges WHERE expires_at < $1",
        args![expired_before],
    )
    .await
}
