//! Queries on `outbox`: queueing mail, and the claim/mark cycle of the background sender.
//!
//! A sender claims one row at a time with a conditional `UPDATE` that sets a lease (`locked_until`);
//! only the instance whose update changed the row sends it, so several instances never send twice.

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{Error, Exec, new_id};
use crate::domain::now;
use crate::mail::Message;
use crate::{args, row};

row! {
    /// One queued message and its delivery state.
    pub struct OutboxRow {
        id: Uuid = "id",
        to_address: String = "to_address",
        subject: String = "subject",
        body_text: String = "body_text",
        created_at: OffsetDateTime = "created_at",
        /// Delivery attempts made, the successful one included.
        attempts: i64 = "attempts",
        next_attempt_at: OffsetDateTime = "next_attempt_at",
        locked_until: Option<OffsetDateTime> = "locked_until",
        sent_at: Option<OffsetDateTime> = "sent_at",
        last_error: Option<String> = "last_error",
    }
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

/// Queues a message, due now.
#[tracing::instrument(skip_all)]
pub async fn insert(mut ex: impl Exec, m: &Message) -> Result<(), Error> {
    ex.execute(
        "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $5)",
        args![new_id(), m.to, m.subject, m.text, now()],
    )
    .await?;
    Ok(())
}

/// Up to `limit` unsent messages that are due at `now` and not held by a live lease, oldest due first.
#[tracing::instrument(skip_all)]
pub async fn due(mut ex: impl Exec, now: OffsetDateTime, limit: i64) -> Result<Vec<OutboxRow>, Error> {
    let sql = format!(
        "SELECT {} FROM outbox \
         WHERE sent_at IS NULL AND next_attempt_at <= $1 AND (locked_until IS NULL OR locked_until < $1) \
         ORDER BY next_attempt_at, id LIMIT $2",
        OutboxRow::columns()
    );
    ex.fetch_all(&sql, args![now, limit]).await
}

/// Takes the lease on message `id` until `now + lease`. True only for the one caller whose update
/// changed the row: a message already sent, not yet due, or held by another live lease is not claimed.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn claim(mut ex: impl Exec, id: Uuid, now: OffsetDateTime, lease: Duration) -> Result<bool, Error> {
    let changed = ex
        .execute(
            "UPDATE outbox SET locked_until = $2 \
             WHERE id = $1 AND sent_at IS NULL AND next_attempt_at <= $3 AND (locked_until IS NULL OR locked_until < $3)",
            args![id, now.saturating_add(lease), now],
        )
        .await?;
    Ok(changed == 1)
}

/// Records a delivery: the message is never picked again.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn mark_sent(mut ex: impl Exec, id: Uuid, now: OffsetDateTime) -> Result<(), Error> {
    ex.execute(
        "UPDATE outbox SET sent_at = $2, attempts = attempts + 1, locked_until = NULL, last_error = NULL WHERE id = $1",
        args![id, now],
    )
    .await?;
    Ok(())
}

/// Records a failed attempt and when to try again; releases the lease. `error` must hold no secrets.
#[tracing::instrument(skip_all, fields(id = %id))]
pub async fn mark_failed(
    mut ex: impl Exec,
    id: Uuid,
    error: &str,
    next_attempt_at: OffsetDateTime,
) -> Result<(), Error> {
    ex.execute(
        "UPDATE outbox SET attempts = attempts + 1, last_error = $2, next_attempt_at = $3, locked_until = NULL \
         WHERE id = $1 AND sent_at IS NULL",
        args![id, error, next_attempt_at],
    )
    .await?;
    Ok(())
}

/// The outbox's depth: unsent messages (due or not), and those of them whose last attempt failed.
/// The health report shows both; the metrics' outbox gauge is the first.
#[tracing::instrument(skip_all)]
pub async fn depth(mut ex: impl Exec) -> Result<(i64, i64), Error> {
    // `last_error` is cleared when a message is sent, so among unsent rows it marks a failed last attempt.
    ex.fetch_one(
        "SELECT COUNT(*), COUNT(last_error) FROM outbox WHERE sent_at IS NULL",
        &[],
    )
    .await
}

/// One message by id.
#[tracing::instrument(skip_all)]
pub async fn find(mut ex: impl Exec, id: Uuid) -> Result<Option<OutboxRow>, Error> {
    let sql = format!("SELECT {} FROM outbox WHERE id = $1", OutboxRow::columns());
    ex.fetch_optional(&sql, args![id]).await
}

/// Unsent messages to `address` (exact match), oldest first.
#[tracing::instrument(skip_all)]
pub async fn pending_for(mut ex: impl Exec, address: &str) -> Result<Vec<OutboxRow>, Error> {
    let sql = format!(
        "SELECT {} FROM outbox WHERE to_address = $1 AND sent_at IS NULL ORDER BY created_at, id",
        OutboxRow::columns()
    );
    ex.fetch_all(&sql, args![address]).await
}

/// Drops unsent messages to `address` (for instance links that a newer message supersedes); returns
/// how many. A message a sender holds at this moment may still go out.
#[tracing::instrument(skip_all)]
pub async fn delete_pending_for(mut ex: impl Exec, address: &str) -> Result<u64, Error> {
    ex.execute(
        "DELETE FROM outbox WHERE to_address = $1 AND sent_at IS NULL",
        args![address],
    )
    .await
}

/// Deletes mail sent before `sent_before`; unsent mail is never pruned.
#[tracing::instrument(skip_all)]
pub async fn prune_sent(mut ex: impl Exec, sent_before: OffsetDateTime) -> Result<u64, Error> {
    ex.execute(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1",
        args![sent_before],
    )
    .await
}
