//! The database handle, transactions, and the one interface store functions run statements through.
//!
//! A store function takes `impl Exec`: either `&Db` (each statement on its own; reads go to a reader,
//! writes to the writer) or `&mut Tx` (every statement inside one transaction). A function whose steps
//! must be atomic takes `&mut Tx`, so callers can also join it with other steps.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::AssertSqlSafe;
use sqlx::postgres::PgArguments;
use tokio::sync::OwnedMutexGuard;

use super::Error;
use super::pg::{self, Pg};
use super::sqlite::{self, Sqlite};
use super::value::{Arg, FromRow, Row};
use crate::metrics::db::{DbMetrics, DbOp, PoolStats};

/// Which engine the handle talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database handle; cheap to clone.
#[derive(Clone, Debug)]
pub struct Db {
    engine: Engine,
    /// Statement latency, when metrics are on.
    metrics: Option<Arc<DbMetrics>>,
}

#[derive(Clone, Debug)]
enum Engine {
    Sqlite(Arc<Sqlite>),
    Postgres(Arc<Pg>),
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Db {
    /// Opens a database on `url` (`sqlite:…` or `postgres:…`).
    pub async fn connect_url(url: &str, max_connections: u32, acquire_timeout: Duration) -> anyhow::Result<Db> {
        let engine = if url.starts_with("sqlite:") {
            let url = url.to_owned();
            // Opening a file and switching it to WAL touches the disk: off the async threads.
            let sqlite = tokio::task::spawn_blocking(move || Sqlite::open(&url, acquire_timeout))
                .await
                .context("opening SQLite")??;
            Engine::Sqlite(Arc::new(sqlite))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Engine::Postgres(Pg::connect(url, max_connections, acquire_timeout).await?)
        } else {
            anyhow::bail!("the database URL must start with sqlite: or postgres:");
        };
        Ok(Db { engine, metrics: None })
    }

    /// Records every statement run through this handle (and its transactions) in `metrics`.
    pub fn with_metrics(self, metrics: Arc<DbMetrics>) -> Db {
        Db {
            metrics: Some(metrics),
            ..self
        }
    }

    /// The connections as they are now, for the metrics.
    pub fn pool_stats(&self) -> PoolStats {
        match &self.engine {
            Engine::Sqlite(db) => db.stats(),
            Engine::Postgres(pool) => pool.stats(),
        }
    }

    /// The latest migration this binary carries for `backend`.
    pub fn latest_migration(backend: Backend) -> i64 {
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    pub fn backend(&self) -> Backend {
        match self.engine {
            Engine::Sqlite(_) => Backend::Sqlite,
            Engine::Postgres(_) => Backend::Postgres,
        }
    }

    /// Applies pending migrations for this engine.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        match &self.engine {
            Engine::Sqlite(db) => {
                let mut conn = db.writer().await?;
                sqlite::migrate(&mut conn, &SQLITE_MIGRATIONS)
            }
            Engine::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                let applied = POSTGRES_MIGRATIONS.run(conn.get()?).await;
                conn.check(Ok(()))?;
                applied.context("applying migrations")
            }
        }
    }

    /// Begins a transaction. On SQLite it holds the one writer (so transactions queue, and a read
    /// inside one cannot be invalidated by another writer); on PostgreSQL it is READ COMMITTED.
    pub async fn begin(&self) -> Result<Tx, Error> {
        let inner = timed(self.metrics.as_deref(), DbOp::Begin, async {
            Ok(match &self.engine {
                Engine::Sqlite(db) => {
                    let conn = db.writer().await?;
                    sqlite::execute(&conn, "BEGIN IMMEDIATE", &[])?;
                    TxInner::Sqlite(Some(conn))
                }
                Engine::Postgres(pool) => TxInner::Postgres(Some(pg_begin(pool, "BEGIN").await?)),
            })
        })
        .await?;
        Ok(Tx {
            inner,
            metrics: self.metrics.clone(),
        })
    }

    /// Begins a read-only transaction that sees one snapshot throughout (for copying a database).
    pub async fn begin_snapshot(&self) -> Result<Tx, Error> {
        let inner = match &self.engine {
            Engine::Sqlite(db) => {
                let conn = db.writer().await?;
                sqlite::execute(&conn, "BEGIN", &[])?;
                TxInner::Sqlite(Some(conn))
            }
            Engine::Postgres(pool) => TxInner::Postgres(Some(
                pg_begin(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await?,
            )),
        };
        Ok(Tx {
            inner,
            metrics: self.metrics.clone(),
        })
    }

    /// Whether the database answers, for readiness checks.
    pub async fn ping(&self) -> bool {
        let mut db = self;
        db.fetch_optional::<(i64,)>("SELECT CAST(1 AS BIGINT)", &[])
            .await
            .is_ok()
    }

    /// Closes the connections; later calls fail.
    pub async fn close(&self) {
        if let Engine::Postgres(pool) = &self.engine {
            pool.close().await;
        }
    }
}

