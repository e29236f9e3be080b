//! Queries on `posts` and `post_tags`, including the feed with its filters and caption search.

use sqlx::FromRow;

use super::{Backend, Db, reader};
use crate::domain::now_ms;

/// A post joined with its author, as the API shows it.
#[derive(Debug, Clone, FromRow)]
pub struct PostRow {
    pub id: String,
    pub author_id: String,
    pub author_username: String,
    pub author_display_name: Option<String>,
    pub caption: String,
    pub tags: String,
    pub version: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub image: String,
    pub base_key: String,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub content_type: String,
    pub sha256: String,
    pub blurhash: String,
    /// When the author was disabled, if they were; their posts are then hidden.
    pub author_disabled_at: Option<i64>,
}

impl PostRow {
    /// A row of `SELECT` read through the SQLite reader.
    fn from_sqlite(r: &rusqlite::Row<'_>) -> rusqlite::Result<PostRow> {
        Ok(PostRow {
            id: reader::column(r, 0, "id")?,
            author_id: reader::column(r, 1, "author_id")?,
            author_username: reader::column(r, 2, "author_username")?,
            author_display_name: reader::column(r, 3, "author_display_name")?,
            caption: reader::column(r, 4, "caption")?,
            tags: reader::column(r, 5, "tags")?,
            version: reader::column(r, 6, "version")?,
            created_at: reader::column(r, 7, "created_at")?,
            updated_at: reader::column(r, 8, "updated_at")?,
            image: reader::column(r, 9, "image")?,
            base_key: reader::column(r, 10, "base_key")?,
            width: reader::column(r, 11, "width")?,
            height: reader::column(r, 12, "height")?,
            bytes: reader::column(r, 13, "bytes")?,
            content_type: reader::column(r, 14, "content_type")?,
            sha256: reader::column(r, 15, "sha256")?,
            blurhash: reader::column(r, 16, "blurhash")?,
            author_disabled_at: reader::column(r, 17, "author_disabled_at")?,
        })
    }

    pub fn tag_list(&self) -> Vec<String> {
        self.tags.split_whitespace().map(str::to_owned).collect()
    }
}

const SELECT: &str = "SELECT p.id, p.author_id, u.username AS author_username, u.display_name AS author_display_name, \
     p.caption, p.tags, p.version, p.created_at, p.updated_at, p.image, p.base_key, p.width, p.height, p.bytes, \
     p.content_type, p.sha256, p.blurhash, u.disabled_at AS author_disabled_at FROM posts p JOIN users u ON u.id = p.author_id";

/// A new post's fields; the image is already stored.
pub struct NewPost<'a> {
    pub id: &'a str,
    pub author_id: &'a str,
    pub caption: &'a str,
    pub tags: &'a [String],
    pub image_json: &'a str,
    pub base_key: &'a str,
    pub width: i64,
    pub height: i64,
    pub bytes: i64,
    pub content_type: &'a str,
    pub sha256: &'a str,
    pub blurhash: &'a str,
}

