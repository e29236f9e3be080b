//! Queries on `sessions` and `refresh_tokens`.

use sqlx::FromRow;

use super::{Db, new_id};
use crate::domain::now_ms;

/// A session as listed to its owner.
#[derive(Debug, Clone, FromRow)]
pub struct SessionRow {
    pub id: String,
    pub user_id: String,
    pub created_at: i64,
    pub last_used_at: i64,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// What an authenticated request needs to know, in one query: is the session alive, and who is the
/// user now (role and disabled state are read here, not trusted from the token).
#[derive(Debug, Clone, FromRow)]
pub struct AuthRow {
    pub session_id: String,
    pub user_id: String,
    pub username: String,
    pub role: String,
    pub revoked_at: Option<i64>,
    pub idle_expires_at: i64,
    pub absolute_expires_at: i64,
    pub disabled_at: Option<i64>,
    pub email_verified_at: Option<i64>,
    pub csrf_hash: Option<String>,
}

impl AuthRow {
    /// A row of `AUTH_SELECT` read through the SQLite reader.
    fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuthRow> {
        Ok(AuthRow {
            session_id: super::reader::column(r, 0, "session_id")?,
            user_id: super::reader::column(r, 1, "user_id")?,
            username: super::reader::column(r, 2, "username")?,
            role: super::reader::column(r, 3, "role")?,
            revoked_at: super::reader::column(r, 4, "revoked_at")?,
            idle_expires_at: super::reader::column(r, 5, "idle_expires_at")?,
            absolute_expires_at: super::reader::column(r, 6, "absolute_expires_at")?,
            disabled_at: super::reader::column(r, 7, "disabled_at")?,
            email_verified_at: super::reader::column(r, 8, "email_verified_at")?,
            csrf_hash: super::reader::column(r, 9, "csrf_hash")?,
        })
    }

    /// Whether the session may still be used at `now`.
    pub fn is_live(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.disabled_at.is_none()
            && now < self.idle_expires_at
            && now < self.absolute_expires_at
    }
}

const AUTH_SELECT: &str = "SELECT s.id AS session_id, s.user_id, u.username, u.role, s.revoked_at, s.idle_expires_at, \
     s.absolute_expires_at, u.disabled_at, u.email_verified_at, s.csrf_hash \
     FROM sessions s JOIN users u ON u.id = s.user_id";

/// Fields of a new session.
pub struct NewSession<'a> {
    pub user_id: &'a str,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub idle_ms: i64,
    pub absolute_ms: i64,
    pub csrf_hash: Option<&'a str>,
}

/// Creates a session with its first refresh token; returns the session id.
#[tracing::instrument(skip_all)]
pub async fn create(db: &Db, new: NewSession<'_>, refresh_hash: &str) -> Result<String, sqlx::Error> {
    let now = now_ms();
    let id = new_id();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, ip, user_agent, csrf_hash) \
         VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&id)
    .bind(new.user_id)
    .bind(now)
    .bind(now + new.idle_ms.min(new.absolute_ms))
    .bind(now + new.absolute_ms)
    .bind(new.ip)
    .bind(new.user_agent)
    .bind(new.csrf_hash)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
        .bind(refresh_hash)
        .bind(&id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(id)
}

/// The session named by an access token, joined with its user's current state.
#[tracing::instrument(skip_all)]
pub async fn auth_lookup(db: &Db, session_id: &str) -> Result<Option<AuthRow>, sqlx::Error> {
    let sql = format!("{AUTH_SELECT} WHERE s.id = $1");
    if let Some(reader) = &db.reader {
        return reader.query_opt(&sql, &[&session_id], AuthRow::from_sqlite);
    }
    sqlx::query_as::<_, AuthRow>(sqlx::AssertSqlSafe(sql))
        .bind(session_id)
        .fetch_optional(&db.pool)
        .await
}

/// Result of presenting a refresh token.
#[derive(Debug)]
pub enum Rotation {
    /// The token was current: it is now used, and `new_hash` is the session's token.
    Rotated(AuthRow),
    /// The token had already been used: the session has been revoked.
    Reused { session_id: String, user_id: String },
    /// Unknown token, or a session that is revoked, expired or whose user is disabled.
    Invalid,
}

