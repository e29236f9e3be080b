//! Queries on `users`, and the last-admin rule.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Error, Exec, Lock, Tx, new_id};
use crate::domain::{Role, now};
use crate::{args, row};

row! {
    /// A user as stored.
    pub struct UserRow {
        id: Uuid = "id",
        username: String = "username",
        email: String = "email",
        password_hash: String = "password_hash",
        display_name: Option<String> = "display_name",
        bio: String = "bio",
        role: Role = "role",
        disabled_at: Option<OffsetDateTime> = "disabled_at",
        email_verified_at: Option<OffsetDateTime> = "email_verified_at",
        created_at: OffsetDateTime = "created_at",
        updated_at: OffsetDateTime = "updated_at",
    }
}

impl UserRow {
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none()
    }
}

/// Why an insert was refused.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("email taken")]
    EmailTaken,
    #[error("username taken")]
    UsernameTaken,
    #[error(transparent)]
    Db(#[from] Error),
}

/// Fields of a new account, already validated.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub display_name: Option<&'a str>,
    pub role: Role,
}

fn one<T>(mut rows: Vec<T>) -> Option<T> {
    rows.pop()
}

/// Inserts a user. The unique constraints decide duplicates, so concurrent registrations race safely.
#[tracing::instrument(skip_all)]
pub async fn insert(mut ex: impl Exec, new: NewUser<'_>) -> Result<UserRow, InsertError> {
    let sql = format!(
        "INSERT INTO users (id, username, email, password_hash, display_name, bio, role, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, '', $6, $7, $7) RETURNING {}",
        UserRow::columns()
    );
    let (id, now) = (new_id(), now());
    let args = args![
        id,
        new.username,
        new.email,
        new.password_hash,
        new.display_name,
        new.role,
        now
    ];
    match ex.write_returning::<UserRow>(&sql, args).await {
        Ok(rows) => one(rows).ok_or_else(|| Error::Other(anyhow::anyhow!("INSERT … RETURNING returned no row")).into()),
        Err(e) => Err(match e.unique_violation() {
            Some(which) if which.contains("email") => InsertError::EmailTaken,
            Some(which) if which.contains("username") => InsertError::UsernameTaken,
            _ => InsertError::Db(e),
        }),
    }
}

async fn find_by(
    mut ex: impl Exec,
    column: &'static str,
    value: super::value::Arg<'_>,
) -> Result<Option<UserRow>, Error> {
    let sql = format!("SELECT {} FROM users WHERE {column} = $1", UserRow::columns());
    ex.fetch_optional(&sql, &[value]).await
}

#[tracing::instrument(skip_all)]
pub async fn find_by_id(ex: impl Exec, id: Uuid) -> Result<Option<UserRow>, Error> {
    find_by(ex, "id", super::value::Arg::Id(Some(id))).await
}

#[tracing::instrument(skip_all)]
pub async fn find_by_username(ex: impl Exec, username: &str) -> Result<Option<UserRow>, Error> {
    find_by(ex, "username", super::value::Arg::Text(Some(username))).await
}

#[tracing::instrument(skip_all)]
pub async fn find_by_email(ex: impl Exec, email: &str) -> Result<Option<UserRow>, Error> {
    find_by(ex, "email", super::value::Arg::Text(Some(email))).await
}

/// Changes display name and/or bio; `None` leaves a field as it is.
#[tracing::instrument(skip_all)]
pub async fn update_profile(
    mut ex: impl Exec,
    id: Uuid,
    display_name: Option<Option<&str>>,
    bio: Option<&str>,
) -> Result<Option<UserRow>, Error> {
    let sql = format!(
        "UPDATE users SET \
           display_name = CASE WHEN $2 THEN $3 ELSE display_name END, \
           bio = COALESCE($4, bio), updated_at = $5 \
         WHERE id = $1 RETURNING {}",
        UserRow::columns()
    );
    let (now, set_name, name) = (now(), display_name.is_some(), display_name.flatten());
    Ok(one(ex
        .write_returning(&sql, args![id, set_name, name, bio, now])
        .await?))
}

/// Marks the address verified, if it is still the user's address.
#[tracing::instrument(skip_all)]
pub async fn mark_email_verified(mut ex: impl Exec, id: Uuid, email: &str) -> Result<bool, Error> {
    let n = ex
        .execute(
            "UPDATE users SET email_verified_at = COALESCE(email_verified_at, $3), updated_at = $3 WHERE id = $1 AND email = $2",
            args![id, email, now()],
        )
        .await?;
    Ok(n == 1)
}

/// Changes the address (already confirmed by its owner); the unique constraint decides races.
#[tracing::instrument(skip_all)]
pub async fn change_email(mut ex: impl Exec, id: Uuid, email: &str) -> Result<Option<UserRow>, InsertError> {
    let sql = format!(
        "UPDATE users SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1 RETURNING {}",
        UserRow::columns()
    );
    match ex.write_returning(&sql, args![id, email, now()]).await {
        Ok(rows) => Ok(one(rows)),
        Err(e) if e.unique_violation().is_some() => Err(InsertError::EmailTaken),
        Err(e) => Err(InsertError::Db(e)),
    }
}

