//! Copies every table from one database to another (`rampart migrate-data`), for moving off the embedded
//! SQLite default to PostgreSQL or back. Rows are copied as stored, so ids, hashes and instants survive.

use anyhow::Context;
use indicatif::ProgressBar;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Row};

use super::{Backend, Db};

/// How a column is read and written. Every column Rampart stores is TEXT or BIGINT (or NULL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
}

/// A table to copy: its name, the primary-key columns it is paged by, and all of its columns.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
}

use Kind::{Int, Text};

/// Every table Rampart stores, parents before children: rows are inserted in this order and deleted
/// in the reverse order.
///
/// A migration that adds a table or a column must add it here too, or `migrate-data` would leave it
/// behind; the tests at the bottom of this file fail until it does.
pub const TABLES: &[Table] = &[
    Table {
        name: "users",
        key: &["id"],
        columns: &[
            ("id", Text),
            ("username", Text),
            ("email", Text),
            ("password_hash", Text),
            ("display_name", Text),
            ("bio", Text),
            ("role", Text),
            ("disabled_at", Int),
            ("email_verified_at", Int),
            ("created_at", Int),
            ("updated_at", Int),
        ],
    },
    Table {
        name: "sessions",
        key: &["id"],
        columns: &[
            ("id", Text),
            ("user_id", Text),
            ("created_at", Int),
            ("last_used_at", Int),
            ("idle_expires_at", Int),
            ("absolute_expires_at", Int),
            ("revoked_at", Int),
            ("revoke_reason", Text),
            ("ip", Text),
            ("user_agent", Text),
            ("csrf_hash", Text),
        ],
    },
    Table {
        name: "refresh_tokens",
        key: &["hash"],
        columns: &[
            ("hash", Text),
            ("session_id", Text),
            ("created_at", Int),
            ("used_at", Int),
        ],
    },
    Table {
        name: "audit_events",
        key: &["id"],
        columns: &[
            ("id", Text),
            ("kind", Text),
            ("actor_id", Text),
            ("target_id", Text),
            ("ip", Text),
            ("user_agent", Text),
            ("details", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "posts",
        key: &["id"],
        columns: &[
            ("id", Text),
            ("author_id", Text),
            ("caption", Text),
            ("tags", Text),
            ("version", Int),
            ("created_at", Int),
            ("updated_at", Int),
            ("image", Text),
            ("base_key", Text),
            ("width", Int),
            ("height", Int),
            ("bytes", Int),
            ("content_type", Text),
            ("sha256", Text),
            ("blurhash", Text),
        ],
    },
    Table {
        name: "post_tags",
        key: &["post_id", "tag"],
        columns: &[("post_id", Text), ("tag", Text)],
    },
    Table {
        name: "idempotency_keys",
        key: &["user_id", "key"],
        columns: &[
            ("user_id", Text),
            ("key", Text),
            ("request_hash", Text),
            ("response_status", Int),
            ("response_body", Text),
            ("created_at", Int),
        ],
    },
    Table {
        name: "outbox",
        key: &["id"],
        columns: &[
            ("id", Text),
            ("to_address", Text),
            ("subject", Text),
            ("body_text", Text),
            ("created_at", Int),
            ("attempts", Int),
            ("next_attempt_at", Int),
            ("locked_until", Int),
            ("sent_at", Int),
            ("last_error", Text),
        ],
    },
    Table {
        name: "email_tokens",
        key: &["hash"],
        columns: &[
            ("hash", Text),
            ("user_id", Text),
            ("purpose", Text),
            ("email", Text),
            ("created_at", Int),
            ("expires_at", Int),
            ("used_at", Int),
        ],
    },
];

/// Columns that exist on one engine only and are derived there, so they are never copied: SQLite's
/// `posts.seq` (the full-text index key; PostgreSQL's `search` is a generated column).
pub const ENGINE_ONLY: &[(&str, &str)] = &[("posts", "seq")];

/// Rows read per query.
const BATCH: usize = 500;
/// Bound parameters per INSERT, below SQLite's limit of 32,766 (PostgreSQL allows 65,535).
const MAX_PARAMS: usize = 30_000;

/// What a finished copy wrote: rows per table, in copy order.
#[derive(Debug)]
pub struct Summary {
    pub tables: Vec<(&'static str, u64)>,
}

impl Summary {
    pub fn total(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }
}

/// Copies every row of `source` into `target` in one target transaction, after migrating the target's
/// schema. A target with rows is refused unless `force`, which deletes them in the same transaction.
/// Row counts are compared before committing, so a failed copy leaves the target as it was.
pub async fn copy_all(source: &Db, target: &Db, force: bool, bar: &ProgressBar) -> anyhow::Result<Summary> {
    target.migrate().await.context("migrating the target's schema")?;
    let (from_version, to_version) = (schema_version(source).await?, schema_version(target).await?);
    anyhow::ensure!(
        from_version == to_version,
        "the source's schema is at migration {from_version:?} but this rampart's is at {to_version:?}: \
         run `rampart migrate` against the source first"
    );
    if source.backend == target.backend && location(source).await? == location(target).await? {
        anyhow::bail!("the source and the target are the same database");
    }

    let mut dst = target.begin_write().await.context("starting the target transaction")?;
    let present = count_rows(&mut dst).await.context("counting the target's rows")?;
    let occupied: Vec<String> = present
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(table, n)| format!("{table}: {n} rows"))
        .collect();
    if !occupied.is_empty() {
        anyhow::ensure!(
            force,
            "the target database is not empty ({}); pass --force to delete its rows and copy over them",
            occupied.join(", ")
        );
        for table in TABLES.iter().rev() {
            sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", table.name)))
                .execute(&mut *dst)
                .await
                .with_context(|| format!("emptying the target's {}", table.name))?;
        }
    }

    // One read transaction gives a consistent snapshot, so the counts taken now still hold at the end.
    let mut src = match source.backend {
        Backend::Sqlite => source.pool.begin().await,
        Backend::Postgres => {
            source
                .pool
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
        }
    }
    .context("starting the source transaction")?;
    let expected = count_rows(&mut src).await.context("counting the source's rows")?;
    bar.set_length(expected.iter().map(|(_, n)| n).sum());

    let mut tables = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        bar.set_message(table.name);
        let copied = copy_table(table, &mut src, &mut dst, bar).await?;
        tables.push((table.name, copied));
    }

    let written = count_rows(&mut dst).await.context("counting the copied rows")?;
    let mismatches: Vec<String> = expected
        .iter()
        .zip(&written)
        .zip(&tables)
        .filter(|(((_, want), (_, got)), (_, copied))| want != got || want != copied)
        .map(|(((table, want), (_, got)), _)| format!("{table}: {want} in the source, {got} in the target"))
        .collect();
    anyhow::ensure!(
        mismatches.is_empty(),
        "row counts differ after copying ({}); nothing was written",
        mismatches.join(", ")
    );
    dst.commit().await.context("committing the copy")?;
    src.rollback().await.context("ending the source transaction")?;
    // Fresh tables have no planner statistics; without them PostgreSQL plans the feed as if the
    // tables were empty until autovacuum comes round (measured: 144 vs 2 700 requests/s).
    let analyze = match target.backend {
        Backend::Postgres => "ANALYZE",
        Backend::Sqlite => "ANALYZE",
    };
    sqlx::query(analyze)
        .execute(&target.pool)
        .await
        .context("updating planner statistics")?;
    Ok(Summary { tables })
}

/// Rows per table, in `TABLES` order.
async fn count_rows(conn: &mut AnyConnection) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!("SELECT COUNT(*) FROM {}", table.name)))
            .fetch_one(&mut *conn)
            .await
            .with_context(|| format!("counting {}", table.name))?;
        counts.push((table.name, u64::try_from(n).unwrap_or_default()));
    }
    Ok(counts)
}