/// Inserts the post and its tags in one transaction.
#[tracing::instrument(skip_all)]
pub async fn insert(db: &Db, p: NewPost<'_>) -> Result<(), sqlx::Error> {
    let now = now_ms();
    let mut tx = db.begin_write().await?;
    sqlx::query(
        "INSERT INTO posts (id, author_id, caption, tags, version, created_at, updated_at, image, base_key, width, height, \
         bytes, content_type, sha256, blurhash) VALUES ($1, $2, $3, $4, 1, $5, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(p.id)
    .bind(p.author_id)
    .bind(p.caption)
    .bind(p.tags.join(" "))
    .bind(now)
    .bind(p.image_json)
    .bind(p.base_key)
    .bind(p.width)
    .bind(p.height)
    .bind(p.bytes)
    .bind(p.content_type)
    .bind(p.sha256)
    .bind(p.blurhash)
    .execute(&mut *tx)
    .await?;
    insert_tags(&mut tx, p.id, p.tags).await?;
    tx.commit().await
}

async fn insert_tags(conn: &mut sqlx::AnyConnection, post_id: &str, tags: &[String]) -> Result<(), sqlx::Error> {
    for tag in tags {
        sqlx::query("INSERT INTO post_tags (post_id, tag) VALUES ($1, $2)")
            .bind(post_id)
            .bind(tag)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A post by id, whether or not its author is active (callers decide what to show).
#[tracing::instrument(skip_all)]
pub async fn find(db: &Db, id: &str) -> Result<Option<(PostRow, bool)>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE p.id = $1");
    let row = match &db.reader {
        Some(reader) => reader.query_opt(&sql, &[&id], PostRow::from_sqlite)?,
        None => {
            sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(sql))
                .bind(id)
                .fetch_optional(&db.pool)
                .await?
        }
    };
    // One query: the author's state comes with the post.
    Ok(row.map(|row| {
        let active = row.author_disabled_at.is_none();
        (row, active)
    }))
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
    db: &Db,
    id: &str,
    caption: &str,
    tags: &[String],
    expected_version: Option<i64>,
) -> Result<Update, sqlx::Error> {
    let mut tx = db.begin_write().await?;
    let n = sqlx::query(
        "UPDATE posts SET caption = $2, tags = $3, version = version + 1, updated_at = $4 \
         WHERE id = $1 AND (CAST($5 AS BIGINT) IS NULL OR version = $5)",
    )
    .bind(id)
    .bind(caption)
    .bind(tags.join(" "))
    .bind(now_ms())
    .bind(expected_version)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if n == 0 {
        let exists: Option<i64> = sqlx::query_scalar("SELECT version FROM posts WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        return Ok(if exists.is_some() {
            Update::VersionMismatch
        } else {
            Update::NotFound
        });
    }
    sqlx::query("DELETE FROM post_tags WHERE post_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    insert_tags(&mut tx, id, tags).await?;
    let sql = format!("{SELECT} WHERE p.id = $1");
    let row = sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Update::Updated(Box::new(row)))
}

/// Deletes a post row; true when it existed.
#[tracing::instrument(skip_all)]
pub async fn delete(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM posts WHERE id = $1")
        .bind(id)
        .execute(&db.pool)
        .await?
        .rows_affected()
        == 1)
}

/// Feed filters; all optional.
#[derive(Default)]
pub struct FeedFilter<'a> {
    pub author_username: Option<&'a str>,
    pub tag: Option<&'a str>,
    /// Words that must all appear in the caption (already reduced to letters and digits).
    pub words: Option<&'a [String]>,
    pub since_ms: Option<i64>,
    pub until_ms: Option<i64>,
    /// Only posts older than this id (ids are time-ordered).
    pub before_id: Option<&'a str>,
    pub limit: i64,
}

