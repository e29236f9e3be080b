//! Deletes rows that have served their purpose, so that tables stop growing and sent mail, whose
//! bodies held single-use links and addresses, does not stay in the database for good.
//!
//! Every instance runs a pass a minute after start and then hourly. Each pass is five `DELETE`s and one
//! `UPDATE` by age, so instances running them at once only find less to do.

use std::time::Duration;

use time::OffsetDateTime;

use crate::domain::now;
use crate::state::AppState;
use crate::store::{self, Db};

/// Sent mail is kept a week, for questions about delivery; unsent mail is never pruned.
pub const SENT_MAIL_KEPT: time::Duration = time::Duration::weeks(1);
/// Email tokens are kept a day past their expiry; after that a link is unknown rather than expired,
/// which answers the same.
pub const EXPIRED_TOKENS_KEPT: time::Duration = time::Duration::DAY;
/// Idempotency keys are remembered for 24 hours; a retry after that is a new request.
pub const IDEMPOTENCY_KEYS_KEPT: time::Duration = time::Duration::DAY;
/// A refresh token's sealed successor is needed only for a retry within `auth.refresh_reuse_grace_secs`;
/// past the longest grace allowed it is cleared, so an old token and a copy of the database do not
/// lead to a later token.
pub const SEALED_SUCCESSORS_KEPT: time::Duration =
    time::Duration::seconds(crate::config::MAX_REFRESH_REUSE_GRACE_SECS as i64);
const EVERY: Duration = Duration::from_secs(3600);
const FIRST_AFTER: Duration = Duration::from_secs(60);

/// Rows one pass deleted.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Pruned {
    pub sent_mail: u64,
    pub email_tokens: u64,
    pub idempotency_keys: u64,
    pub mfa_challenges: u64,
    pub webauthn_ceremonies: u64,
    /// Refresh tokens whose sealed successor was cleared (the rows stay, for reuse detection).
    pub sealed_successors: u64,
}

/// One pass, as of `now`.
pub async fn run_once(db: &Db, now: OffsetDateTime) -> Result<Pruned, store::Error> {
    Ok(Pruned {
        sent_mail: store::outbox::prune_sent(db, now - SENT_MAIL_KEPT).await?,
        email_tokens: store::email_tokens::prune_expired(db, now - EXPIRED_TOKENS_KEPT).await?,
        idempotency_keys: store::idempotency::prune(db, now - IDEMPOTENCY_KEYS_KEPT).await?,
        mfa_challenges: store::factors::prune_challenges(db, now - EXPIRED_TOKENS_KEPT).await?,
        webauthn_ceremonies: store::passkeys::prune_ceremonies(db, now - EXPIRED_TOKENS_KEPT).await?,
        sealed_successors: store::sessions::forget_successors(db, now - SEALED_SUCCESSORS_KEPT).await?,
    })
}

/// Runs a pass a minute after start (not at once: a restart loop should not add work) and then
/// every hour, until the task is aborted. A failed pass (the database down)
/// is logged and tried again at the next hour.
pub async fn run(state: AppState) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + FIRST_AFTER, EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match run_once(state.db(), now()).await {
            Ok(pruned) if pruned != Pruned::default() => tracing::info!(?pruned, "housekeeping pass"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping pass failed"),
        }
    }
}
