//! Queries on `sessions` and `refresh_tokens`.

use std::sync::LazyLock;

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Error, Exec, Tx, new_id};
use crate::domain::assurance::{Amr, Assurance};
use crate::domain::{Role, now};
use crate::{args, row};

row! {
    /// A session as listed to its owner.
    pub struct SessionRow {
        id: Uuid = "id",
        user_id: Uuid = "user_id",
        created_at: OffsetDateTime = "created_at",
        last_used_at: OffsetDateTime = "last_used_at",
        idle_expires_at: OffsetDateTime = "idle_expires_at",
        absolute_expires_at: OffsetDateTime = "absolute_expires_at",
        ip: Option<String> = "ip",
        user_agent: Option<String> = "user_agent",
    }
}

row! {
    /// What an authenticated request needs to know, in one query: is the session alive, and who is
    /// the user now (role and disabled state are read here, not trusted from the token).
    pub struct AuthRow {
        session_id: Uuid = "s.id AS session_id",
        user_id: Uuid = "s.user_id",
        username: String = "u.username",
        role: Role = "u.role",
        revoked_at: Option<OffsetDateTime> = "s.revoked_at",
        idle_expires_at: OffsetDateTime = "s.idle_expires_at",
        absolute_expires_at: OffsetDateTime = "s.absolute_expires_at",
        disabled_at: Option<OffsetDateTime> = "u.disabled_at",
        email_verified_at: Option<OffsetDateTime> = "u.email_verified_at",
        csrf_hash: Option<String> = "s.csrf_hash",
        amr: Amr = "s.amr",
        authenticated_at: OffsetDateTime = "s.authenticated_at",
    }
}

impl AuthRow {
    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none()
            && self.disabled_at.is_none()
            && now < self.idle_expires_at
            && now < self.absolute_expires_at
    }

    /// How the session was authenticated, and when last.
    pub fn assurance(&self) -> Assurance {
        Assurance {
            amr: self.amr,
            authenticated_at: self.authenticated_at,
        }
    }
}

/// The session named by an access token (the query every authenticated request makes).
static AUTH_BY_ID: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1",
        AuthRow::columns()
    )
});

/// Fields of a new session.
pub struct NewSession<'a> {
    pub user_id: Uuid,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub idle: Duration,
    pub absolute: Duration,
    pub csrf_hash: Option<&'a str>,
    /// How the holder signed in.
    pub amr: Amr,
}

/// Creates a session with its first refresh token; returns the session id.
#[tracing::instrument(skip_all)]
pub async fn create(tx: &mut Tx, new: NewSession<'_>, refresh_hash: &str) -> Result<Uuid, Error> {
    let now = now();
    let id = new_id();
    tx.execute(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, ip, user_agent, csrf_hash, amr, authenticated_at) \
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, $3)",
        args![
            id,
            new.user_id,
            now,
            now + new.idle.min(new.absolute),
            now + new.absolute,
            new.ip,
            new.user_agent,
            new.csrf_hash,
            new.amr.as_str()
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
        args![refresh_hash, id, now],
    )
    .await?;
    Ok(id)
}

/// The session named by an access token, joined with its user's current state.
#[tracing::instrument(skip_all)]
pub async fn auth_lookup(mut ex: impl Exec, session_id: Uuid) -> Result<Option<AuthRow>, Error> {
    ex.fetch_optional(AUTH_BY_ID.as_str(), args![session_id]).await
}

/// Result of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current: it is now used, and the successor is the session's token.
    Rotated(AuthRow),
    /// The token had already been used. Nothing was changed: the caller tells a retry by the same
    /// client from a reuse, which ends the session ([`revoke`]).
    Used(UsedToken),
    /// Unknown token, or a session that is revoked, expired or whose user is disabled.
    Invalid,
}

row! {
    /// A used refresh token as a second presenter finds it: when and by whom it was rotated, and to what.
    pub struct UsedRow {
        used_at: Option<OffsetDateTime> = "r.used_at",
        rotated_client: Option<String> = "r.rotated_client",
        successor_hash: Option<String> = "r.successor_hash",
        successor_sealed: Option<String> = "r.successor_sealed",
        /// NULL when the successor row is gone (its session ended).
        successor_found: Option<String> = "n.hash AS successor_found",
        successor_used_at: Option<OffsetDateTime> = "n.used_at AS successor_used_at",
    }
}

impl UsedRow {
    /// Whether the token it was rotated to exists and has not been used itself.
    pub fn successor_unused(&self) -> bool {
        self.successor_found.is_some() && self.successor_used_at.is_none()
    }
}

/// A used token presented again, with its session as it is now.
#[derive(Debug)]
pub struct UsedToken {
    pub auth: AuthRow,
    pub used: UsedRow,
}

/// What a rotation records: the successor's hash, and on the used token's row what a retry needs
/// (both `None` when retries are off).
pub struct Successor<'a> {
    pub hash: &'a str,
    /// The successor sealed under a key only the old token's holder can derive.
    pub sealed: Option<&'a str>,
    /// Hash of the rotating client's IP address and user agent.
    pub client: Option<&'a str>,
}

static USED_BY_HASH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM refresh_tokens r LEFT JOIN refresh_tokens n ON n.hash = r.successor_hash WHERE r.hash = $1",
        UsedRow::columns()
    )
});

