//! Outbound mail: messages are queued in the `outbox` table inside the request that causes them, and a
//! background sender delivers them through the configured transport with retries and backoff.

pub mod sender;
pub mod templates;
pub mod transport;

use std::sync::Arc;

use tokio::sync::Notify;

use crate::store;

/// A message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub to: String,
    pub subject: String,
    pub text: String,
}

/// Queues mail and wakes the sender.
#[derive(Clone, Default)]
pub struct Mailer {
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new() -> Mailer {
        Mailer::default()
    }

    /// Writes the message to the outbox; the sender delivers it.
    pub async fn queue(&self, ex: impl store::Exec, message: &Message) -> Result<(), store::Error> {
        store::outbox::insert(ex, message).await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Resolves when new mail was queued (the sender waits on this between polls).
    pub async fn queued(&self) {
        self.wake.notified().await;
    }
}