/// Rotates a refresh token atomically: exactly one presenter of a current token wins; any other use
/// of it revokes the session.
#[tracing::instrument(skip_all)]
pub async fn rotate(db: &Db, old_hash: &str, new_hash: &str, idle_ms: i64) -> Result<Rotation, sqlx::Error> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    let found: Option<(Option<i64>, String)> =
        sqlx::query_as("SELECT used_at, session_id FROM refresh_tokens WHERE hash = $1")
            .bind(old_hash)
            .fetch_optional(&mut *tx)
            .await?;
    let Some((used_at, session_id)) = found else {
        return Ok(Rotation::Invalid);
    };
    let Some(auth) = sqlx::query_as::<_, AuthRow>(sqlx::AssertSqlSafe(format!("{AUTH_SELECT} WHERE s.id = $1")))
        .bind(&session_id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    let claimed = used_at.is_none()
        && sqlx::query("UPDATE refresh_tokens SET used_at = $2 WHERE hash = $1 AND used_at IS NULL")
            .bind(old_hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
    if !claimed {
        revoke_in(&mut tx, &session_id, "refresh_token_reuse", now).await?;
        tx.commit().await?;
        return Ok(Rotation::Reused {
            session_id,
            user_id: auth.user_id,
        });
    }
    if !auth.is_live(now) {
        return Ok(Rotation::Invalid);
    }
    sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ($1, $2, $3)")
        .bind(new_hash)
        .bind(&session_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    let idle_expires = (now + idle_ms).min(auth.absolute_expires_at);
    sqlx::query("UPDATE sessions SET last_used_at = $2, idle_expires_at = $3 WHERE id = $1")
        .bind(&session_id)
        .bind(now)
        .bind(idle_expires)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Rotation::Rotated(AuthRow {
        idle_expires_at: idle_expires,
        ..auth
    }))
}

async fn revoke_in(
    conn: &mut sqlx::AnyConnection,
    session_id: &str,
    reason: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE sessions SET revoked_at = $2, revoke_reason = $3 WHERE id = $1 AND revoked_at IS NULL")
            .bind(session_id)
            .bind(now)
            .bind(reason)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Revokes one session of `user_id`; false when there is no such live session.
#[tracing::instrument(skip_all)]
pub async fn revoke_owned(db: &Db, user_id: &str, session_id: &str, reason: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL",
    )
    .bind(session_id)
    .bind(user_id)
    .bind(now_ms())
    .bind(reason)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Revokes every live session of a user, except `keep` when given.
#[tracing::instrument(skip_all)]
pub async fn revoke_all(db: &Db, user_id: &str, keep: Option<&str>, reason: &str) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE sessions SET revoked_at = $3, revoke_reason = $4 \
         WHERE user_id = $1 AND revoked_at IS NULL AND (CAST($2 AS TEXT) IS NULL OR id <> $2)",
    )
    .bind(user_id)
    .bind(keep)
    .bind(now_ms())
    .bind(reason)
    .execute(&db.pool)
    .await?
    .rows_affected())
}

/// Live sessions of a user, newest first.
#[tracing::instrument(skip_all)]
pub async fn list_live(db: &Db, user_id: &str) -> Result<Vec<SessionRow>, sqlx::Error> {
    let now = now_ms();
    sqlx::query_as::<_, SessionRow>(
        "SELECT id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at, ip, user_agent \
         FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2 \
         ORDER BY id DESC",
    )
    .bind(user_id)
    .bind(now)
    .fetch_all(&db.pool)
    .await
}

/// The session and user a refresh token belongs to, and the session's CSRF hash (cookie mode), used
/// for per-session limits and the CSRF check before anything is changed.
#[tracing::instrument(skip_all)]
pub async fn owner_of_refresh(db: &Db, hash: &str) -> Result<Option<(String, String, Option<String>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.id, s.user_id, s.csrf_hash FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE r.hash = $1",
    )
    .bind(hash)
    .fetch_optional(&db.pool)
    .await
}