/// Deletes the account; sessions, posts, tags, tokens and keys go with it (foreign keys cascade), and
/// audit events about the user are erased.
#[tracing::instrument(skip_all)]
pub async fn delete_account(tx: &mut Tx, id: Uuid) -> Result<bool, Error> {
    tx.execute(
        "DELETE FROM audit_events WHERE actor_id = $1 OR target_id = $1",
        args![id],
    )
    .await?;
    let n = tx.execute("DELETE FROM users WHERE id = $1", args![id]).await?;
    Ok(n == 1)
}

#[tracing::instrument(skip_all)]
pub async fn update_password_hash(mut ex: impl Exec, id: Uuid, hash: &str) -> Result<(), Error> {
    ex.execute(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
        args![id, hash, now()],
    )
    .await?;
    Ok(())
}

/// Starts a change to the set of admins: a transaction that no other such change runs beside, so the
/// last-admin rule ([`removes_last_admin`]) sees every admin change committed before it.
pub async fn begin_admin_change(db: &super::Db) -> Result<Tx, Error> {
    let mut tx = db.begin().await?;
    tx.serialise(Lock::AdminSet).await?;
    Ok(tx)
}

/// The last-admin rule, for every change that can take an account out of the active admins (a role
/// change, disabling, deleting): true when `current` is an active admin, would stop being one
/// (`stays_admin` false), and no other active admin remains. Call it inside [`begin_admin_change`].
pub async fn removes_last_admin(tx: &mut Tx, current: &UserRow, stays_admin: bool) -> Result<bool, Error> {
    if current.role != Role::Admin || !current.is_active() || stays_admin {
        return Ok(false);
    }
    let (others,): (i64,) = tx
        .fetch_one(
            "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
            args![current.id],
        )
        .await?;
    Ok(others == 0)
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

/// Sets role and/or the disabled flag, refusing to remove the last active admin. Commits on success.
#[tracing::instrument(skip_all)]
pub async fn admin_update(
    db: &super::Db,
    id: Uuid,
    role: Option<Role>,
    disabled: Option<bool>,
) -> Result<AdminChange, Error> {
    let mut tx = begin_admin_change(db).await?;
    let Some(current) = find_by_id(&mut tx, id).await? else {
        return Ok(AdminChange::NotFound);
    };
    let new_role = role.unwrap_or(current.role);
    let new_disabled = disabled.unwrap_or(current.disabled_at.is_some());
    if removes_last_admin(&mut tx, &current, new_role == Role::Admin && !new_disabled).await? {
        return Ok(AdminChange::LastAdmin);
    }
    let disabled_at = match (new_disabled, current.disabled_at) {
        (true, Some(at)) => Some(at),
        (true, None) => Some(now()),
        (false, _) => None,
    };
    let sql = format!(
        "UPDATE users SET role = $2, disabled_at = $3, updated_at = $4 WHERE id = $1 RETURNING {}",
        UserRow::columns()
    );
    let after = one(tx
        .write_returning(&sql, args![id, new_role, disabled_at, now()])
        .await?)
    .ok_or_else(|| Error::Other(anyhow::anyhow!("the user vanished inside the transaction")))?;
    tx.commit().await?;
    Ok(AdminChange::Updated {
        before: Box::new(current),
        after: Box::new(after),
    })
}

/// Filters for the admin listing.
pub struct ListFilter<'a> {
    pub role: Option<Role>,
    /// Only disabled accounts (`true`) or only active ones (`false`).
    pub disabled: Option<bool>,
    /// Case-insensitive substring of username, email or display name.
    pub text: Option<&'a str>,
    /// Only ids after this one (ids are time-ordered).
    pub after_id: Option<Uuid>,
    pub limit: i64,
}

/// Lists users oldest first, keyset-paginated on id.
#[tracing::instrument(skip_all)]
pub async fn list(mut ex: impl Exec, f: ListFilter<'_>) -> Result<Vec<UserRow>, Error> {
    let pattern = f.text.map(|t| format!("%{}%", escape_like(&t.to_lowercase())));
    let status = match f.disabled {
        None => "",
        Some(true) => "AND disabled_at IS NOT NULL",
        Some(false) => "AND disabled_at IS NULL",
    };
    let sql = format!(
        "SELECT {} FROM users \
         WHERE (CAST($1 AS TEXT) IS NULL OR role = $1) \
           AND (CAST($2 AS TEXT) IS NULL OR username LIKE $2 ESCAPE '\\' OR email LIKE $2 ESCAPE '\\' OR lower(COALESCE(display_name, '')) LIKE $2 ESCAPE '\\') \
           AND ($3 IS NULL OR id > $3) {status} \
         ORDER BY id LIMIT $4",
        UserRow::columns()
    );
    ex.fetch_all(&sql, args![f.role, pattern, f.after_id, f.limit]).await
}

/// Escapes LIKE wildcards so user text matches literally.
fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}
