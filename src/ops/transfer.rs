//! Copies every table from one database to another (`rampart migrate-data`), for moving off the embedded
//! SQLite default to PostgreSQL or back. Rows are copied as stored, so ids, hashes and instants survive.

use anyhow::Context;
use indicatif::ProgressBar;

use crate::store::value::{Arg, Value, from_unix_ms};
use crate::store::{Backend, Db, Exec, Tx};

/// How a column is stored: its type on each engine (SQLite / PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// TEXT / TEXT.
    Text,
    /// BIGINT / BIGINT.
    Int,
    /// TEXT / uuid.
    Id,
    /// BIGINT milliseconds / timestamptz.
    Time,
}

/// A table to copy: its name, the primary-key columns it is paged by, and all of its columns.
#[derive(Debug)]
pub struct Table {
    pub name: &'static str,
    pub key: &'static [&'static str],
    pub columns: &'static [(&'static str, Kind)],
}

use Kind::{Id, Int, Text, Time};

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
            ("id", Id),
            ("username", Text),
            ("email", Text),
            ("password_hash", Text),
            ("display_name", Text),
            ("bio", Text),
            ("role", Text),
            ("disabled_at", Time),
            ("email_verified_at", Time),
            ("created_at", Time),
            ("updated_at", Time),
        ],
    },
    Table {
        name: "sessions",
        key: &["id"],
        columns: &[
            ("id", Id),
            ("user_id", Id),
            ("created_at", Time),
            ("last_used_at", Time),
            ("idle_expires_at", Time),
            ("absolute_expires_at", Time),
            ("revoked_at", Time),
            ("revoke_reason", Text),
            ("ip", Text),
            ("user_agent", Text),
            ("csrf_hash", Text),
            ("amr", Text),
            ("authenticated_at", Time),
        ],
    },
    Table {
        name: "refresh_tokens",
        key: &["hash"],
        columns: &[
            ("hash", Text),
            ("session_id", Id),
            ("created_at", Time),
            ("used_at", Time),
            ("rotated_client", Text),
            ("successor_hash", Text),
            ("successor_sealed", Text),
        ],
    },
    Table {
        name: "audit_events",
        key: &["id"],
        columns: &[
            ("id", Id),
            ("kind", Text),
            ("actor_id", Id),
            ("target_id", Id),
            ("ip", Text),
            ("user_agent", Text),
            ("details", Text),
            ("created_at", Time),
        ],
    },
    Table {
        name: "posts",
        key: &["id"],
        columns: &[
            ("id", Id),
            ("author_id", Id),
            ("caption", Text),
            ("tags", Text),
            ("version", Int),
            ("created_at", Time),
            ("updated_at", Time),
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
        columns: &[("post_id", Id), ("tag", Text)],
    },
    Table {
        name: "idempotency_keys",
        key: &["user_id", "key"],
        columns: &[
            ("user_id", Id),
            ("key", Text),
            ("request_hash", Text),
            ("response_status", Int),
            ("response_body", Text),
            ("created_at", Time),
        ],
    },
    Table {
        name: "outbox",
        key: &["id"],
        columns: &[
            ("id", Id),
            ("to_address", Text),
            ("subject", Text),
            ("body_text", Text),
            ("created_at", Time),
            ("attempts", Int),
            ("next_attempt_at", Time),
            ("locked_until", Time),
            ("sent_at", Time),
            ("last_error", Text),
        ],
    },
    Table {
        name: "email_tokens",
        key: &["hash"],
        columns: &[
            ("hash", Text),
            ("user_id", Id),
            ("purpose", Text),
            ("email", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_at", Time),
        ],
    },
    Table {
        name: "totp_factors",
        key: &["user_id"],
        columns: &[
            ("user_id", Id),
            ("secret", Text),
            ("created_at", Time),
            ("confirmed_at", Time),
            ("last_step", Int),
        ],
    },
    Table {
        name: "recovery_codes",
        key: &["hash"],
        columns: &[("hash", Text), ("user_id", Id), ("created_at", Time), ("used_at", Time)],
    },
    Table {
        name: "mfa_challenges",
        key: &["hash"],
        columns: &[
            ("hash", Text),
            ("user_id", Id),
            ("client_hash", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("attempts", Int),
            ("used_at", Time),
        ],
    },
    Table {
        name: "passkeys",
        key: &["id"],
        columns: &[
            ("id", Id),
            ("user_id", Id),
            ("credential_id", Text),
            ("name", Text),
            ("credential", Text),
            ("created_at", Time),
            ("last_used_at", Time),
        ],
    },
    Table {
        name: "webauthn_ceremonies",
        key: &["hash"],
        columns: &[
            ("hash", Text),
            ("user_id", Id),
            ("purpose", Text),
            ("state", Text),
            ("client_hash", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("used_at", Time),
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
    let version = |db| async move {
        crate::store::snapshot::applied_migration(db)
            .await
            .context("reading the applied migrations")
    };
    let (from_version, to_version) = (version(source).await?, version(target).await?);
    anyhow::ensure!(
        from_version == to_version,
        "the source's schema is at migration {from_version:?} but this rampart's is at {to_version:?}: \
         run `rampart migrate` against the source first"
    );
    if source.backend() == target.backend() && location(source).await? == location(target).await? {
        anyhow::bail!("the source and the target are the same database");
    }

    let mut dst = target.begin().await.context("starting the target transaction")?;
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
            dst.execute(&format!("DELETE FROM {}", table.name), &[])
                .await
                .with_context(|| format!("emptying the target's {}", table.name))?;
        }
    }

    // One read transaction gives a consistent snapshot, so the counts taken now still hold at the end.
    let mut src = source
        .begin_snapshot()
        .await
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
    drop(src);
    // Fresh tables have no planner statistics; without them PostgreSQL plans the feed as if the
    // tables were empty until autovacuum comes round (measured: 144 vs 2 700 requests/s).
    let mut target_ex = target;
    target_ex
        .execute("ANALYZE", &[])
        .await
        .context("updating planner statistics")?;
    Ok(Summary { tables })
}

/// Rows per table, in `TABLES` order.
pub async fn count_rows(tx: &mut Tx) -> anyhow::Result<Vec<(&'static str, u64)>> {
    let mut counts = Vec::with_capacity(TABLES.len());
    for table in TABLES {
        let (n,): (i64,) = tx
            .fetch_one(&format!("SELECT COUNT(*) FROM {}", table.name), &[])
            .await
            .with_context(|| format!("counting {}", table.name))?;
        counts.push((table.name, u64::try_from(n).unwrap_or_default()));
    }
    Ok(counts)
}

/// Where `db` lives, to catch a copy from a database onto itself.
async fn location(mut db: &Db) -> anyhow::Result<String> {
    let sql = match db.backend() {
        Backend::Sqlite => "SELECT file FROM pragma_database_list WHERE name = 'main'",
        Backend::Postgres => {
            "SELECT current_database() || '@' || COALESCE(host(inet_server_addr()), 'local') || ':' \
             || COALESCE(CAST(inet_server_port() AS TEXT), '')"
        }
    };
    let (place,): (String,) = db.fetch_one(sql, &[]).await.context("identifying the database")?;
    Ok(place)
}

/// `value` as the argument a column of `kind` takes on either engine. SQLite hands ids over as text
/// and instants as milliseconds; they are checked and converted here, so a row that would not decode
/// on the other side stops the copy instead of landing there.
fn typed(kind: Kind, value: &Value) -> Result<Arg<'_>, String> {
    Ok(match (kind, value) {
        (Kind::Text, Value::Null) => Arg::Text(None),
        (Kind::Int, Value::Null) => Arg::Int(None),
        (Kind::Id, Value::Null) => Arg::Id(None),
        (Kind::Time, Value::Null) => Arg::Time(None),
        (Kind::Text, Value::Text(t)) => Arg::Text(Some(t)),
        (Kind::Int, Value::Int(i)) => Arg::Int(Some(*i)),
        (Kind::Id, Value::Id(id)) => Arg::Id(Some(*id)),
        (Kind::Id, Value::Text(t)) => Arg::Id(Some(uuid::Uuid::try_parse(t).map_err(|e| format!("{t:?}: {e}"))?)),
        (Kind::Time, Value::Time(t)) => Arg::Time(Some(*t)),
        (Kind::Time, Value::Int(ms)) => Arg::Time(Some(
            from_unix_ms(*ms).ok_or_else(|| format!("{ms} ms is out of range"))?,
        )),
        (kind, value) => return Err(format!("{value:?} is not a {kind:?} value")),
    })
}

/// Copies one table in primary-key order, `BATCH` rows at a time.
async fn copy_table(table: &Table, src: &mut Tx, dst: &mut Tx, bar: &ProgressBar) -> anyhow::Result<u64> {
    let columns = column_list(table);
    let key = table.key.join(", ");
    let key_at: Vec<(usize, Kind)> = table
        .key
        .iter()
        .map(|k| {
            let at = table
                .columns
                .iter()
                .position(|(c, _)| c == k)
                .expect("key columns are listed");
            (at, table.columns[at].1)
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
        let key_args = match &after {
            None => Vec::new(),
            Some(values) => (key_at.iter().zip(values))
                .map(|((_, kind), value)| typed(*kind, value))
                .collect::<Result<Vec<_>, String>>()
                .map_err(|e| anyhow::anyhow!("paging {}: {e}", table.name))?,
        };
        let rows: Vec<Vec<Value>> = src
            .fetch_all(&sql, &key_args)
            .await
            .with_context(|| format!("reading {}", table.name))?;
        let Some(last) = rows.last() else { break };
        let next_after = key_at.iter().map(|&(i, _)| last[i].clone()).collect();
        let n = rows.len();
        insert_rows(table, &rows, dst).await?;
        after = Some(next_after);
        copied += n as u64;
        bar.inc(n as u64);
        if n < BATCH {
            break;
        }
    }
    Ok(copied)
}

/// Inserts `rows` with as few statements as the parameter limit allows.
async fn insert_rows(table: &Table, rows: &[Vec<Value>], dst: &mut Tx) -> anyhow::Result<()> {
    let width = table.columns.len();
    let per_statement = (MAX_PARAMS / width).max(1);
    for chunk in rows.chunks(per_statement) {
        let tuples: Vec<String> = (0..chunk.len())
            .map(|r| format!("({})", placeholders(r * width + 1, width)))
            .collect();
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}",
            table.name,
            column_list(table),
            tuples.join(", ")
        );
        let mut args = Vec::with_capacity(chunk.len() * width);
        for row in chunk {
            for ((column, kind), value) in table.columns.iter().zip(row) {
                args.push(typed(*kind, value).map_err(|e| anyhow::anyhow!("{}.{column}: {e}", table.name))?);
            }
        }
        dst.execute(&sql, &args)
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
    use crate::args;

    async fn sqlite(dir: &std::path::Path, name: &str) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.join(name).display());
        let db = Db::connect_url(&url, 1, Duration::from_secs(5)).await.unwrap();
        db.migrate().await.unwrap();
        db
    }

    #[tokio::test]
    async fn every_table_and_column_in_the_sqlite_schema_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = &sqlite(dir.path(), "s.db").await;
        // `pragma_table_list` tells ordinary tables from virtual (FTS) tables and their shadow tables.
        let stored: Vec<(String,)> = db
            .fetch_all(
                "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
                 AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> '_sqlx_migrations'",
                &[],
            )
            .await
            .unwrap();
        let stored: BTreeSet<String> = stored.into_iter().map(|(n,)| n).collect();
        let listed: BTreeSet<String> = TABLES.iter().map(|t| t.name.to_owned()).collect();
        assert_eq!(stored, listed, "ops::transfer::TABLES must name every table");

        for table in TABLES {
            let rows: Vec<(String, String, i64)> = db
                .fetch_all(
                    "SELECT name, type, pk FROM pragma_table_info($1) ORDER BY cid",
                    args![table.name],
                )
                .await
                .unwrap();
            let rows: Vec<(String, String, i64)> = rows
                .into_iter()
                .filter(|(name, _, _)| !ENGINE_ONLY.contains(&(table.name, name.as_str())))
                .collect();
            let stored: Vec<(String, String)> = rows
                .iter()
                .map(|(name, ty, _)| (name.clone(), ty.to_ascii_uppercase().replace("INTEGER", "BIGINT")))
                .collect();
            // SQLite stores ids as TEXT and instants as BIGINT milliseconds.
            let listed: Vec<(String, String)> = table
                .columns
                .iter()
                .map(|(c, k)| {
                    let ty = match k {
                        Kind::Text | Kind::Id => "TEXT",
                        Kind::Int | Kind::Time => "BIGINT",
                    };
                    ((*c).to_owned(), ty.to_owned())
                })
                .collect();
            assert_eq!(stored, listed, "columns of {} in ops::transfer::TABLES", table.name);

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
        let dir = tempfile::tempdir().unwrap();
        let mut db = &sqlite(dir.path(), "s.db").await;
        for (at, table) in TABLES.iter().enumerate() {
            let parents: Vec<(String,)> = db
                .fetch_all("SELECT \"table\" FROM pragma_foreign_key_list($1)", args![table.name])
                .await
                .unwrap();
            for (parent,) in parents {
                let before = TABLES[..at].iter().any(|t| t.name == parent);
                assert!(
                    before,
                    "{} refers to {parent}, which must be listed before it",
                    table.name
                );
            }
        }
    }

    /// Ids are UUIDs now: the copy checks each id column decodes as one.
    fn user_id(i: usize) -> uuid::Uuid {
        uuid::Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128)
    }

    async fn seed(mut db: &Db, users: usize) {
        for i in 0..users {
            db.execute(
                "INSERT INTO users (id, username, email, password_hash, display_name, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'hash', NULL, $4, $4)",
                args![user_id(i), format!("user{i}"), format!("user{i}@example.com"), i as i64],
            )
            .await
            .unwrap();
        }
        let session = user_id(1_000_000);
        db.execute(
            "INSERT INTO sessions (id, user_id, created_at, last_used_at, idle_expires_at, absolute_expires_at) \
             VALUES ($1, $2, 1, 2, 3, 4)",
            args![session, user_id(0)],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO refresh_tokens (hash, session_id, created_at) VALUES ('h1', $1, 5)",
            args![session],
        )
        .await
        .unwrap();
        db.execute(
            "INSERT INTO audit_events (id, kind, details, created_at) VALUES ($1, 'test', '{}', 6)",
            args![user_id(2_000_000)],
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn a_copy_between_sqlite_files_pages_through_every_row_and_refuses_a_full_target() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (sqlite(dir.path(), "a.db").await, sqlite(dir.path(), "b.db").await);
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
            ("totp_factors", 0),
            ("recovery_codes", 0),
            ("mfa_challenges", 0),
            ("passkeys", 0),
            ("webauthn_ceremonies", 0),
        ];
        assert_eq!(summary.tables, expected);
        assert_eq!(count_rows(&mut target.begin().await.unwrap()).await.unwrap(), expected);

        let err = copy_all(&source, &target, false, &bar).await.unwrap_err().to_string();
        assert!(err.contains("not empty") && err.contains("--force"), "{err}");
        let forced = copy_all(&source, &target, true, &bar).await.unwrap();
        assert_eq!(forced.tables, expected);

        let err = copy_all(&source, &source, true, &bar).await.unwrap_err().to_string();
        assert!(err.contains("same database"), "{err}");
    }

    #[tokio::test]
    async fn a_row_whose_id_is_not_a_uuid_stops_the_copy_and_nothing_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let (source, target) = (sqlite(dir.path(), "a.db").await, sqlite(dir.path(), "b.db").await);
        seed(&source, 3).await;
        (&source)
            .execute(
                "INSERT INTO users (id, username, email, password_hash, created_at, updated_at) \
                 VALUES ('not-a-uuid', 'odd', 'odd@example.com', 'hash', 1, 1)",
                &[],
            )
            .await
            .unwrap();
        let err = copy_all(&source, &target, false, &ProgressBar::hidden())
            .await
            .unwrap_err();
        assert!(format!("{err:#}").contains("not-a-uuid"), "{err:#}");
        let counts = count_rows(&mut target.begin().await.unwrap()).await.unwrap();
        assert!(counts.iter().all(|(_, n)| *n == 0), "{counts:?}");
    }

    #[test]
    fn placeholders_are_numbered_from_the_first() {
        assert_eq!(placeholders(4, 3), "$4, $5, $6");
    }
}
