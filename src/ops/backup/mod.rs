//! `rampart backup`: a consistent copy of a running Rampart, and the scheduled backups `serve` takes.
//!
//! The database is copied first and the media second. Uploads store their objects before their row
//! ("objects first, row second"), so every post in the database snapshot already has its objects on
//! disk when the media copy starts; objects written later are harmless orphans in the backup, which
//! `rampart media reconcile` removes. S3 and ImageKit objects stay with the provider.

pub mod manifest;
pub mod pg_tools;
pub mod restore;
pub mod schedule;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config::{Settings, StorageDriver};
use crate::store::{self, Backend, Db};
use manifest::{Manifest, MediaNote};

/// The SQLite snapshot's file name in a backup.
pub const SQLITE_FILE: &str = "rampart.db";
/// The PostgreSQL dump's file name in a backup (`pg_dump --format=custom`).
pub const PG_FILE: &str = "rampart.pgdump";
/// The folder holding the local driver's media in a backup.
pub const MEDIA_DIR: &str = "media";

/// Takes a backup of the database and media `settings` name into `out`, which must be missing or
/// empty. Safe while Rampart serves: neither step stops writers for more than a moment.
pub async fn take(settings: &Settings, out: &Path) -> anyhow::Result<Manifest> {
    prepare_out(out)?;
    let started_at = crate::domain::now();
    let url = settings.database_url();
    let (engine, migration_version) = if url.starts_with("sqlite:") {
        let source = crate::store::sqlite_path(&url)?.context("an in-memory database cannot be backed up")?;
        let target = out.join(SQLITE_FILE);
        let version = tokio::task::spawn_blocking(move || store::snapshot::sqlite_copy(&source, &target))
            .await
            .context("SQLite snapshot task")??;
        (Backend::Sqlite, version)
    } else {
        (
            Backend::Postgres,
            dump_postgres(settings, &url, &out.join(PG_FILE)).await?,
        )
    };
    let media = match &settings.storage.driver {
        StorageDriver::Local(_) => {
            let (from, to) = (settings.media_dir(), out.join(MEDIA_DIR));
            tokio::task::spawn_blocking(move || copy_tree(&from, &to))
                .await
                .context("media copy task")??;
            MediaNote {
                driver: "local".into(),
                included: true,
                note: "media/ holds the local driver's files, copied after the database snapshot".into(),
            }
        }
        _ => MediaNote {
            driver: settings.storage.driver_name().into(),
            included: false,
            note: "the objects stay with the storage provider and are not in this backup: protect them with \
                   the provider's own versioning or replication"
                .into(),
        },
    };
    let manifest = Manifest {
        format: manifest::FORMAT,
        rampart_version: env!("CARGO_PKG_VERSION").into(),
        engine: engine_name(engine).into(),
        migration_version,
        started_at: crate::domain::rfc3339(started_at),
        media,
        files: Vec::new(),
    };
    let out = out.to_path_buf();
    tokio::task::spawn_blocking(move || manifest.seal(&out))
        .await
        .context("manifest task")?
}

/// The engine's name as the manifest spells it.
pub fn engine_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

/// Creates `out` (owner-only: it will hold every account's data) or checks that it is empty.
fn prepare_out(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        let mut entries = std::fs::read_dir(out).with_context(|| format!("reading {}", out.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: back up into a new or empty folder",
            out.display()
        );
        return Ok(());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restricting {}", out.display()))?;
    }
    Ok(())
}

/// `pg_dump --format=custom --no-owner` of the configured database. Returns its latest migration,
/// read just before the dump.
async fn dump_postgres(settings: &Settings, url: &str, target: &Path) -> anyhow::Result<i64> {
    let db = Db::connect_url(url, 1, Duration::from_millis(settings.database.acquire_timeout_ms)).await?;
    let version = store::snapshot::applied_migration(&db).await;
    db.close().await;
    let version = version?.context("the database has no migrations applied")?;
    let pg_dump = pg_tools::find("pg_dump", settings.backup.pg_dump.as_deref())?;
    let file = format!("--file={}", target.display());
    let args: [&std::ffi::OsStr; 3] = ["--format=custom".as_ref(), "--no-owner".as_ref(), file.as_ref()];
    pg_tools::run(&pg_dump, &args, url).await?;
    Ok(version)
}

/// Copies every file under `from` to `to`, flushed to disk. Temporary files (names starting with a
/// dot: uploads being written) are left out, and so is a file that disappears meanwhile (a post
/// deleted after the snapshot; `rampart media reconcile` removes its row after a restore).
pub fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<u64> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    if !from.exists() {
        return Ok(0);
    }
    let mut copied = 0;
    let mut pending: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        let entries = match std::fs::read_dir(from.join(&rel)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("listing {}", from.join(&rel).display())),
        };
        for entry in entries {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                std::fs::create_dir_all(to.join(&rel))?;
                pending.push(rel);
            } else if kind.is_file() {
                match std::fs::copy(entry.path(), to.join(&rel)) {
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e).with_context(|| format!("copying {}", entry.path().display())),
                }
                std::fs::File::open(to.join(&rel))?.sync_all()?;
                copied += 1;
            }
        }
    }
    Ok(copied)
}
