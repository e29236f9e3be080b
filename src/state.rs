//! Shared application state handed to every handler.

use std::sync::Arc;

use crate::auth::limiter::Limiter;
use crate::auth::password::Hasher;
use crate::auth::tokens::Keys;
use crate::config::Settings;
use crate::media::storage::MediaStore;
use crate::store::Db;

/// Cheap to clone: everything is behind `Arc` or is a pool handle.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: Db,
    pub hasher: Arc<Hasher>,
    pub keys: Arc<Keys>,
    pub limiter: Arc<dyn Limiter>,
    /// Where images are stored.
    pub media: Arc<dyn MediaStore>,
    /// Queues outbound mail.
    pub mailer: crate::mail::Mailer,
    /// Bounds concurrent image decoding.
    pub image_permits: Arc<tokio::sync::Semaphore>,
    /// Bounds the upload bodies held in memory.
    pub upload_budget: Arc<crate::posts::upload::Budget>,
}
