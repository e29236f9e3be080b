//! SQLite through rusqlite: one writer connection behind a queue, and query-only readers run in place.
//!
//! Statements run on the calling thread. A primary-key lookup takes microseconds in SQLite itself, and
//! a driver that hands each statement to a worker thread pays more than that in thread wake-ups
//! (`bench/README.md`, "Fixes": 64% of a post lookup went to switching threads).
//!
//! Writes queue for the one writer connection (a fair async mutex), so concurrent writers wait their
//! turn instead of sleeping in `busy_timeout` and retrying. The busy timeout stays as the guard
//! against other processes (`rampart` commands run beside the server). WAL mode lets readers run
//! during a write and see everything committed before they start.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Statement};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

use super::Error;
use super::value::{Arg, FromRow, Row, unix_ms};

/// The connections to one SQLite database.
pub struct Sqlite {
    writer: Arc<AsyncMutex<Connection>>,
    /// Dropping it stops the checkpointer thread.
    _checkpointer: Option<std::sync::mpsc::Sender<()>>,
    /// None for an in-memory database, which another connection cannot see: reads use the writer.
    readers: Option<Readers>,
    acquire_timeout: Duration,
}

impl std::fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.readers.as_ref().map(|r| &r.path))
            .finish_non_exhaustive()
    }
}

/// Query-only connections, opened on demand and kept for reuse.
struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

/// At most this many idle readers are kept; more can exist briefly (one per thread reading at once).
const KEEP: usize = 8;

/// The file a `sqlite:` URL names (`None` for an in-memory database).
pub fn path_of(url: &str) -> anyhow::Result<Option<PathBuf>> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| anyhow::anyhow!("a SQLite URL starts with sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.split('&').any(|p| p == "mode=memory") {
        return Ok(None);
    }
    Ok(Some(PathBuf::from(path)))
}

impl Sqlite {
    /// Opens the database a `sqlite:` URL names, creating the file when missing.
    pub fn open(url: &str, acquire_timeout: Duration) -> anyhow::Result<Sqlite> {
        use anyhow::Context;
        let path = path_of(url)?;
        let writer = match &path {
            Some(path) => Connection::open(path).with_context(|| format!("opening {}", path.display()))?,
            None => Connection::open_in_memory()?,
        };
        // WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
        writer.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;",
        )?;
        writer.set_prepared_statement_cache_capacity(64);
        let checkpointer = match &path {
            Some(path) => {
                // The writer never checkpoints: a checkpoint inside a commit copies pages and fsyncs
                // the database while every queued writer waits (refresh p99 in the hundreds of ms,
                // `bench/README.md`). A thread of its own does it beside them instead.
                writer.pragma_update(None, "wal_autocheckpoint", 0)?;
                Some(spawn_checkpointer(path.clone())?)
            }
            None => None,
        };
        Ok(Sqlite {
            writer: Arc::new(AsyncMutex::new(writer)),
            _checkpointer: checkpointer,
            readers: path.map(|path| Readers {
                path,
                idle: Mutex::new(Vec::new()),
            }),
            acquire_timeout,
        })
    }

    /// Waits for the writer, in arrival order.
    pub async fn writer(&self) -> Result<OwnedMutexGuard<Connection>, Error> {
        tokio::time::timeout(self.acquire_timeout, self.writer.clone().lock_owned())
            .await
            .map_err(|_| Error::Unavailable("timed out waiting for the SQLite writer".into()))
    }

    /// The writer (in use or idle) and the idle readers, for the metrics. Readers run in place on the
    /// calling thread, so one in use is seen only while another thread samples.
    pub fn stats(&self) -> crate::metrics::db::PoolStats {
        let writer_busy = usize::from(self.writer.try_lock().is_err());
        let readers = self
            .readers
            .as_ref()
            .map_or(0, |r| r.idle.lock().unwrap_or_else(|e| e.into_inner()).len());
        crate::metrics::db::PoolStats {
            idle: readers + 1 - writer_busy,
            in_use: writer_busy,
            max: 1 + if self.readers.is_some() { KEEP } else { 0 },
        }
    }

    /// Runs `read` on a reader (or, in memory, on the writer).
    pub async fn read<T>(&self, read: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        match &self.readers {
            Some(readers) => readers.with(read),
            None => read(&*self.writer().await?),
        }
    }
}

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Starts the thread that checkpoints the WAL of `path` until the returned sender is dropped. A
/// passive checkpoint never blocks readers or the writer; it copies what no reader still needs.
fn spawn_checkpointer(path: PathBuf) -> anyhow::Result<std::sync::mpsc::Sender<()>> {
    let conn = Connection::open(&path)?;
    conn.busy_timeout(Duration::from_millis(100))?;
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_EVERY) {
                if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                    tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
                }
            }
            // A last full checkpoint leaves the database file complete when Rampart stops.
            let _ = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        })?;
    Ok(stop)
}

impl Readers {
    fn open(&self) -> rusqlite::Result<Connection> {
        // Opened read-write but `query_only`: a read-only handle cannot recreate the WAL's shared-memory
        // file, which SQLite removes whenever the last connection to the database closes.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.path, flags)?;
        conn.pragma_update(None, "query_only", true)?;
        // A reader waits for a lock only while a checkpoint resets the WAL, which is brief.
        conn.busy_timeout(Duration::from_millis(1000))?;
        conn.set_prepared_statement_cache_capacity(32);
        Ok(conn)
    }

    fn with<T>(&self, read: impl FnOnce(&Connection) -> Result<T, Error>) -> Result<T, Error> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open()?,
        };
        let result = read(&conn);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        result
    }
}

