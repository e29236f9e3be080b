//! Queries on `users`.

use sqlx::FromRow;

use super::{Db, new_id, unique_violation};
use crate::domain::{Role, now_ms};

/// A user as stored.
#[derive(Debug, Clone, FromRow)]
pub struct UserRow {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub display_name: Option<String>,
    pub bio: String,
    pub role: String,
    pub disabled_at: Option<i64>,
    pub email_verified_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl UserRow {
    pub fn role(&self) -> Role {
        Role::parse(&self.role).unwrap_or(Role::User)
    }

    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

const COLUMNS: &str = "id, username, email, password_hash, display_name, bio, role, disabled_at, email_verified_at, created_at, updated_at";

/// Why an insert was refused.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("email taken")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Fields of a new account, already validated.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: Option<&'a str>,
    pub role: Role,
}

/// Inserts a user. The unique constraints decide duplicates, so concurrent registrations race safely.
#[tracing::instrument(skip_all)]
pub async fn insert(db: &Db, new: NewUser<'_>) -> Result<UserRow, InsertError> {
    let now = now_ms();
    let sql = format!(
        "INSERT INTO users (id, username, email, password_hash, display_name, bio, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $7) RETURNING {COLUMNS}"
    );
    let res = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(new_id())
        .bind(new.username)
        .bind(new.email)
        .bind(new.password_hash)
        .bind(new.display_name)
        .bind(new.role.as_str())
        .bind(now)
        .fetch_one(&db.pool)
        .await;
    res.map_err(|e| match unique_violation(&e) {
        Some(which) if which.contains("email") => InsertError::EmailTaken,
        Some(which) if which.contains("username") => InsertError::UsernameTaken,
        _ => InsertError::Db(e),
    })
}

async fn find_by(db: &Db, column: &'static str, value: &str) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE {column} = $1");
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(value)
        .fetch_optional(&db.pool)
        .await
}

#[tracing::instrument(skip_all)]
pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<UserRow>, sqlx::Error> {
    find_by(db, "id", id).await
}

#[tracing::instrument(skip_all)]
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<UserRow>, sqlx::Error> {
    find_by(db, "username", username).await
}

#[tracing::instrument(skip_all)]
pub async fn find_by_email(db: &Db, email: &str) -> Result<Option<UserRow>, sqlx::Error> {
    find_by(db, "email", email).await
}

/// Changes display name and/or bio; `None` leaves a field as it is.
#[tracing::instrument(skip_all)]
pub async fn update_profile(
    db: &Db,
    id: &str,
    display_name: Option<Option<&str>>,
    bio: Option<&str>,
) -> Result<Option<UserRow>, sqlx::Error> {
    let sql = format!(
        "UPDATE users SET \
           display_name = CASE WHEN $2 = 1 THEN $3 ELSE display_name END, \
           bio = COALESCE($4, bio), updated_at = $5 \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(i64::from(display_name.is_some()))
        .bind(display_name.flatten())
        .bind(bio)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await
}

/// Marks the address verified, if it is still the user's address.
#[tracing::instrument(skip_all)]
pub async fn mark_email_verified(db: &Db, id: &str, email: &str) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3), updated_at = $3 WHERE id = $1 AND email = $2",
    )
    .bind(id)
    .bind(email)
    .bind(now_ms())
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// Changes the address (already confirmed by its owner); the unique constraint decides races.
#[tracing::instrument(skip_all)]
pub async fn change_email(db: &Db, id: &str, email: &str) -> Result<Option<UserRow>, InsertError> {
    let sql = format!(
        "UPDATE users SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1 RETURNING {COLUMNS}"
    );
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(email)
        .bind(now_ms())
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => InsertError::EmailTaken,
            None => InsertError::Db(e),
        })
}

/// Deletes the account; sessions, posts, tags, tokens and keys go with it (foreign keys cascade), and
/// audit events about the user are erased.
#[tracing::instrument(skip_all)]
pub async fn delete_account(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    sqlx::query("DELETE FROM audit_events WHERE actor_id = $1 OR target_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let n = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    tx.commit().await?;
    Ok(n == 1)
}

#[tracing::instrument(skip_all)]
pub async fn update_password_hash(db: &Db, id: &str, hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(hash)
        .bind(now_ms())
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Outcome of an administrative change.
#[derive(Debug)]
pub enum AdminChange {
    /// The row before and after the change, read in the same transaction.
    Updated {
        before: Box<UserRow>,
        after: Box<UserRow>,
    },
    NotFound,
    /// The change would leave no active admin.
    LastAdmin,
}

/// Sets role and/or the disabled flag in one transaction that refuses to remove the last active admin.
#[tracing::instrument(skip_all)]
pub async fn admin_update(
    db: &Db,
    id: &str,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<AdminChange, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    if db.backend == super::Backend::Postgres {
        // Serialise admin changes so two concurrent demotions cannot both see "another admin remains".
        sqlx::query("SELECT pg_advisory_xact_lock(7242001)")
            .execute(&mut *tx)
            .await?;
    }
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let Some(current) = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(AdminChange::NotFound);
    };
    let new_role = role.unwrap_or(current.role());
    let new_disabled = disabled.unwrap_or(current.disabled_at.is_some());
    let loses_admin = current.role() == Role::Admin && current.is_active() && (new_role != Role::Admin || new_disabled);
    if loses_admin {
        let others: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
        if others == 0 {
            return Ok(AdminChange::LastAdmin);
        }
    }
    let now = now_ms();
    let disabled_at = match (new_disabled, current.disabled_at) {
        (true, Some(at)) => Some(at),
        (true, None) => Some(now),
        (false, _) => None,
    };
    let sql =
        format!("UPDATE users SET role = $2, disabled_at = $3, updated_at = $4 WHERE id = $1 RETURNING {COLUMNS}");
    let row = sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(new_role.as_str())
        .bind(disabled_at)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(AdminChange::Updated {
        before: Box::new(current),
        after: Box::new(row),
    })
}

/// Active admins other than `id`.
#[tracing::instrument(skip_all)]
pub async fn active_admins_except(db: &Db, id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1")
        .bind(id)
        .fetch_one(&db.pool)
        .await
}

/// Filters for the admin listing.
pub struct ListFilter<'a> {
    pub role: Option<Role>,
    /// Case-insensitive substring of username, email or display name.
    pub text: Option<&'a str>,
    /// Only ids after this one (ids are time-ordered).
    pub after_id: Option<&'a str>,
    pub limit: i64,
}

/// Lists users oldest first, keyset-paginated on id.
#[tracing::instrument(skip_all)]
pub async fn list(db: &Db, f: ListFilter<'_>) -> Result<Vec<UserRow>, sqlx::Error> {
    let pattern = f.text.map(|t| format!("%{}%", escape_like(&t.to_lowercase())));
    let sql = format!(
        "SELECT {COLUMNS} FROM users \
         WHERE (CAST($1 AS TEXT) IS NULL OR role = $1) \
           AND (CAST($2 AS TEXT) IS NULL OR username LIKE $2 ESCAPE '\\' OR email LIKE $2 ESCAPE '\\' OR lower(COALESCE(display_name, '')) LIKE $2 ESCAPE '\\') \
           AND (CAST($3 AS TEXT) IS NULL OR id > $3) \
         ORDER BY id LIMIT $4"
    );
    sqlx::query_as::<_, UserRow>(sqlx::AssertSqlSafe(sql))
        .bind(f.role.map(Role::as_str))
        .bind(pattern)
        .bind(f.after_id)
        .bind(f.limit)
        .fetch_all(&db.pool)
        .await
}

/// Escapes LIKE wildcards so user text matches literally.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
