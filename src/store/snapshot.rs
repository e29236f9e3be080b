//! Whole-database questions the backup tools, `rampart migrate-data` and `rampart doctor` ask: a consistent copy of an SQLite
//! file, the latest migration a file or a live database holds, and whether a PostgreSQL schema is
//! empty. They never read or change the application's rows.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::{Db, Exec};

/// `VACUUM INTO` from a connection of its own: it reads one transaction's snapshot (WAL lets the
/// server keep writing meanwhile) and writes a compact, self-contained file. Returns the snapshot's
/// latest migration.
pub fn sqlite_copy(source: &Path, target: &Path) -> anyhow::Result<i64> {
    use rusqlite::{Connection, OpenFlags};
    anyhow::ensure!(source.is_file(), "there is no database at {}", source.display());
    let conn = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE)
        .with_context(|| format!("opening {}", source.display()))?;
    conn.busy_timeout(Duration::from_secs(10))?;
    let target_text = target.to_str().context("the backup folder's path is not UTF-8")?;
    conn.execute("VACUUM INTO ?1", [target_text])
        .with_context(|| format!("copying {} with VACUUM INTO", source.display()))?;
    drop(conn);
    std::fs::File::open(target)?.sync_all()?;
    sqlite_migration(target)
}

/// The latest migration applied to the SQLite file at `path`, read without changing it.
pub fn sqlite_migration(path: &Path) -> anyhow::Result<i64> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", path.display()))?;
    let version: Option<i64> = conn
        .query_row("SELECT MAX(version) FROM _sqlx_migrations WHERE success", [], |r| {
            r.get(0)
        })
        .with_context(|| {
            format!(
                "reading the migrations of {} (is it a Rampart database?)",
                path.display()
            )
        })?;
    version.with_context(|| format!("{} has no migrations applied", path.display()))
}

/// How many tables the connection's current schema has (0 for a database nothing was restored into).
pub async fn postgres_table_count(db: &Db) -> Result<i64, super::Error> {
    let mut ex = db;
    let (tables,): (i64,) = ex
        .fetch_one(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            &[],
        )
        .await?;
    Ok(tables)
}

/// The latest migration applied to a live database, `None` when none is (a new, empty database).
/// Read-only; `rampart doctor` compares it with the binary's own.
pub async fn applied_migration(db: &Db) -> Result<Option<i64>, super::Error> {
    let mut ex = db;
    let present: Option<(i64,)> = match db.backend() {
        super::Backend::Sqlite => {
            ex.fetch_optional(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                &[],
            )
            .await?
        }
        super::Backend::Postgres => {
            ex.fetch_optional(
                "SELECT CAST(1 AS BIGINT) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = '_sqlx_migrations'",
                &[],
            )
            .await?
        }
    };
    if present.is_none() {
        return Ok(None);
    }
    let (version,): (Option<i64>,) = ex
        .fetch_one("SELECT MAX(version) FROM _sqlx_migrations WHERE success", &[])
        .await?;
    Ok(version)
}
