//! The background sender: delivers due outbox rows through the transport, retrying failures with
//! exponential backoff. Safe to run in several instances over one database: each row is claimed with
//! a lease before it is sent (see `store::outbox::claim`).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::transport::Transport;
use crate::config::MailTransport;
use crate::domain::now;
use crate::state::AppState;
use crate::store::outbox::{self, OutboxRow};

/// Rows read per query; a full batch is followed at once by the next.
const BATCH: i64 = 20;
/// Longest `last_error` kept, in characters.
const ERROR_CHARS: usize = 500;

/// A running sender. Dropping the handle also stops it, without waiting.
pub struct SenderHandle {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

/// Starts the sender on the current runtime.
pub fn spawn(state: AppState, transport: Arc<Transport>) -> SenderHandle {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(state, transport, async {
        let _ = stopped.await;
    }));
    SenderHandle { stop, task }
}

impl SenderHandle {
    /// Asks the sender to stop and waits until it has: a message being sent is finished and recorded
    /// first, so it is neither lost nor sent again.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "mail sender task failed");
        }
    }
}

/// Delivers due mail until `shutdown` resolves. Between rounds it waits for newly queued mail
/// (`Mailer::queued`) or `mail.poll_ms`, whichever comes first.
pub async fn run(state: AppState, transport: Arc<Transport>, shutdown: impl Future<Output = ()>) {
    let poll = Duration::from_millis(state.settings().mail.poll_ms.max(1));
    tokio::pin!(shutdown);
    tracing::info!(transport = transport.name(), "mail sender started");
    loop {
        let full = match deliver_due(&state, &transport, shutdown.as_mut()).await {
            Ok(Round::Full) => true,
            Ok(Round::Drained) => false,
            Ok(Round::Stopped) => break,
            Err(e) => {
                tracing::warn!(error = %e, "mail sender could not read the outbox");
                false
            }
        };
        if let Some(metrics) = state.metrics()
            && let Ok((depth, _failing)) = outbox::depth(state.db()).await
        {
            metrics.outbox_depth(depth);
        }
        if full {
            continue;
        }
        tokio::select! {
            () = &mut shutdown => break,
            () = state.mailer().queued() => {}
            () = tokio::time::sleep(poll) => {}
        }
    }
    transport.shutdown().await;
    tracing::info!("mail sender stopped");
}

enum Round {
    /// A whole batch was due: look again at once.
    Full,
    /// Nothing more is due now.
    Drained,
    /// Shutdown was asked for.
    Stopped,
}

