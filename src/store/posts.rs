//! Queries on `posts` and `post_tags`, including the feed with its filters and caption search.

use std::sync::LazyLock;

use rusqlite::types::ValueRef;
use sqlx::postgres::PgRow;
use time::OffsetDateTime;
use uuid::Uuid;

use super::value::{Arg, Column, FromRow, Json, Row};
use super::{Backend, Error, Exec, Tx};
use crate::domain::now;
use crate::media::storage::StoredImage;
use crate::{args, row};

/// Where a post's renditions live, decoded once here.
impl Column for StoredImage {
    fn from_sqlite(value: ValueRef<'_>) -> Result<Self, String> {
        Json::<StoredImage>::from_sqlite(value).map(|j| j.0)
    }
    fn from_pg(row: &PgRow, index: usize) -> Result<Self, String> {
        Json::<StoredImage>::from_pg(row, index).map(|j| j.0)
    }
}

row! {
    /// A post joined with its author, as the API shows it.
    pub struct PostRow {
        id: Uuid = "p.id",
        author_id: Uuid = "p.author_id",
        author_username: String = "u.username AS author_username",
        author_display_name: Option<String> = "u.display_name AS author_display_name",
        caption: String = "p.caption",
        /// Space-separated hashtags.
        tags: String = "p.tags",
        version: i64 = "p.version",
        created_at: OffsetDateTime = "p.created_at",
        updated_at: OffsetDateTime = "p.updated_at",
        image: StoredImage = "p.image",
        width: i64 = "p.width",
        height: i64 = "p.height",
        bytes: i64 = "p.bytes",
        content_type: String = "p.content_type",
        sha256: String = "p.sha256",
        blurhash: String = "p.blurhash",
        /// When the author was disabled, if they were; their posts are then hidden.
        author_disabled_at: Option<OffsetDateTime> = "u.disabled_at AS author_disabled_at",
    }
}

/// `SELECT … FROM posts p JOIN users u`, to which each query adds its conditions.
static SELECT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM posts p JOIN users u ON u.id = p.author_id",
        PostRow::columns()
    )
});
static BY_ID: LazyLock<String> = LazyLock::new(|| format!("{} WHERE p.id = $1", *SELECT));

/// A new post's fields; the image is already stored.
pub struct NewPost<'a> {
    pub id: Uuid,
    pub author_id: Uuid,
    pub caption: &'a str,
    pub tags: &'a [String],
    pub image: &'a StoredImage,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub blurhash: &'a str,
}

/// Inserts the post and its tags.
#[tracing::instrument(skip_all)]
pub async fn insert(tx: &mut Tx, p: NewPost<'_>) -> Result<(), Error> {
    let image = serde_json::to_string(p.image).map_err(|e| Error::Other(e.into()))?;
    tx.execute(
        "INSERT INTO posts (id, author_id, caption, tags, version, created_at, updated_at, image, base_key, width, height, \
         bytes, content_type, sha256, blurhash) VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        args![
            p.id,
            p.author_id,
            p.caption,
            p.tags.join(" "),
            now(),
            image,
            p.image.base_key,
            p.width,
            p.height,
            p.bytes,
            p.content_type,
            p.sha256,
            p.blurhash
        ],
    )
    .await?;
    insert_tags(tx, p.id, p.tags).await
}

async fn insert_tags(tx: &mut Tx, post_id: Uuid, tags: &[String]) -> Result<(), Error> {
    for tag in tags {
        tx.execute(
            "INSERT INTO post_tags (post_id, tag) VALUES ($1, $2)",
            args![post_id, tag],
        )
        .await?;
    }
    Ok(())
}

/// A post by id, whether or not its author is active (callers decide what to show).
#[tracing::instrument(skip_all)]
pub async fn find(mut ex: impl Exec, id: Uuid) -> Result<Option<PostRow>, Error> {
    ex.fetch_optional(BY_ID.as_str(), args![id]).await
}

/// Outcome of a conditional caption update.
#[derive(Debug)]
pub enum Update {
    Updated(Box<PostRow>),
    /// The post's version is not the one the caller expected.
    VersionMismatch,
    NotFound,
}

