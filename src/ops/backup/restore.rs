//! `rampart restore`: checks a backup completely, then writes it into an empty data folder (and, for
//! PostgreSQL, an empty database).
//!
//! A backup from an older Rampart is accepted: `serve` applies the newer migrations at its next start,
//! exactly as after an upgrade. A backup from a newer Rampart is refused, since this binary cannot
//! know its schema.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;

use super::manifest::Manifest;
use super::{MEDIA_DIR, PG_FILE, SQLITE_FILE, copy_tree, engine_name, pg_tools};
use crate::config::{Settings, StorageDriver};
use crate::store::{self, Backend, Db};

/// What a restore wrote.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Media files copied (local driver).
    pub media_files: u64,
    /// Migrations `serve` will apply at its next start, for a backup from an older Rampart.
    pub pending_migrations: bool,
}

/// Verifies the backup in `from`, then restores it to the database and media folder of `settings`.
pub async fn restore(settings: &Settings, from: &Path) -> anyhow::Result<Restored> {
    let manifest = {
        let from = from.to_path_buf();
        tokio::task::spawn_blocking(move || -> anyhow::Result<Manifest> {
            let manifest = Manifest::read(&from)?;
            manifest.verify(&from)?;
            Ok(manifest)
        })
        .await
        .context("verification task")??
    };
    let url = settings.database_url();
    let backend = if url.starts_with("sqlite:") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    anyhow::ensure!(
        manifest.engine == engine_name(backend),
        "the backup holds a {} database but the configured database is {}: restore it with the matching \
         database.url, then move it with `rampart migrate-data`",
        manifest.engine,
        engine_name(backend)
    );
    let latest = Db::latest_migration(backend);
    anyhow::ensure!(
        manifest.migration_version <= latest,
        "the backup is at migration {} but this rampart knows migrations up to {latest}: upgrade Rampart first",
        manifest.migration_version
    );

    let media_to = settings.media_dir();
    if manifest.media.included {
        anyhow::ensure!(
            matches!(settings.storage.driver, StorageDriver::Local(_)),
            "the backup holds local media but storage.driver is {}",
            settings.storage.driver_name()
        );
        anyhow::ensure!(
            is_empty_dir(&media_to)?,
            "{} is not empty: restore only into an empty data folder",
            media_to.display()
        );
    }
    match backend {
        Backend::Sqlite => {
            let file = from.join(SQLITE_FILE);
            anyhow::ensure!(manifest.holds(SQLITE_FILE), "the backup has no {SQLITE_FILE}");
            let in_file = store::snapshot::sqlite_migration(&file)?;
            anyhow::ensure!(
                in_file == manifest.migration_version,
                "the manifest says migration {} but {SQLITE_FILE} is at {in_file}",
                manifest.migration_version
            );
            let target = crate::store::sqlite_path(&url)?.context("an in-memory database cannot be restored")?;
            for suffix in ["", "-wal", "-shm"] {
                let path = format!("{}{suffix}", target.display());
                anyhow::ensure!(
                    !Path::new(&path).exists(),
                    "{path} exists: restore only into an empty data folder"
                );
            }
        }
        Backend::Postgres => {
            anyhow::ensure!(manifest.holds(PG_FILE), "the backup has no {PG_FILE}");
            ensure_empty_postgres(settings, &url).await?;
        }
    }

    // Media first and the database last: a data folder with a database is a finished restore.
    let media_files = if manifest.media.included {
        let from = from.join(MEDIA_DIR);
        let to = media_to.clone();
        tokio::task::spawn_blocking(move || copy_tree(&from, &to))
            .await
            .context("media copy task")??
    } else {
        0
    };
    match backend {
        Backend::Sqlite => {
            if settings.database.url.is_none() {
                crate::store::ensure_private_dir(&settings.data_dir)?;
            }
            let target = crate::store::sqlite_path(&url)?.context("an in-memory database cannot be restored")?;
            let source = from.join(SQLITE_FILE);
            tokio::task::spawn_blocking(move || place_file(&source, &target))
                .await
                .context("database copy task")??;
        }
        Backend::Postgres => {
            let pg_restore = pg_tools::find("pg_restore", settings.backup.pg_dump.as_deref())?;
            let file = from.join(PG_FILE);
            let args: [&std::ffi::OsStr; 4] = [
                "--no-owner".as_ref(),
                "--exit-on-error".as_ref(),
                "--single-transaction".as_ref(),
                file.as_os_str(),
            ];
            pg_tools::run(&pg_restore, &args, &url).await?;
        }
    }
    Ok(Restored {
        pending_migrations: manifest.migration_version < latest,
        manifest,
        media_files,
    })
}

fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("reading {}", dir.display())),
    }
}

/// Copies to a temporary name beside `target`, flushes, then renames: a crash never leaves a
/// half-written database under the real name.
fn place_file(source: &Path, target: &Path) -> anyhow::Result<()> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let tmp = target.with_extension("restoring");
    std::fs::copy(source, &tmp).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, target).with_context(|| format!("moving {} into place", tmp.display()))?;
    if let Some(dir) = target.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Refuses a PostgreSQL database that already has tables in its schema.
async fn ensure_empty_postgres(settings: &Settings, url: &str) -> anyhow::Result<()> {
    let db = Db::connect_url(url, 1, Duration::from_millis(settings.database.acquire_timeout_ms)).await?;
    let counted = store::snapshot::postgres_table_count(&db).await;
    db.close().await;
    let tables = counted.context("looking for tables in the target database")?;
    anyhow::ensure!(
        tables == 0,
        "the configured database already has {tables} tables: restore only into an empty database"
    );
    Ok(())
}
