//! Shared application state handed to every handler.

use std::sync::Arc;

use crate::auth::limiter::Limiter;
use crate::auth::password::Hasher;
use crate::auth::tokens::Keys;
use crate::auth::vault::Vault;
use crate::config::Settings;
use crate::media::storage::MediaStore;
use crate::store::Db;

/// Cheap to clone: everything is behind `Arc` or is a pool handle.
#[derive(Clone)]
pub struct AppState {
    // Built by `startup::build_state`; read through the methods below.
    pub(crate) settings: Arc<Settings>,
    pub(crate) db: Db,
    pub(crate) hasher: Arc<Hasher>,
    pub(crate) keys: Arc<Keys>,
    /// Seals second-factor secrets at rest.
    pub(crate) vault: Arc<Vault>,
    /// The WebAuthn relying party; `None` when `public_origin` cannot be one (an IP address).
    pub(crate) webauthn: Option<Arc<webauthn_rs::Webauthn>>,
    pub(crate) limiter: Arc<dyn Limiter>,
    /// Where images are stored.
    pub(crate) media: Arc<dyn MediaStore>,
    /// Queues outbound mail.
    pub(crate) mailer: crate::mail::Mailer,
    /// Bounds concurrent image decoding.
    pub(crate) image_permits: Arc<tokio::sync::Semaphore>,
    /// Bounds the upload bodies held in memory.
    pub(crate) upload_budget: Arc<crate::posts::upload::Budget>,
    /// The Prometheus recorder; `None` when `metrics.enabled` is off.
    pub(crate) metrics: Option<Arc<crate::metrics::Metrics>>,
}

/// Read access to the state's parts (the fields are the crate's to build, not anyone's to replace).
impl AppState {
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    pub fn webauthn(&self) -> Option<&webauthn_rs::Webauthn> {
        self.webauthn.as_deref()
    }

    pub fn limiter(&self) -> &Arc<dyn Limiter> {
        &self.limiter
    }

    pub fn media(&self) -> &Arc<dyn MediaStore> {
        &self.media
    }

    pub fn mailer(&self) -> &crate::mail::Mailer {
        &self.mailer
    }

    pub fn image_permits(&self) -> &tokio::sync::Semaphore {
        &self.image_permits
    }

    pub fn upload_budget(&self) -> &Arc<crate::posts::upload::Budget> {
        &self.upload_budget
    }

    pub fn metrics(&self) -> Option<&crate::metrics::Metrics> {
        self.metrics.as_deref()
    }
}