/// The latest migration applied to `db`.
async fn schema_version(db: &Db) -> anyhow::Result<Option<i64>> {
    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success = TRUE")
        .fetch_one(&db.pool)
        .await
        .context("reading the applied migrations (is this a Rampart database?)")
}

/// Where `db` lives, to catch a copy from a database onto itself.
async fn location(db: &Db) -> anyhow::Result<String> {
    let sql = match db.backend {
        Backend::Sqlite => "SELECT file FROM pragma_database_list WHERE name = 'main'",
        Backend::Postgres => {
            "SELECT current_database() || '@' || COALESCE(host(inet_server_addr()), 'local') || ':' \
             || COALESCE(CAST(inet_server_port() AS TEXT), '')"
        }
    };
    sqlx::query_scalar(sql)
        .fetch_one(&db.pool)
        .await
        .context("identifying the database")
}

/// One stored value.
#[derive(Debug, Clone)]
enum Value {
    Text(Option<String>),
    Int(Option<i64>),
}

impl Value {
    fn read(row: &AnyRow, index: usize, kind: Kind) -> Result<Value, sqlx::Error> {
        Ok(match kind {
            Kind::Text => Value::Text(row.try_get(index)?),
            Kind::Int => Value::Int(row.try_get(index)?),
        })
    }

