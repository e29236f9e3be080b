//! Queries on `audit_events`: the security trail.

use time::OffsetDateTime;
use uuid::Uuid;

use super::{Error, Exec, new_id};
use crate::domain::now;
use crate::{args, row};

row! {
    /// One recorded security event.
    pub struct AuditRow {
        id: Uuid = "id",
        kind: String = "kind",
        actor_id: Option<Uuid> = "actor_id",
        target_id: Option<Uuid> = "target_id",
        ip: Option<String> = "ip",
        user_agent: Option<String> = "user_agent",
        /// A JSON object.
        details: String = "details",
        created_at: OffsetDateTime = "created_at",
    }
}

/// A new event.
pub struct NewEvent<'a> {
    pub kind: &'a str,
    pub actor_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub details: serde_json::Value,
}

#[tracing::instrument(skip_all, fields(kind = e.kind))]
pub async fn insert(mut ex: impl Exec, e: NewEvent<'_>) -> Result<(), Error> {
    ex.execute(
        "INSERT INTO audit_events (id, kind, actor_id, target_id, ip, user_agent, details, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args![
            new_id(),
            e.kind,
            e.actor_id,
            e.target_id,
            e.ip,
            e.user_agent,
            e.details.to_string(),
            now()
        ],
    )
    .await?;
    Ok(())
}

/// Filters for the admin audit listing, newest first.
pub struct ListFilter<'a> {
    pub kind: Option<&'a str>,
    /// Events where this user is the actor or the target.
    pub user_id: Option<Uuid>,
    pub before_id: Option<Uuid>,
    pub limit: i64,
}

#[tracing::instrument(skip_all)]
pub async fn list(mut ex: impl Exec, f: ListFilter<'_>) -> Result<Vec<AuditRow>, Error> {
    let sql = format!(
        "SELECT {} FROM audit_events \
         WHERE (CAST($1 AS TEXT) IS NULL OR kind = $1) \
           AND ($2 IS NULL OR actor_id = $2 OR target_id = $2) \
           AND ($3 IS NULL OR id < $3) \
         ORDER BY id DESC LIMIT $4",
        AuditRow::columns()
    );
    ex.fetch_all(&sql, args![f.kind, f.user_id, f.before_id, f.limit]).await
}