/// An open transaction. Dropped without [`Tx::commit`], it rolls back.
pub struct Tx {
    inner: TxInner,
    metrics: Option<Arc<DbMetrics>>,
}

enum TxInner {
    /// `None` once committed.
    Sqlite(Option<OwnedMutexGuard<rusqlite::Connection>>),
    /// `None` once committed.
    Postgres(Option<pg::Conn>),
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), Error> {
        let metrics = self.metrics.take();
        timed(metrics.as_deref(), DbOp::Commit, self.commit_inner()).await
    }

    async fn commit_inner(&mut self) -> Result<(), Error> {
        match &mut self.inner {
            TxInner::Sqlite(conn) => {
                if let Some(conn) = conn.take() {
                    sqlite::execute(&conn, "COMMIT", &[])?;
                }
                Ok(())
            }
            TxInner::Postgres(conn) => {
                if let Some(mut conn) = conn.take() {
                    pg_execute(&mut conn, "COMMIT", &[]).await?;
                }
                Ok(())
            }
        }
    }

    /// Serialises this transaction with every other that takes the same `lock`, until it ends.
    /// SQLite transactions already run one at a time; PostgreSQL takes an advisory lock.
    pub async fn serialise(&mut self, lock: Lock) -> Result<(), Error> {
        if let TxInner::Postgres(conn) = &mut self.inner {
            let (class, item) = lock.keys();
            let conn = Tx::pg(conn)?;
            let done = sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
                .bind(class)
                .bind(item)
                .execute(conn.get()?)
                .await;
            conn.check(done)?;
        }
        Ok(())
    }
}

impl Tx {
    /// Like [`Tx::serialise`], but gives up at once: `false` when another transaction holds `lock`.
    pub async fn try_serialise(&mut self, lock: Lock) -> Result<bool, Error> {
        if let TxInner::Postgres(conn) = &mut self.inner {
            let (class, item) = lock.keys();
            let conn = Tx::pg(conn)?;
            let got = sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_xact_lock($1, $2)")
                .bind(class)
                .bind(item)
                .fetch_one(conn.get()?)
                .await;
            return Ok(conn.check(got)?);
        }
        Ok(true)
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        match &mut self.inner {
            TxInner::Sqlite(Some(conn)) => {
                // A failed rollback leaves nothing to undo: SQLite has already ended the transaction.
                let _ = sqlite::execute(conn, "ROLLBACK", &[]);
            }
            TxInner::Postgres(conn) => {
                if let Some(conn) = conn.take() {
                    conn.roll_back_later();
                }
            }
            TxInner::Sqlite(None) => {}
        }
    }
}

/// Named advisory locks, one per rule that must be checked and acted on atomically.
#[derive(Debug, Clone, Copy)]
pub enum Lock {
    /// "At least one active admin remains."
    AdminSet,
    /// One author's quota: their posts in the last hour and bytes in the last day.
    AuthorQuota(uuid::Uuid),
    /// "One scheduled backup at a time" among the instances sharing a database.
    ScheduledBackup,
}

