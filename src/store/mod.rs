//! The store: named query functions per aggregate, on SQLite (rusqlite) or PostgreSQL (sqlx).
//!
//! Each function is written once with `$n` placeholders and typed arguments and rows (`value`), and runs
//! on either engine through [`Exec`]: `&Db` for a single statement, `&mut Tx` to join a transaction.
//! Where the dialects differ, the difference sits next to the function, matched on [`Exec::backend`].

pub mod audit;
pub mod db;
pub mod email_tokens;
mod error;
pub mod factors;
pub mod idempotency;
pub mod outbox;
pub mod passkeys;
mod pg;
pub mod posts;
pub mod sessions;
pub mod snapshot;
mod sqlite;
pub mod users;
pub mod value;

use std::time::Duration;

use anyhow::Context;

pub use db::{Backend, Db, Exec, Lock, Tx};
pub use error::Error;
pub use sqlite::path_of as sqlite_path;

use crate::config::Settings;

impl Db {
    /// Opens the database named by the settings; a SQLite file's folder is created if missing.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Db> {
        if settings.database.url.is_none() {
            ensure_private_dir(&settings.data_dir)?;
        }
        let acquire_timeout = Duration::from_millis(settings.database.acquire_timeout_ms);
        Db::connect_url(
            &settings.database_url(),
            settings.database.max_connections,
            acquire_timeout,
        )
        .await
    }
}

/// Creates the data folder readable by the owner only (it holds the database and keys); an existing
/// folder keeps the permissions its owner gave it.
pub fn ensure_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating data folder {}", dir.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", dir.display()))?;
    }
    Ok(())
}

/// A fresh UUIDv7, time-ordered so that ids double as a stable sort key.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