    fn bind(self, query: Query<'_, Any, AnyArguments>) -> Query<'_, Any, AnyArguments> {
        match self {
            Value::Text(v) => query.bind(v),
            Value::Int(v) => query.bind(v),
        }
    }
}

/// Copies one table in primary-key order, `BATCH` rows at a time.
async fn copy_table(
    table: &Table,
    src: &mut AnyConnection,
    dst: &mut AnyConnection,
    bar: &ProgressBar,
) -> anyhow::Result<u64> {
    let columns = column_list(table);
    let key = table.key.join(", ");
    let key_at: Vec<usize> = table
        .key
        .iter()
        .map(|k| {
            table
                .columns
                .iter()
                .position(|(c, _)| c == k)
                .expect("key columns are listed")
        })
        .collect();
    let mut after: Option<Vec<Value>> = None;
    let mut copied = 0u64;
    loop {
        let filter = match &after {
            None => String::new(),
            Some(_) => format!("WHERE ({key}) > ({}) ", placeholders(1, table.key.len())),
        };
        let sql = format!(
            "SELECT {columns} FROM {} {filter}ORDER BY {key} LIMIT {BATCH}",
            table.name
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in after.take().into_iter().flatten() {
            query = value.bind(query);
        }
        let rows = query
            .fetch_all(&mut *src)
            .await
            .with_context(|| format!("reading {}", table.name))?;
        let values = rows
            .iter()
            .map(|row| {
                (table.columns.iter().enumerate())
                    .map(|(i, (column, kind))| {
                        Value::read(row, i, *kind).with_context(|| format!("reading {}.{column}", table.name))
                    })
                    .collect::<anyhow::Result<Vec<Value>>>()
            })
            .collect::<anyhow::Result<Vec<Vec<Value>>>>()?;
        let Some(last) = values.last() else { break };
        after = Some(key_at.iter().map(|&i| last[i].clone()).collect());
        let n = values.len();
        insert_rows(table, values, dst).await?;
        copied += n as u64;
        bar.inc(n as u64);
        if n < BATCH {
            break;
        }
    }
    Ok(copied)
}

/// Inserts `rows` with as few statements as the parameter limit allows.
async fn insert_rows(table: &Table, rows: Vec<Vec<Value>>, dst: &mut AnyConnection) -> anyhow::Result<()> {
    let width = table.columns.len();
    let per_statement = (MAX_PARAMS / width).max(1);
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Value>> = rows.by_ref().take(per_statement).collect();
        let tuples: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * width + 1, width)))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            table.name,
            column_list(table),
            tuples.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for value in chunk.into_iter().flatten() {
            query = value.bind(query);
        }
        query
            .execute(&mut *dst)
            .await
            .with_context(|| format!("writing {}", table.name))?;
    }
    Ok(())
}

fn column_list(table: &Table) -> String {
    table.columns.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}