impl Lock {
    /// The two 32-bit keys of `pg_advisory_xact_lock(int4, int4)`: a class, and an item within it.
    fn keys(self) -> (i32, i32) {
        match self {
            Lock::AdminSet => (7_242_001, 0),
            Lock::ScheduledBackup => (7_242_003, 0),
            Lock::AuthorQuota(id) => {
                let b = id.as_bytes();
                // The random tail of a UUIDv7 spreads authors over the item space.
                (7_242_002, i32::from_be_bytes([b[12], b[13], b[14], b[15]]))
            }
        }
    }
}

/// Something statements run on: a database handle or an open transaction.
pub trait Exec: Send {
    fn backend(&self) -> Backend;

    /// Rows of a query that changes nothing.
    fn fetch_all<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<T>, Error>> + Send;

    /// The first row of a query that changes nothing.
    fn fetch_optional<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<T>, Error>> + Send;

    /// Runs a write; the number of rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> impl Future<Output = Result<u64, Error>> + Send;

    /// Runs a write with `RETURNING`; the rows it returned.
    fn write_returning<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<T>, Error>> + Send;

    /// The one row a query must return.
    fn fetch_one<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<T, Error>> + Send {
        let found = self.fetch_optional(sql, args);
        async move {
            found
                .await?
                .ok_or_else(|| Error::Other(anyhow::anyhow!("a query that always returns a row returned none")))
        }
    }
}

/// A borrowed executor is one too, so `&mut tx` can be handed on and used again afterwards.
impl<E: Exec + ?Sized> Exec for &mut E {
    fn backend(&self) -> Backend {
        (**self).backend()
    }

    fn fetch_all<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<T>, Error>> + Send {
        (**self).fetch_all(sql, args)
    }

