//! Queries on `outbox`: queueing mail, and the claim/mark cycle of the background sender.
//!
//! A sender claims one row at a time with a conditional `UPDATE` that sets a lease (`locked_until`);
//! only the instance whose update changed the row sends it, so several instances never send twice.

use sqlx::FromRow;

use super::{Db, new_id};
use crate::domain::now_ms;
use crate::mail::Message;

/// One queued message and its delivery state.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    pub id: String,
    pub to_address: String,
    pub subject: String,
    pub body_text: String,
    pub created_at: i64,
    /// Delivery attempts made, the successful one included.
    pub attempts: i64,
    pub next_attempt_at: i64,
    pub locked_until: Option<i64>,
    pub sent_at: Option<i64>,
    pub last_error: Option<String>,
}

impl OutboxRow {
    /// The message to hand to a transport.
    pub fn message(&self) -> Message {
        Message {
            to: self.to_address.clone(),
            subject: self.subject.clone(),
            text: self.body_text.clone(),
        }
    }
}

const COLUMNS: &str =
    "id, to_address, subject, body_text, created_at, attempts, next_attempt_at, locked_until, sent_at, last_error";

/// Queues a message, due now.
#[tracing::instrument(skip_all)]
pub async fn insert(db: &Db, m: &Message) -> Result<(), sqlx::Error> {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(new_id())
    .bind(&m.to)
    .bind(&m.subject)
    .bind(&m.text)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Up to `limit` unsent messages that are due at `now` and not held by a live lease, oldest due first.
#[tracing::instrument(skip_all)]
pub async fn due(db: &Db, now: i64, limit: i64) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox \
         WHERE sent_at IS NULL AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
         ORDER BY next_attempt_at, id LIMIT $2"
    )))
    .bind(now)
    .bind(limit)
    .fetch_all(&db.pool)
    .await
}

/// Takes the lease on message `id` until `now + lease_ms`. True only for the one caller whose update
/// changed the row: a message already sent, not yet due, or held by another live lease is not claimed.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn claim(db: &Db, id: &str, now: i64, lease_ms: i64) -> Result<bool, sqlx::Error> {
    let changed = sqlx::query(
        "UPDATE outbox SET locked_until = $2 \
         WHERE id = $1 AND sent_at IS NULL AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until < $3)",
    )
    .bind(id)
    .bind(now.saturating_add(lease_ms))
    .bind(now)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(changed == 1)
}

/// Records a delivery: the message is never picked again.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn mark_sent(db: &Db, id: &str, now: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET sent_at = $2, attempts = attempts + 1, locked_until = NULL, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again; releases the lease. `error` must hold no secrets.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn mark_failed(db: &Db, id: &str, error: &str, next_attempt_at: i64) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, locked_until = NULL \
         WHERE id = $1 AND sent_at IS NULL",
    )
    .bind(id)
    .bind(error)
    .bind(next_attempt_at)
    .execute(&db.pool)
    .await?;
    Ok(())
}

/// One message by id.
#[tracing::instrument(skip_all)]
pub async fn find(db: &Db, id: &str) -> Result<Option<OutboxRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&db.pool)
    .await
}

/// Unsent messages to `address` (exact match), oldest first.
#[tracing::instrument(skip_all)]
pub async fn pending_for(db: &Db, address: &str) -> Result<Vec<OutboxRow>, sqlx::Error> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM outbox WHERE to_address = $1 AND sent_at IS NULL ORDER BY created_at, id"
    )))
    .bind(address)
    .fetch_all(&db.pool)
    .await
}

/// Drops unsent messages to `address` (for instance links that a newer message supersedes); returns
/// how many. A message a sender holds at this moment may still go out.
#[tracing::instrument(skip_all)]
pub async fn delete_pending_for(db: &Db, address: &str) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM outbox WHERE to_address = $1 AND sent_at IS NULL")
            .bind(address)
            .execute(&db.pool)
            .await?
            .rows_affected(),
    )
}

/// Deletes mail sent before `sent_before`; unsent mail is never pruned.
#[tracing::instrument(skip_all)]
pub async fn prune_sent(db: &Db, sent_before: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query("DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1")
        .bind(sent_before)
        .execute(&db.pool)
        .await?;
    Ok(done.rows_affected())
}
