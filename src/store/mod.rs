//! The store: named query functions per aggregate over one pool that speaks SQLite or PostgreSQL.
//!
//! Queries use portable SQL with `$n` placeholders, TEXT ids and BIGINT millisecond instants, so one
//! function serves both engines; where the dialects differ the difference is kept here.

pub mod audit;
pub mod email_tokens;
pub mod idempotency;
pub mod outbox;
pub mod posts;
pub mod reader;
pub mod sessions;
pub mod transfer;
pub mod users;

use std::time::Duration;

use anyhow::Context;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::config::Settings;

/// Which engine the pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database handle: the pool and the engine behind it.
#[derive(Clone, Debug)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    /// The in-place read path for hot queries on a SQLite file (see `reader`).
    pub reader: Option<std::sync::Arc<reader::Reader>>,
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Opens the pool named by the settings; a SQLite file's folder is created if missing.
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

    /// Opens a pool on `url` (`sqlite:…` or `postgres:…`), for tools that work on a database other
    /// than the configured one.
    pub async fn connect_url(url: &str, max_connections: u32, acquire_timeout: Duration) -> anyhow::Result<Db> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            anyhow::bail!("the database URL must start with sqlite: or postgres:");
        };
        let mut options = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(acquire_timeout);
        if backend == Backend::Sqlite {
            options = options.after_connect(|conn, _meta| {
                Box::pin(async move {
                    // WAL lets readers proceed during a write; the busy timeout makes concurrent
                    // writers queue instead of failing; foreign keys are off by default in SQLite.
                    conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = options.connect(url).await.context("connecting to the database")?;
        let reader = match backend {
            Backend::Sqlite => reader::Reader::for_url(url).map(std::sync::Arc::new),
            Backend::Postgres => None,
        };
        Ok(Db { pool, backend, reader })
    }

    /// Applies pending migrations for this engine.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.context("applying migrations")?;
        Ok(())
    }

    /// Begins a transaction that takes the write lock up front on SQLite, so a transaction that reads
    /// and then writes cannot fail with a lock upgrade error under concurrency.
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
    }

    /// Whether the database answers, for readiness checks.
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
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

/// Which unique constraint a write ran into, if any.
pub fn unique_violation(err: &sqlx::Error) -> Option<String> {
    let sqlx::Error::Database(db) = err else {
        return None;
    };
    if db.kind() != sqlx::error::ErrorKind::UniqueViolation {
        return None;
    }
    // PostgreSQL names the constraint; SQLite names the column in its message.
    Some(
        db.constraint()
            .map(str::to_owned)
            .unwrap_or_else(|| db.message().to_owned()),
    )
}

/// A fresh UUIDv7, time-ordered so that ids double as a stable sort key.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
