//! The hot reads on SQLite, run in place instead of through sqlx's worker thread.
//!
//! sqlx gives every SQLite connection its own thread and passes each statement and each row across a
//! channel to it. For a primary-key lookup that takes microseconds in SQLite itself, the two thread
//! wake-ups around it cost far more: profiling `GET /api/v1/posts/{id}` showed 64% of the time in the
//! kernel switching threads and under 1% in SQLite (`bench/README.md`, "Fixes"). The reads that every
//! request makes (the session behind a token, a post, a feed page) therefore run here: on the calling
//! thread, on a small pool of read-only connections to the same file, with cached statements.
//!
//! WAL mode lets these readers run during a write and see everything committed before they start, so
//! a read after a write through sqlx sees it. They are short by construction: indexed lookups and one
//! `LIMIT`ed page. Writes, and every other read, stay on sqlx. PostgreSQL has no such path: there the
//! cost is the round trip to the server, which no client-side change removes.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Statement, ToSql};

/// Query-only connections to one SQLite file, opened on demand and kept for reuse.
pub struct Reader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

/// At most this many connections are kept; more can exist briefly (one per thread reading at once).
const KEEP: usize = 8;

impl Reader {
    /// A reader for the file a `sqlite:` URL names; none for in-memory databases, which another
    /// connection cannot see.
    pub fn for_url(url: &str) -> Option<Reader> {
        let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
        let path = rest.split('?').next().unwrap_or_default();
        if path.is_empty() || path.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        Some(Reader {
            path: PathBuf::from(path),
            idle: Mutex::new(Vec::new()),
        })
    }

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

    /// Runs `read` on an idle connection (opening one if none is idle) and puts it back.
    pub fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, sqlx::Error> {
        let taken = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match taken {
            Some(conn) => conn,
            None => self.open().map_err(to_sqlx)?,
        };
        let result = read(&conn).map_err(to_sqlx);
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < KEEP {
            idle.push(conn);
        }
        result
    }

    /// The first row of `sql` (cached statement, `$n` placeholders), mapped by `row`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Option<T>, sqlx::Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, args)?;
            stmt.raw_query().next()?.map(row).transpose()
        })
    }

    /// Every row of `sql` (cached statement, `$n` placeholders), mapped by `row`.
    pub fn query_all<T>(
        &self,
        sql: &str,
        args: &[&dyn ToSql],
        row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<Vec<T>, sqlx::Error> {
        self.with(|conn| {
            let mut stmt = conn.prepare_cached(sql)?;
            bind(&mut stmt, args)?;
            let mut rows = stmt.raw_query();
            let mut all = Vec::new();
            while let Some(r) = rows.next()? {
                all.push(row(r)?);
            }
            Ok(all)
        })
    }
}

/// Binds `args` to a statement written with `$n` placeholders, by name: SQLite numbers `$n`
/// parameters in order of first appearance, not by `n`.
pub fn bind(stmt: &mut Statement<'_>, args: &[&dyn ToSql]) -> rusqlite::Result<()> {
    for index in 1..=stmt.parameter_count() {
        let n: usize = stmt
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$')?.parse().ok())
            .ok_or(rusqlite::Error::InvalidParameterName(format!("parameter {index}")))?;
        let arg = args
            .get(n.wrapping_sub(1))
            .ok_or(rusqlite::Error::InvalidParameterCount(n, args.len()))?;
        stmt.raw_bind_parameter(index, arg)?;
    }
    Ok(())
}

/// Column `index` of a row, which debug builds (the tests) check is named `name`: reading by position
/// skips the name lookup, a string comparison per column per row, and the check keeps the position
/// honest when a `SELECT` changes.
pub fn column<T: rusqlite::types::FromSql>(row: &rusqlite::Row<'_>, index: usize, name: &str) -> rusqlite::Result<T> {
    debug_assert_eq!(row.as_ref().column_name(index).ok(), Some(name), "column {index}");
    row.get(index)
}

/// SQLite's busy and locked results mean "try again shortly" (a 503); anything else is a bug.
fn to_sqlx(err: rusqlite::Error) -> sqlx::Error {
    match err.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => sqlx::Error::PoolTimedOut,
        _ => sqlx::Error::Protocol(format!("sqlite read: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_file_urls_get_a_reader() {
        let r = Reader::for_url("sqlite:///var/lib/rampart/rampart.db?mode=rwc").unwrap();
        assert_eq!(r.path, PathBuf::from("/var/lib/rampart/rampart.db"));
        assert_eq!(
            Reader::for_url("sqlite:data/r.db").unwrap().path,
            PathBuf::from("data/r.db")
        );
        assert!(Reader::for_url("sqlite::memory:").is_none());
        assert!(Reader::for_url("sqlite://file.db?mode=memory").is_none());
        assert!(Reader::for_url("postgres://localhost/db").is_none());
    }

    #[test]
    fn dollar_placeholders_bind_by_number_whatever_their_order() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("SELECT $2 || '-' || $1 || '-' || $2").unwrap();
        bind(&mut stmt, &[&"a", &"b"]).unwrap();
        let got: String = stmt.raw_query().next().unwrap().unwrap().get(0).unwrap();
        assert_eq!(got, "b-a-b");
        let mut stmt = conn.prepare("SELECT $3").unwrap();
        assert!(
            bind(&mut stmt, &[&"a"]).is_err(),
            "a missing argument is an error, not NULL"
        );
    }
}