/// The feed, newest first, keyset-paginated on id; posts of disabled authors are left out.
///
/// Only the filters in use become SQL, so each shape gets its own plan: a catch-all
/// `($1 IS NULL OR …)` statement keeps PostgreSQL from walking the id index backwards.
#[tracing::instrument(skip_all)]
pub async fn feed(db: &Db, f: FeedFilter<'_>) -> Result<Vec<PostRow>, sqlx::Error> {
    enum Arg<'a> {
        Text(&'a str),
        Owned(String),
        Int(i64),
    }
    let mut clauses = vec!["u.disabled_at IS NULL".to_owned()];
    let mut args: Vec<Arg<'_>> = Vec::new();
    /// Adds a bound argument and names its placeholder.
    fn next<'a>(arg: Arg<'a>, args: &mut Vec<Arg<'a>>) -> String {
        args.push(arg);
        format!("${}", args.len())
    }
    if let Some(author) = f.author_username {
        let n = next(Arg::Text(author), &mut args);
        clauses.push(format!("u.username = {n}"));
    }
    if let Some(tag) = f.tag {
        let n = next(Arg::Text(tag), &mut args);
        clauses.push(format!(
            "EXISTS (SELECT 1 FROM post_tags t WHERE t.post_id = p.id AND t.tag = {n})"
        ));
    }
    if let Some(since) = f.since_ms {
        let n = next(Arg::Int(since), &mut args);
        clauses.push(format!("p.created_at >= {n}"));
    }
    if let Some(until) = f.until_ms {
        let n = next(Arg::Int(until), &mut args);
        clauses.push(format!("p.created_at < {n}"));
    }
    if let Some(before) = f.before_id {
        let n = next(Arg::Text(before), &mut args);
        clauses.push(format!("p.id < {n}"));
    }
    // The one dialect difference: FTS5 on SQLite, tsvector on PostgreSQL. Both match all words.
    match (db.backend, f.words) {
        (_, None) | (_, Some([])) => {}
        (Backend::Sqlite, Some(words)) => {
            let query = words.iter().map(|w| format!("\"{w}\"")).collect::<Vec<_>>().join(" ");
            let n = next(Arg::Owned(query), &mut args);
            // The unary `+` keeps SQLite from fetching every match by rowid and sorting them all by
            // id before the LIMIT (8 ms for a word in a quarter of 10 000 posts); instead it walks
            // posts newest first and tests each against the match list, stopping at the page size
            // (0.4 ms). A rare word walks further, at worst the whole id index.
            clauses.push(format!(
                "+p.seq IN (SELECT rowid FROM posts_fts WHERE posts_fts MATCH {n})"
            ));
        }
        (Backend::Postgres, Some(words)) => {
            let n = next(Arg::Owned(words.join(" & ")), &mut args);
            clauses.push(format!("p.search @@ to_tsquery('simple', {n})"));
        }
    }
    // The page size is written into the SQL rather than bound: SQLite's planner looks at a bound
    // LIMIT, so every new binding expired the cached statement and it was parsed and planned again on
    // each page (a quarter of the feed's time in SQLite). It is an integer, so splicing it is safe;
    // the few page sizes in use each get their cached statement.
    let sql = format!(
        "{SELECT} WHERE {} ORDER BY p.id DESC LIMIT {}",
        clauses.join(" AND "),
        f.limit
    );
    if let Some(reader) = &db.reader {
        let values: Vec<&dyn rusqlite::ToSql> = args
            .iter()
            .map(|a| match a {
                Arg::Text(t) => t as &dyn rusqlite::ToSql,
                Arg::Owned(t) => t,
                Arg::Int(i) => i,
            })
            .collect();
        return reader.query_all(&sql, &values, PostRow::from_sqlite);
    }
    let mut q = sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(sql));
    for arg in args {
        q = match arg {
            Arg::Text(t) => q.bind(t),
            Arg::Owned(t) => q.bind(t),
            Arg::Int(i) => q.bind(i),
        };
    }
    q.fetch_all(&db.pool).await
}

/// Posts and upload bytes of a user since `since_ms`, and the oldest such post's time, for quotas.
#[tracing::instrument(skip_all)]
pub async fn usage_since(db: &Db, author_id: &str, since_ms: i64) -> Result<(i64, i64, Option<i64>), sqlx::Error> {
    sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(bytes), 0) AS BIGINT), MIN(created_at) FROM posts WHERE author_id = $1 AND created_at > $2",
    )
    .bind(author_id)
    .bind(since_ms)
    .fetch_one(&db.pool)
    .await
}

/// Every post's id, base key and image JSON, for reconciliation.
#[tracing::instrument(skip_all)]
pub async fn all_images(db: &Db) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, base_key, image FROM posts ORDER BY id")
        .fetch_all(&db.pool)
        .await
}

/// The stored image JSON of every post by one author (account deletion removes their media).
#[tracing::instrument(skip_all)]
pub async fn images_of_author(db: &Db, author_id: &str) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, image FROM posts WHERE author_id = $1")
        .bind(author_id)
        .fetch_all(&db.pool)
        .await
}

/// Every post of one author, newest first (account export).
#[tracing::instrument(skip_all)]
pub async fn by_author(db: &Db, author_id: &str) -> Result<Vec<PostRow>, sqlx::Error> {
    let sql = format!("{SELECT} WHERE p.author_id = $1 ORDER BY p.id DESC");
    sqlx::query_as::<_, PostRow>(sqlx::AssertSqlSafe(sql))
        .bind(author_id)
        .fetch_all(&db.pool)
        .await
}