/// Rotates a refresh token atomically: exactly one presenter of a current token wins. A used token
/// changes nothing and comes back as [`Rotation::Used`], read after the winner committed. Commits only
/// a rotation.
#[tracing::instrument(skip_all)]
pub async fn rotate(db: &super::Db, old_hash: &str, next: Successor<'_>, idle: Duration) -> Result<Rotation, Error> {
    let now = now();
    let mut tx = db.begin().await?;
    let found: Option<(Option<OffsetDateTime>, Uuid)> = tx
        .fetch_optional(
            "SELECT used_at, session_id FROM refresh_tokens WHERE hash = $1",
            args![old_hash],
        )
        .await?;
    let Some((used_at, session_id)) = found else {
        return Ok(Rotation::Invalid);
    };
    let Some(auth) = auth_lookup(&mut tx, session_id).await? else {
        return Ok(Rotation::Invalid);
    };
    let claimed = used_at.is_none()
        && tx
            .execute(
                "UPDATE refresh_tokens SET used_at = $2, rotated_client = $3, successor_hash = $4, successor_sealed = $5 \
                 WHERE hash = $1 AND used_at IS NULL",
                args![old_hash, now, next.client, next.hash, next.sealed],
            )
            .await?
            == 1;
    if !claimed {
        // On PostgreSQL a racer's claim held this row until it committed; these reads see it.
        let used: Option<UsedRow> = tx.fetch_optional(USED_BY_HASH.as_str(), args![old_hash]).await?;
        let auth = auth_lookup(&mut tx, session_id).await?;
        return Ok(match (used, auth) {
            (Some(used), Some(auth)) => Rotation::Used(UsedToken { auth, used }),
            _ => Rotation::Invalid,
        });
    }
    if !auth.is_live(now) {
        return Ok(Rotation::Invalid);
    }
    tx.execute(
        "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)",
        args![next.hash, session_id, now],
    )
    .await?;
    // The token just used was the successor of the one before it, which therefore can never be handed
    // out again: its sealed copy goes, so at most one per session is ever stored.
    tx.execute(
        "UPDATE refresh_tokens SET successor_sealed = NULL \
         WHERE session_id = $1 AND hash <> $2 AND successor_sealed IS NOT NULL",
        args![session_id, old_hash],
    )
    .await?;
    let idle_expires = (now + idle).min(auth.absolute_expires_at);
    tx.execute(
        "UPDATE sessions SET last_used_at = $2, idle_expires_at = $3 WHERE id = $1",
        args![session_id, now, idle_expires],
    )
    .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(AuthRow {
        idle_expires_at: idle_expires,
        ..auth
    }))
}

/// Clears the sealed successors of tokens used before `used_before` (past any retry window); returns
/// how many.
#[tracing::instrument(skip_all)]
pub async fn forget_successors(mut ex: impl Exec, used_before: OffsetDateTime) -> Result<u64, Error> {
    ex.execute(
        "UPDATE refresh_tokens SET successor_sealed = NULL WHERE successor_sealed IS NOT NULL AND used_at < $1",
        args![used_before],
    )
    .await
}

/// Records a strong authentication in a live session now (a step-up), with the methods it now has.
#[tracing::instrument(skip_all)]
pub async fn reauthenticated(mut ex: impl Exec, session_id: Uuid, amr: Amr) -> Result<bool, Error> {
    let n = ex
        .execute(
            "UPDATE sessions SET authenticated_at = $2, amr = $3 WHERE id = $1 AND revoked_at IS NULL",
            args![session_id, now(), amr.as_str()],
        )
        .await?;
    Ok(n == 1)
}

/// Revokes one live session, of `owner` when given; false when there is no such live session.
#[tracing::instrument(skip_all)]
pub async fn revoke(mut ex: impl Exec, session_id: Uuid, owner: Option<Uuid>, reason: &str) -> Result<bool, Error> {
    let n = ex
        .execute(
            "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2) AND revoked_at IS NULL",
            args![session_id, owner, now(), reason],
        )
        .await?;
    Ok(n == 1)
}

/// Revokes one session of `user_id`; false when there is no such live session.
#[tracing::instrument(skip_all)]
pub async fn revoke_owned(ex: impl Exec, user_id: Uuid, session_id: Uuid, reason: &str) -> Result<bool, Error> {
    revoke(ex, session_id, Some(user_id), reason).await
}

/// Revokes every live session of a user, except `keep` when given.
#[tracing::instrument(skip_all)]
pub async fn revoke_all(mut ex: impl Exec, user_id: Uuid, keep: Option<Uuid>, reason: &str) -> Result<u64, Error> {
    ex.execute(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
         WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)",
        args![user_id, keep, now(), reason],
    )
    .await
}

/// Live sessions of a user, newest first.
#[tracing::instrument(skip_all)]
pub async fn list_live(mut ex: impl Exec, user_id: Uuid) -> Result<Vec<SessionRow>, Error> {
    let sql = format!(
        "SELECT {} FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND idle_expires_at > $2 \
         AND absolute_expires_at > $2 ORDER BY id DESC",
        SessionRow::columns()
    );
    ex.fetch_all(&sql, args![user_id, now()]).await
}

/// The session and user a refresh token belongs to, and the session's CSRF hash (cookie mode), used
/// for per-session limits and the CSRF check before anything is changed.
#[tracing::instrument(skip_all)]
pub async fn owner_of_refresh(mut ex: impl Exec, hash: &str) -> Result<Option<(Uuid, Uuid, Option<String>)>, Error> {
    ex.fetch_optional(
        "SELECT s.id, s.user_id, s.csrf_hash FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
        args![hash],
    )
    .await
}
