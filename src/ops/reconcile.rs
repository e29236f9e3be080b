//! `rampart media reconcile`: matches storage against the posts table. Objects no post owns are
//! removed; posts whose objects are gone are reported and, since they can never be shown again,
//! deleted. Recent objects are left alone: an upload in progress stores its objects before its row.

use std::collections::HashSet;
use std::time::Duration;

use crate::domain::{now, unix_ms};
use crate::media::storage::MediaStore;
use crate::store::{self, Db};

/// What reconciliation found and did.
#[derive(Debug, Default)]
pub struct Report {
    /// Base keys in storage that no post owns (old enough to judge).
    pub orphans: Vec<String>,
    /// Posts whose renditions are missing from storage.
    pub missing: Vec<uuid::Uuid>,
    /// Posts whose storage record does not decode; reported, never changed.
    pub unreadable: Vec<uuid::Uuid>,
    /// Base keys too recent to judge.
    pub recent: usize,
    /// Posts whose images another storage driver holds; they are not judged against this one.
    pub other_driver: usize,
    /// Whether anything was changed.
    pub repaired: bool,
}

/// When a base key (`p/<uuidv7>`) was made, in Unix milliseconds.
fn key_time_ms(base_key: &str) -> Option<i64> {
    let id = uuid::Uuid::parse_str(base_key.strip_prefix("p/")?).ok()?;
    let (secs, nanos) = id.get_timestamp()?.to_unix();
    Some(secs as i64 * 1000 + i64::from(nanos / 1_000_000))
}

/// Compares storage with the database; repairs unless `dry_run`.
pub async fn reconcile(db: &Db, media: &dyn MediaStore, dry_run: bool, min_age: Duration) -> anyhow::Result<Report> {
    let posts = store::posts::all_images(db).await?;
    let owned: HashSet<&str> = posts.iter().map(|p| p.base_key.as_str()).collect();
    let mut report = Report {
        repaired: !dry_run,
        ..Report::default()
    };
    let cutoff = unix_ms(now()) - min_age.as_millis() as i64;

    for key in media.list_base_keys().await? {
        if owned.contains(key.as_str()) {
            continue;
        }
        match key_time_ms(&key) {
            Some(t) if t > cutoff => report.recent += 1,
            _ => report.orphans.push(key),
        }
    }
    for post in &posts {
        let image = match &post.image {
            Ok(image) => image,
            // A record this code cannot read says nothing about storage: report it, never delete.
            Err(e) => {
                tracing::error!(post_id = %post.id, error = %e, "unreadable image record; left as it is");
                report.unreadable.push(post.id);
                continue;
            }
        };
        // A post stored by another driver cannot be judged by this one: never call it missing.
        if image.driver != media.name() {
            report.other_driver += 1;
            continue;
        }
        // Only a definite "not there" counts; a storage error leaves the post alone.
        if !media.exists(image).await? {
            report.missing.push(post.id);
        }
    }
    if !dry_run {
        for key in &report.orphans {
            media.remove_base_key(key).await?;
        }
        for id in &report.missing {
            store::posts::delete(db, *id).await?;
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::key_time_ms;

    #[test]
    fn base_keys_carry_their_creation_time() {
        let key = crate::media::storage::new_base_key();
        let t = key_time_ms(&key).unwrap();
        assert!((crate::domain::unix_ms(crate::domain::now()) - t).abs() < 5_000);
        assert_eq!(key_time_ms("p/not-a-uuid"), None);
    }
}