/// `$first, $first+1, …`, `count` of them.
fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::time::Duration;

    use super::*;

    async fn sqlite(url: &str) -> Db {
        let db = Db::connect_url(url, 1, Duration::from_secs(5)).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    #[tokio::test]
    async fn every_table_and_column_in_the_sqlite_schema_is_listed() {
        let db = sqlite("sqlite::memory:").await;
        // `pragma_table_list` tells ordinary tables from virtual (FTS) tables and their shadow tables.
        let stored: BTreeSet<String> = sqlx::query_scalar(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'",
        )
        .fetch_all(&db.pool)
        .await
        .unwrap()
        .into_iter()
        .collect();
        let listed: BTreeSet<String> = TABLES.iter().map(|t| t.name.to_owned()).collect();
        assert_eq!(stored, listed, "store::transfer::TABLES must name every table");

        for table in TABLES {
            let rows: Vec<(String, String, i64)> =
                sqlx::query_as("SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid")
                    .bind(table.name)
                    .fetch_all(&db.pool)
                    .await
                    .unwrap();
            let rows: Vec<(String, String, i64)> = rows
                .into_iter()
                .filter(|(name, _, _)| !ENGINE_ONLY.contains(&(table.name, name.as_str())))
                .collect();
            let stored: Vec<(String, Kind)> = rows
                .iter()
                .map(|(name, ty, _)| {
                    let kind = match ty.to_ascii_uppercase().as_str() {
                        "TEXT" => Kind::Text,
                        "BIGINT" | "INTEGER" => Kind::Int,
                        other => panic!("{}.{name} has type {other}, which migrate-data cannot copy", table.name),
                    };
                    (name.clone(), kind)
                })
                .collect();
            let listed: Vec<(String, Kind)> = table.columns.iter().map(|(c, k)| ((*c).to_owned(), *k)).collect();
            assert_eq!(stored, listed, "columns of {} in store::transfer::TABLES", table.name);

            let mut key: Vec<(i64, &str)> = rows
                .iter()
                .filter(|(_, _, pk)| *pk > 0)
                .map(|(name, _, pk)| (*pk, name.as_str()))
                .collect();
            key.sort();
            let key: Vec<&str> = key.into_iter().map(|(_, name)| name).collect();
            // posts is keyed by `seq` on SQLite only; its portable key is the unique `id`.
            let key = if key.is_empty() && table.name == "posts" {
                vec!["id"]
            } else {
                key
            };
            assert_eq!(key, table.key, "the key of {} is its primary key", table.name);
        }
    }

    #[tokio::test]
    async fn tables_are_listed_parents_before_children() {
        let db = sqlite("sqlite::memory:").await;
        for (at, table) in TABLES.iter().enumerate() {
            let parents: Vec<String> = sqlx::query_scalar("SELECT \"table\" FROM pragma_foreign_key_list($1)")
                .bind(table.name)
                .fetch_all(&db.pool)
                .await
                .unwrap();
            for parent in parents {
                let before = TABLES[..at].iter().any(|t| t.name == parent);
                assert!(
                    before,
                    "{} refers to {parent}, which must be listed before it",
                    table.name
                );
            }
        }
    }

    async fn seed(db: &Db, users: usize) {
        for i in 0..users {
            sqlx::query(
                "INSERT INTO users (id, username, email, password_hash, display_name, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'hash', NULL, $4, $4)",
            )
            .bind(format!("user-{i:05}"))
            .bind(format!("user{i}"))
            .bind(format!("user{i}@example.com"))
            .bind(i as i64)
            .execute(&db.pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at) \
             VALUES ('s1', 'user-00000', 1, 2, 3, 4)",
        )
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query("INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ('h1', 's1', 5)")
            .execute(&db.pool)
            .await
            .unwrap();
        sqlx::query("INSERT INTO audit_events (id, kind, details, created_at) VALUES ('a1', 'test', '{}', 6)")
            .execute(&db.pool)
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_copy_between_sqlite_files_pages_through_every_row_and_refuses_a_full_target() {
        let dir = tempfile::tempdir().unwrap();
        let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
        let (source, target) = (sqlite(&url("a.db")).await, sqlite(&url("b.db")).await);
        seed(&source, 2 * BATCH + 7).await;
        let bar = ProgressBar::hidden();

        let summary = copy_all(&source, &target, false, &bar).await.unwrap();
        let expected = vec![
            ("users", 2 * BATCH as u64 + 7),
            ("sessions", 1),
            ("refresh_tokens", 1),
            ("audit_events", 1),
            ("posts", 0),
            ("post_tags", 0),
            ("idempotency_keys", 0),
            ("outbox", 0),
            ("email_tokens", 0),
        ];
        assert_eq!(summary.tables, expected);
        assert_eq!(
            count_rows(&mut target.pool.acquire().await.unwrap()).await.unwrap(),
            expected
        );

        let err = copy_all(&source, &target, false, &bar).await.unwrap_err().to_string();
        assert!(err.contains("not empty") && err.contains("--force"), "{err}");
        let forced = copy_all(&source, &target, true, &bar).await.unwrap();
        assert_eq!(forced.tables, expected);

        let err = copy_all(&source, &source, true, &bar).await.unwrap_err().to_string();
        assert!(err.contains("same database"), "{err}");
    }

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(4, 3), "$4, $5, $6");
    }
}
