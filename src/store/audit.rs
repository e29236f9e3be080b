//! Queries on `audit_events`: the security trail.

use sqlx::FromRow;

use super::{Db, new_id};
use crate::domain::now_ms;

/// One recorded security event.
#[derive(Debug, Clone, FromRow)]
pub struct AuditRow {
    pub id: String,
    pub kind: String,
    pub actor_id: Option<String>,
    pub target_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: String,
    pub created_at: i64,
}

/// A new event.
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub actor_id: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: serde_json::Value,
}

#[tracing::instrument(skip_all, fields(kind = e.kind))]
pub async fn insert(db: &Db, e: NewEvent<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_events (id, kind, actor_id, target_id, ip, user_agent, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(new_id())
    .bind(e.kind)
    .bind(e.actor_id)
    .bind(e.target_id)
    .bind(e.ip)
    .bind(e.user_agent)
    .bind(e.details.to_string())
    .bind(now_ms())
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Filters for the admin audit listing, newest first.
pub struct ListFilter<'a> {
    pub kind: Option<&'a str>,
    /// Events where this user is the actor or the target.
    pub user_id: Option<&'a str>,
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

#[tracing::instrument(skip_all)]
pub async fn list(db: &Db, f: ListFilter<'_>) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as::<_, AuditRow>(
        "SELECT id, kind, actor_id, target_id, ip, user_agent, details, created_at FROM audit_events \
         WHERE (CAST($1 AS TEXT) IS NULL OR kind = $1) \
           AND (CAST($2 AS TEXT) IS NULL OR actor_id = $2 OR target_id = $2) \
           AND (CAST($3 AS TEXT) IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4",
    )
    .bind(f.kind)
    .bind(f.user_id)
    .bind(f.before_id)
    .bind(f.limit)
    .fetch_all(&db.pool)
    .await
}