/// Replaces the caption and tags if the post is still at `expected_version` (when given).
#[tracing::instrument(skip_all)]
pub async fn update_caption(
    tx: &mut Tx,
    id: Uuid,
    caption: &str,
    tags: &[String],
    expected_version: Option<i64>,
) -> Result<Update, Error> {
    let n = tx
        .execute(
            "UPDATE posts SET caption = $2, tags = $3, version = version + 1, updated_at = $4 \
             WHERE id = $1 AND ($5 IS NULL OR version = $5)",
            args![id, caption, tags.join(" "), now(), expected_version],
        )
        .await?;
    if n == 0 {
        let exists: Option<(i64,)> = tx
            .fetch_optional("SELECT version FROM posts WHERE id = $1", args![id])
            .await?;
        return Ok(if exists.is_some() {
            Update::VersionMismatch
        } else {
            Update::NotFound
        });
    }
    tx.execute("DELETE FROM post_tags WHERE post_id = $1", args![id])
        .await?;
    insert_tags(tx, id, tags).await?;
    let row = find(&mut *tx, id)
        .await?
        .ok_or_else(|| Error::Other(anyhow::anyhow!("the post vanished inside the transaction")))?;
    Ok(Update::Updated(Box::new(row)))
}

/// Deletes a post row; true when it existed.
#[tracing::instrument(skip_all)]
pub async fn delete(mut ex: impl Exec, id: Uuid) -> Result<bool, Error> {
    Ok(ex.execute("DELETE FROM posts WHERE id = $1", args![id]).await? == 1)
}

/// Feed filters; all optional.
#[derive(Default)]
pub struct FeedFilter<'a> {
    pub author_username: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// Words that must all appear in the caption (already reduced to letters and digits).
    pub words: Option<&'a [String]>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Only posts older than this id (ids are time-ordered).
    pub before_id: Option<Uuid>,
    pub limit: i64,
}

/// The feed, newest first, keyset-paginated on id; posts of disabled authors are left out.
///
/// Only the filters in use become SQL, so each shape gets its own plan: a catch-all
/// `($1 IS NULL OR …)` statement keeps PostgreSQL from walking the id index backwards.
#[tracing::instrument(skip_all)]
pub async fn feed(mut ex: impl Exec, f: FeedFilter<'_>) -> Result<Vec<PostRow>, Error> {
    let mut clauses = vec!["u.disabled_at IS NULL".to_owned()];
    let mut args: Vec<Arg<'_>> = Vec::new();
    /// Adds a bound argument and names its placeholder.
    fn next<'a>(arg: Arg<'a>, args: &mut Vec<Arg<'a>>) -> String {
        args.push(arg);
        format!("${}", args.len())
    }
    if let Some(author) = f.author_username {
        let n = next(Arg::Text(Some(author)), &mut args);
        clauses.push(format!("u.username = {n}"));
    }
    if let Some(tag) = f.tag {
        let n = next(Arg::Text(Some(tag)), &mut args);
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = {n})"
        ));
    }
    if let Some(since) = f.since {
        let n = next(Arg::Time(Some(since)), &mut args);
        clauses.push(format!("p.created_at >= {n}"));
    }
    if let Some(until) = f.until {
        let n = next(Arg::Time(Some(until)), &mut args);
        clauses.push(format!("p.created_at < {n}"));
    }
    if let Some(before) = f.before_id {
        let n = next(Arg::Id(Some(before)), &mut args);
        clauses.push(format!("p.id < {n}"));
    }
    // The one dialect difference: FTS5 on SQLite, tsvector on PostgreSQL. Both match all words.
    let query = match (ex.backend(), f.words) {
        (_, None) | (_, Some([])) => None,
        (Backend::Sqlite, Some(words)) => Some(words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ")),
        (Backend::Postgres, Some(words)) => Some(words.join(" & ")),
    };
    if let Some(query) = &query {
        let n = next(Arg::Text(Some(query)), &mut args);
        clauses.push(match ex.backend() {
            // The unary `+` keeps SQLite from fetching every match by rowid and sorting them all by
            // id before the LIMIT (8 ms for a word in a quarter of 10 000 posts); instead it walks
            // posts newest first and tests each against the match list, stopping at the page size
            // (0.4 ms). A rare word walks further, at worst the whole id index.
            Backend::Sqlite => format!("+p.seq IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH {n})"),
            Backend::Postgres => format!("p.search @@ to_tsquery('simple', {n})"),
        });
    }
    // The page size is written into the SQL rather than bound: SQLite's planner looks at a bound
    // LIMIT, so every new binding expired the cached statement and it was parsed and planned again on
    // each page (a quarter of the feed's time in SQLite). It is an integer, so splicing it is safe;
    // the few page sizes in use each get their cached statement.
    let sql = format!(
        "{} WHERE {} ORDER BY p.id DESC LIMIT {}",
        *SELECT,
        clauses.join(" AND "),
        f.limit
    );
    ex.fetch_all(&sql, &args).await
}