/// Every row of `sql` (a cached statement with `$n` placeholders).
pub fn query<T: FromRow>(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> Result<Vec<T>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let mut all = Vec::new();
    while let Some(r) = rows.next()? {
        all.push(T::from_row(&Row::Sqlite(r))?);
    }
    Ok(all)
}

/// The first row of `sql`, if any.
pub fn query_opt<T: FromRow>(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> Result<Option<T>, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    match rows.next()? {
        Some(r) => Ok(Some(T::from_row(&Row::Sqlite(r))?)),
        None => Ok(None),
    }
}

/// Runs a statement that returns no rows; the number of rows it changed.
pub fn execute(conn: &Connection, sql: &str, args: &[Arg<'_>]) -> Result<u64, Error> {
    let mut stmt = conn.prepare_cached(sql)?;
    bind(&mut stmt, args)?;
    Ok(stmt.raw_execute()? as u64)
}

/// Binds `args` to a statement written with `$n` placeholders, by number: SQLite numbers `$n`
/// parameters in order of first appearance, not by `n`.
fn bind(stmt: &mut Statement<'_>, args: &[Arg<'_>]) -> Result<(), Error> {
    for index in 1..=stmt.parameter_count() {
        let n: usize = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$')?.parse().ok())
            .ok_or(rusqlite::Error::InvalidParameterName(format!("parameter {index}")))?;
        let arg = args
            .get(n.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(n, args.len()))?;
        match *arg {
            Arg::Text(Some(t)) => stmt.raw_bind_parameter(index, t)?,
            Arg::Int(Some(i)) => stmt.raw_bind_parameter(index, i)?,
            Arg::Id(Some(id)) => {
                let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
                stmt.raw_bind_parameter(index, &*id.hyphenated().encode_lower(&mut buf))?
            }
            Arg::Time(Some(t)) => stmt.raw_bind_parameter(index, unix_ms(t))?,
            Arg::Bool(Some(b)) => stmt.raw_bind_parameter(index, i64::from(b))?,
            Arg::Text(None) | Arg::Int(None) | Arg::Id(None) | Arg::Time(None) | Arg::Bool(None) => {
                stmt.raw_bind_parameter(index, rusqlite::types::Null)?
            }
        }
    }
    Ok(())
}

/// Applies the migrations `sqlx::migrate!` embedded, recording them in `_sqlx_migrations` as sqlx
/// does, so databases created by earlier releases (migrated by sqlx) carry on where they were.
pub fn migrate(conn: &mut Connection, migrator: &sqlx::migrate::Migrator) -> anyhow::Result<()> {
    use anyhow::Context;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS _sqlx_migrations (
            version BIGINT PRIMARY KEY,
            description TEXT NOT NULL,
            installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
            success BOOLEAN NOT NULL,
            checksum BLOB NOT NULL,
            execution_time BIGINT NOT NULL
        );",
    )?;
    let applied: Vec<(i64, Vec<u8>, bool)> = {
        let mut stmt = conn.prepare("SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    if let Some((version, _, _)) = applied.iter().find(|(_, _, ok)| !ok) {
        anyhow::bail!("migration {version} failed earlier and left the database dirty");
    }
    for migration in migrator.iter() {
        if let Some((_, checksum, _)) = applied.iter().find(|(v, _, _)| *v == migration.version) {
            anyhow::ensure!(
                checksum.as_slice() == &*migration.checksum,
                "migration {} was applied but has been changed since",
                migration.version
            );
            continue;
        }
        let started = std::time::Instant::now();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(migration.sql.as_str())
            .with_context(|| format!("applying migration {}", migration.version))?;
        tx.execute(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (?1, ?2, TRUE, ?3, ?4)",
            rusqlite::params![
                migration.version,
                &*migration.description,
                &*migration.checksum,
                started.elapsed().as_nanos() as i64
            ],
        )?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_urls_name_a_path() {
        assert_eq!(
            path_of("sqlite:///var/lib/rampart/rampart.db?mode=rwc").unwrap(),
            Some(PathBuf::from("/var/lib/rampart/rampart.db"))
        );
        assert_eq!(path_of("sqlite:data/r.db").unwrap(), Some(PathBuf::from("data/r.db")));
        assert_eq!(path_of("sqlite::memory:").unwrap(), None);
        assert_eq!(path_of("sqlite://file.db?mode=memory").unwrap(), None);
        assert!(path_of("postgres://localhost/db").is_err());
    }

    #[test]
    fn dollar_placeholders_bind_by_number_whatever_their_order() {
        let conn = Connection::open_in_memory().unwrap();
        let got: Vec<(String,)> = query(
            &conn,
            "SELECT $2 || '-' || $1 || '-' || $2",
            &[Arg::Text(Some("a")), Arg::Text(Some("b"))],
        )
        .unwrap();
        assert_eq!(got[0].0, "b-a-b");
        let missing = query::<(String,)>(&conn, "SELECT $3", &[Arg::Text(Some("a"))]);
        assert!(missing.is_err(), "a missing argument is an error, not NULL");
    }

    #[test]
    fn ids_and_instants_are_stored_as_text_and_milliseconds() {
        let conn = Connection::open_in_memory().unwrap();
        let id = uuid::Uuid::now_v7();
        let at = super::super::value::from_unix_ms(1_700_000_000_123).unwrap();
        let got: Vec<(String, i64)> = query(
            &conn,
            "SELECT typeof($1) || ':' || $1, $2",
            &[Arg::Id(Some(id)), Arg::Time(Some(at))],
        )
        .unwrap();
        assert_eq!(got[0], (format!("text:{id}"), 1_700_000_000_123));
    }
}