    fn fetch_optional<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Option<T>, Error>> + Send {
        (**self).fetch_optional(sql, args)
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> impl Future<Output = Result<u64, Error>> + Send {
        (**self).execute(sql, args)
    }

    fn write_returning<T: FromRow + Send>(
        &mut self,
        sql: &str,
        args: &[Arg<'_>],
    ) -> impl Future<Output = Result<Vec<T>, Error>> + Send {
        (**self).write_returning(sql, args)
    }
}

/// Runs `statement`, recording its time and outcome under `op` when metrics are on.
async fn timed<T>(
    metrics: Option<&DbMetrics>,
    op: DbOp,
    statement: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    let Some(metrics) = metrics else {
        return statement.await;
    };
    let started = std::time::Instant::now();
    let outcome = statement.await;
    metrics.observe(op, started, &outcome);
    outcome
}

fn pg_args(args: &[Arg<'_>]) -> Result<PgArguments, Error> {
    let mut out = PgArguments::default();
    for arg in args {
        arg.add_to(&mut out)?;
    }
    Ok(out)
}

async fn pg_begin(pool: &Arc<Pg>, sql: &str) -> Result<pg::Conn, Error> {
    let mut conn = pool.acquire().await?;
    pg_execute(&mut conn, sql, &[]).await?;
    Ok(conn)
}

async fn pg_fetch_all<T: FromRow>(conn: &mut pg::Conn, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, Error> {
    let query = sqlx::query_with(AssertSqlSafe(sql), pg_args(args)?);
    let rows = query.fetch_all(conn.get()?).await;
    let rows = conn.check(rows)?;
    rows.iter().map(|r| T::from_row(&Row::Pg(r))).collect()
}

async fn pg_fetch_optional<T: FromRow>(conn: &mut pg::Conn, sql: &str, args: &[Arg<'_>]) -> Result<Option<T>, Error> {
    let query = sqlx::query_with(AssertSqlSafe(sql), pg_args(args)?);
    let row = query.fetch_optional(conn.get()?).await;
    let row = conn.check(row)?;
    row.map(|r| T::from_row(&Row::Pg(&r))).transpose()
}

async fn pg_execute(conn: &mut pg::Conn, sql: &str, args: &[Arg<'_>]) -> Result<u64, Error> {
    let query = sqlx::query_with(AssertSqlSafe(sql), pg_args(args)?);
    let done = query.execute(conn.get()?).await;
    Ok(conn.check(done)?.rows_affected())
}

impl Exec for &Db {
    fn backend(&self) -> Backend {
        Db::backend(self)
    }

    async fn fetch_all<T: FromRow + Send>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, Error> {
        timed(self.metrics.as_deref(), DbOp::Read, async {
            match &self.engine {
                Engine::Sqlite(db) => db.read(|conn| sqlite::query(conn, sql, args)).await,
                Engine::Postgres(pool) => pg_fetch_all(&mut pool.acquire().await?, sql, args).await,
            }
        })
        .await
    }

    async fn fetch_optional<T: FromRow + Send>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<T>, Error> {
        timed(self.metrics.as_deref(), DbOp::Read, async {
            match &self.engine {
                Engine::Sqlite(db) => db.read(|conn| sqlite::query_opt(conn, sql, args)).await,
                Engine::Postgres(pool) => pg_fetch_optional(&mut pool.acquire().await?, sql, args).await,
            }
        })
        .await
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, Error> {
        timed(self.metrics.as_deref(), DbOp::Write, async {
            match &self.engine {
                Engine::Sqlite(db) => sqlite::execute(&*db.writer().await?, sql, args),
                Engine::Postgres(pool) => pg_execute(&mut pool.acquire().await?, sql, args).await,
            }
        })
        .await
    }

    async fn write_returning<T: FromRow + Send>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, Error> {
        timed(self.metrics.as_deref(), DbOp::Write, async {
            match &self.engine {
                Engine::Sqlite(db) => sqlite::query(&*db.writer().await?, sql, args),
                Engine::Postgres(pool) => pg_fetch_all(&mut pool.acquire().await?, sql, args).await,
            }
        })
        .await
    }
}

impl Tx {
    fn pg(conn: &mut Option<pg::Conn>) -> Result<&mut pg::Conn, Error> {
        conn.as_mut()
            .ok_or_else(|| Error::Other(anyhow::anyhow!("the transaction has ended")))
    }

    fn sqlite(conn: &Option<OwnedMutexGuard<rusqlite::Connection>>) -> Result<&rusqlite::Connection, Error> {
        conn.as_deref()
            .ok_or_else(|| Error::Other(anyhow::anyhow!("the transaction has ended")))
    }
}

impl Exec for Tx {
    fn backend(&self) -> Backend {
        match self.inner {
            TxInner::Sqlite(_) => Backend::Sqlite,
            TxInner::Postgres(_) => Backend::Postgres,
        }
    }

    async fn fetch_all<T: FromRow + Send>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, Error> {
        let Tx { inner, metrics } = self;
        timed(metrics.as_deref(), DbOp::Read, async {
            match inner {
                TxInner::Sqlite(conn) => sqlite::query(Tx::sqlite(conn)?, sql, args),
                TxInner::Postgres(conn) => pg_fetch_all(Tx::pg(conn)?, sql, args).await,
            }
        })
        .await
    }

    async fn fetch_optional<T: FromRow + Send>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<T>, Error> {
        let Tx { inner, metrics } = self;
        timed(metrics.as_deref(), DbOp::Read, async {
            match inner {
                TxInner::Sqlite(conn) => sqlite::query_opt(Tx::sqlite(conn)?, sql, args),
                TxInner::Postgres(conn) => pg_fetch_optional(Tx::pg(conn)?, sql, args).await,
            }
        })
        .await
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, Error> {
        let Tx { inner, metrics } = self;
        timed(metrics.as_deref(), DbOp::Write, async {
            match inner {
                TxInner::Sqlite(conn) => sqlite::execute(Tx::sqlite(conn)?, sql, args),
                TxInner::Postgres(conn) => pg_execute(Tx::pg(conn)?, sql, args).await,
            }
        })
        .await
    }

    async fn write_returning<T: FromRow + Send>(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, Error> {
        let Tx { inner, metrics } = self;
        timed(metrics.as_deref(), DbOp::Write, async {
            match inner {
                TxInner::Sqlite(conn) => sqlite::query(Tx::sqlite(conn)?, sql, args),
                TxInner::Postgres(conn) => pg_fetch_all(Tx::pg(conn)?, sql, args).await,
            }
        })
        .await
    }
}