/// What an author has posted recently, for quotas.
#[derive(Debug)]
pub struct Usage {
    pub posts_since_hour: i64,
    pub oldest_since_hour: Option<OffsetDateTime>,
    pub bytes_since_day: i64,
    pub oldest_since_day: Option<OffsetDateTime>,
}

/// Posts since `hour` and upload bytes since `day` by one author, with the oldest post in each window,
/// in one query.
#[tracing::instrument(skip_all)]
pub async fn usage(
    mut ex: impl Exec,
    author_id: Uuid,
    hour: OffsetDateTime,
    day: OffsetDateTime,
) -> Result<Usage, Error> {
    let (posts_since_hour, oldest_since_hour, bytes_since_day, oldest_since_day) = ex
        .fetch_one(
            "SELECT COUNT(CASE WHEN created_at > $2 THEN 1 END), MIN(CASE WHEN created_at > $2 THEN created_at END), \
             CAST(COALESCE(SUM(bytes), 0) AS BIGINT), MIN(created_at) FROM posts WHERE author_id = $1 AND created_at > $3",
            args![author_id, hour, day],
        )
        .await?;
    Ok(Usage {
        posts_since_hour,
        oldest_since_hour,
        bytes_since_day,
        oldest_since_day,
    })
}

/// A post's storage record for reconciliation, which reports a record it cannot read and never
/// acts on it.
#[derive(Debug)]
pub struct ImageRecord {
    pub id: Uuid,
    pub base_key: String,
    /// The decoded record, or why it does not decode.
    pub image: Result<StoredImage, String>,
}

impl FromRow for ImageRecord {
    fn from_row(row: &Row<'_>) -> Result<Self, Error> {
        let image = match row.get::<StoredImage>(2, "image") {
            Ok(image) => Ok(image),
            Err(Error::Decode { detail, .. }) => Err(detail),
            Err(e) => return Err(e),
        };
        Ok(ImageRecord {
            id: row.get(0, "id")?,
            base_key: row.get(1, "base_key")?,
            image,
        })
    }
}

/// Every post's storage record, for reconciliation.
#[tracing::instrument(skip_all)]
pub async fn all_images(mut ex: impl Exec) -> Result<Vec<ImageRecord>, Error> {
    ex.fetch_all("SELECT id, base_key, image FROM posts ORDER BY id", &[])
        .await
}

/// The storage records of every post by one author (account deletion removes their media).
#[tracing::instrument(skip_all)]
pub async fn images_of_author(mut ex: impl Exec, author_id: Uuid) -> Result<Vec<ImageRecord>, Error> {
    ex.fetch_all(
        "SELECT id, base_key, image FROM posts WHERE author_id = $1",
        args![author_id],
    )
    .await
}

/// Every post of one author, newest first (account export).
#[tracing::instrument(skip_all)]
pub async fn by_author(mut ex: impl Exec, author_id: Uuid) -> Result<Vec<PostRow>, Error> {
    let sql = format!("{} WHERE p.author_id = $1 ORDER BY p.id DESC", *SELECT);
    ex.fetch_all(&sql, args![author_id]).await
}
