//! Backups `serve` takes every `backup.every_secs` into `backup.dir`, keeping the newest `backup.keep`.
//!
//! Each backup is written to a `.partial-…` folder and renamed when complete, so the folder only ever
//! lists whole backups. Instances sharing a PostgreSQL database take an advisory lock for the run, so
//! at most one dumps at a time; an instance that finds it taken skips its turn.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config::Settings;
use crate::state::AppState;
use crate::store::{Backend, Db, Lock};

/// Scheduled backups are folders named this, then the UTC time they began.
pub const PREFIX: &str = "rampart-";
const PARTIAL: &str = ".partial-";

/// Takes a backup every interval, the first one interval after start, until the task is aborted.
/// A failed run is logged and the next one tried at its time.
pub async fn run(state: AppState) {
    let every = Duration::from_secs(state.settings().backup.every_secs);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match run_once(state.settings(), state.db()).await {
            Ok(Some(dir)) => tracing::info!(dir = %dir.display(), "scheduled backup taken"),
            Ok(None) => tracing::debug!("another instance is taking the scheduled backup"),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "scheduled backup failed"),
        }
    }
}

/// One scheduled backup and the pruning after it; `None` when another instance holds the lock.
pub async fn run_once(settings: &Settings, db: &Db) -> anyhow::Result<Option<PathBuf>> {
    let root = settings.backup.dir.as_deref().context("backup.dir is not set")?;
    // Held until the end of this function; SQLite has a single instance and needs no lock.
    let mut lock = None;
    if db.backend() == Backend::Postgres {
        let mut tx = db.begin().await?;
        if !tx.try_serialise(Lock::ScheduledBackup).await? {
            return Ok(None);
        }
        lock = Some(tx);
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let stamp = stamp(crate::domain::now());
    let partial = root.join(format!("{PARTIAL}{stamp}"));
    let done = root.join(format!("{PREFIX}{stamp}"));
    if let Err(e) = super::take(settings, &partial).await {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(e);
    }
    // Pruning to one fewer before the new backup appears keeps the folder at `keep` at every moment.
    prune(root, settings.backup.keep.saturating_sub(1), &partial)?;
    std::fs::rename(&partial, &done).with_context(|| format!("naming {}", done.display()))?;
    drop(lock);
    Ok(Some(done))
}

/// `20261205T233000.123Z`: sorts by time as text, and is a valid file name everywhere.
fn stamp(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

/// Deletes the oldest finished backups beyond `keep`, and unfinished ones other than `current` (left by
/// a crash mid-backup).
pub fn prune(root: &Path, keep: usize, current: &Path) -> anyhow::Result<()> {
    let mut finished = Vec::new();
    for entry in std::fs::read_dir(root).with_context(|| format!("listing {}", root.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(PARTIAL) && entry.path() != current {
            std::fs::remove_dir_all(entry.path()).with_context(|| format!("removing {name}"))?;
        } else if name.starts_with(PREFIX) && entry.file_type()?.is_dir() {
            finished.push(entry.path());
        }
    }
    finished.sort();
    let excess = finished.len().saturating_sub(keep);
    for old in &finished[..excess] {
        std::fs::remove_dir_all(old).with_context(|| format!("removing {}", old.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_sort_by_time() {
        let a = time::OffsetDateTime::from_unix_timestamp_nanos(1_796_464_799_999_000_000).unwrap();
        let b = a + time::Duration::milliseconds(2);
        let (sa, sb) = (stamp(a), stamp(b));
        assert_eq!(sa, "20261205T095959.999Z");
        assert!(sb.starts_with("20261205T100000.001"), "{sb}");
        assert!(sa < sb);
    }
}