async fn deliver_due(
    state: &AppState,
    transport: &Transport,
    mut shutdown: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Result<Round, crate::store::Error> {
    let lease = lease_ms(match &state.settings().mail.transport {
        MailTransport::Smtp(smtp) => smtp.timeout_ms,
        MailTransport::File => 0,
    });
    let rows = outbox::due(state.db(), now(), BATCH).await?;
    let full = rows.len() as i64 == BATCH;
    for row in rows {
        if stop_requested(shutdown.as_mut()).await {
            return Ok(Round::Stopped);
        }
        let lease_for = time::Duration::milliseconds(i64::try_from(lease).unwrap_or(i64::MAX));
        if !outbox::claim(state.db(), row.id, now(), lease_for).await? {
            continue;
        }
        deliver(state, transport, &row, lease).await;
    }
    Ok(if full { Round::Full } else { Round::Drained })
}

/// Sends one claimed row and records the outcome.
#[tracing::instrument(skip_all, fields(id = %row.id))]
async fn deliver(state: &AppState, transport: &Transport, row: &OutboxRow, lease: u64) {
    let mail = &state.settings().mail;
    // A send that outlived its lease could be claimed and sent again by another instance.
    let deadline = Duration::from_millis(lease / 2);
    let outcome = match tokio::time::timeout(deadline, transport.send(&row.message(), &mail.from)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(super::transport::SendError {
            message: format!("gave up after {} ms", deadline.as_millis()),
            permanent: false,
        }),
    };
    if let Some(metrics) = state.metrics() {
        metrics.mail_delivered(outcome.as_ref().map(|_| ()).map_err(|e| e.permanent));
    }
    match outcome {
        Ok(()) => {
            record_sent(state, row.id).await;
            tracing::info!(attempt = row.attempts + 1, "mail sent");
        }
        Err(e) => {
            let attempts = row.attempts + 1;
            let delay = if e.permanent {
                mail.retry_max_ms
            } else {
                backoff_ms(attempts, mail.retry_base_ms, mail.retry_max_ms)
            };
            let error = truncate(&e.message, ERROR_CHARS);
            tracing::warn!(attempt = attempts, retry_in_ms = delay, error = %error, "mail delivery failed");
            let next = now().saturating_add(time::Duration::milliseconds(i64::try_from(delay).unwrap_or(i64::MAX)));
            if let Err(db) = outbox::mark_failed(state.db(), row.id, &error, next).await {
                tracing::error!(error = %db, "recording a failed delivery; the message is retried when its lease ends");
            }
        }
    }
}

/// Marks the row sent, retrying briefly: a row left unmarked would be sent again when its lease ends.
async fn record_sent(state: &AppState, id: uuid::Uuid) {
    for attempt in 1..=3 {
        match outbox::mark_sent(state.db(), id, now()).await {
            Ok(()) => return,
            Err(e) if attempt < 3 => {
                tracing::warn!(error = %e, "recording a delivery; retrying");
                tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
            }
            Err(e) => tracing::error!(error = %e, "recording a delivery failed; the message may be sent again"),
        }
    }
}

/// Whether `shutdown` has already resolved, without waiting for it.
async fn stop_requested(shutdown: std::pin::Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        biased;
        () = shutdown => true,
        () = std::future::ready(()) => false,
    }
}

/// How long a claim holds a message: long enough for a slow SMTP exchange of several commands, each
/// bounded by `smtp_timeout_ms`.
fn lease_ms(smtp_timeout_ms: u64) -> u64 {
    smtp_timeout_ms.saturating_mul(10).max(60_000)
}

/// Delay before the next attempt after `attempts` attempts (at least one): `base · 2^(attempts-1)`,
/// at most `max`.
pub fn backoff_ms(attempts: i64, base_ms: u64, max_ms: u64) -> u64 {
    let doublings = u32::try_from(attempts.saturating_sub(1).max(0)).unwrap_or(u32::MAX);
    let factor = 2u64.checked_pow(doublings).unwrap_or(u64::MAX);
    base_ms.saturating_mul(factor).min(max_ms)
}

/// The first `max` characters of `text`, marked when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_from_the_base_up_to_the_maximum() {
        let cases = [
            (0, 200, "no attempt yet counts as the first"),
            (1, 200, "first failure waits the base"),
            (2, 400, "then doubles"),
            (3, 800, "and doubles again"),
            (6, 6_400, "2^5 times the base"),
            (7, 10_000, "capped at the maximum"),
            (64, 10_000, "no overflow at 2^63"),
            (1_000, 10_000, "no overflow far beyond"),
            (i64::MAX, 10_000, "no overflow at the largest count"),
        ];
        for (attempts, want, why) in cases {
            assert_eq!(backoff_ms(attempts, 200, 10_000), want, "{why} (attempts = {attempts})");
        }
    }

    #[test]
    fn a_base_above_the_maximum_waits_the_maximum() {
        assert_eq!(backoff_ms(1, 5_000, 1_000), 1_000);
        assert_eq!(backoff_ms(1, u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn the_lease_outlasts_several_smtp_timeouts() {
        assert_eq!(lease_ms(10_000), 100_000);
        assert_eq!(lease_ms(100), 60_000);
        assert_eq!(lease_ms(u64::MAX), u64::MAX);
    }

    #[test]
    fn long_errors_are_cut_on_a_character_boundary() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("ééééé", 3), "ééé…");
        assert_eq!(truncate(&"x".repeat(600), ERROR_CHARS).chars().count(), ERROR_CHARS + 1);
    }
}
