//! PostgreSQL connections: sqlx's native `PgConnection`, pooled here.
//!
//! sqlx's own pool sends a ping before handing out a connection and another when it comes back (in a
//! spawned task), so every query cost three round trips and two task wake-ups (`bench/README.md`,
//! "Fixes"). This pool hands out a connection as it is. It checks one only when it has sat idle
//! longer than [`CHECK_IDLE_AFTER`], when the server may have closed it. A connection whose query
//! fails at the connection level is dropped, and with it every idle connection opened before the
//! failure: after a server restart none of them work, and no request should be the one to find out.

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Error;

/// An idle connection older than this is pinged before use.
const CHECK_IDLE_AFTER: Duration = Duration::from_secs(30);

/// A pool of connections to one PostgreSQL database.
pub struct Pg {
    options: PgConnectOptions,
    idle: Mutex<Vec<Idle>>,
    /// One permit per connection that may exist, idle or in use.
    permits: Arc<Semaphore>,
    acquire_timeout: Duration,
    max_connections: usize,
    /// Bumped when a connection breaks; idle connections from an older generation are dropped.
    generation: AtomicU64,
    closed: AtomicBool,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("host", &self.options.get_host())
            .field("database", &self.options.get_database())
            .finish_non_exhaustive()
    }
}

struct Idle {
    conn: PgConnection,
    since: Instant,
    generation: u64,
}

/// A connection taken from the pool; it goes back when dropped, unless it broke.
pub struct Conn {
    conn: Option<PgConnection>,
    pool: Arc<Pg>,
    generation: u64,
    /// Set while a statement runs: a connection dropped then (its request was cancelled) may be
    /// half-way through a reply, so it is closed instead of put back.
    busy: bool,
    _permit: OwnedSemaphorePermit,
}

impl Pg {
    /// A pool for `url`, with one connection opened now so that a wrong URL fails at start-up.
    pub async fn connect(url: &str, max_connections: u32, acquire_timeout: Duration) -> anyhow::Result<Arc<Pg>> {
        use anyhow::Context;
        let options = PgConnectOptions::from_str(url).context("reading the database URL")?;
        let pool = Arc::new(Pg {
            options,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(max_connections.max(1) as usize)),
            acquire_timeout,
            max_connections: max_connections.max(1) as usize,
            generation: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        });
        let first = pool.acquire().await.context("connecting to the database")?;
        drop(first);
        Ok(pool)
    }

    /// A connection, waiting up to the acquire timeout for one to be free.
    pub async fn acquire(self: &Arc<Self>) -> Result<Conn, Error> {
        let deadline = tokio::time::Instant::now() + self.acquire_timeout;
        let permit = tokio::time::timeout_at(deadline, self.permits.clone().acquire_owned())
            .await
            .map_err(|_| Error::Unavailable("timed out waiting for a database connection".into()))?
            .map_err(|_| Error::Unavailable("the connection pool is closed".into()))?;
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Unavailable("the connection pool is closed".into()));
        }
        let generation = self.generation.load(Ordering::Acquire);
        loop {
            let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some(mut idle) = idle else { break };
            if idle.generation != generation {
                continue;
            }
            if idle.since.elapsed() > CHECK_IDLE_AFTER && idle.conn.ping().await.is_err() {
                continue;
            }
            return Ok(self.conn(idle.conn, generation, permit));
        }
        let conn = tokio::time::timeout_at(deadline, self.options.connect())
            .await
            .map_err(|_| Error::Unavailable("timed out connecting to the database".into()))??;
        Ok(self.conn(conn, generation, permit))
    }

    fn conn(self: &Arc<Self>, conn: PgConnection, generation: u64, permit: OwnedSemaphorePermit) -> Conn {
        Conn {
            conn: Some(conn),
            pool: self.clone(),
            generation,
            busy: false,
            _permit: permit,
        }
    }

    /// Idle, in use and most connections, for the metrics.
    pub fn stats(&self) -> crate::metrics::db::PoolStats {
        let idle = self.idle.lock().unwrap_or_else(|e| e.into_inner()).len();
        crate::metrics::db::PoolStats {
            idle,
            in_use: self.max_connections.saturating_sub(self.permits.available_permits()),
            max: self.max_connections,
        }
    }

    /// Closes idle connections and refuses new ones.
    pub async fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.permits.close();
        let idle: Vec<Idle> = std::mem::take(&mut *self.idle.lock().unwrap_or_else(|e| e.into_inner()));
        for idle in idle {
            let _ = idle.conn.close().await;
        }
    }
}

impl Conn {
    /// The connection, for one statement whose outcome goes to [`Conn::check`].
    pub fn get(&mut self) -> Result<&mut PgConnection, Error> {
        self.busy = true;
        self.conn
            .as_mut()
            .ok_or_else(|| Error::Unavailable("the database connection broke".into()))
    }

    /// Looks at the outcome of a statement: a connection-level failure breaks this connection and
    /// every idle one opened before it.
    pub fn check<T>(&mut self, result: Result<T, sqlx::Error>) -> Result<T, sqlx::Error> {
        self.busy = false;
        if let Err(e) = &result
            && breaks_connection(e)
        {
            self.conn = None;
            self.pool.generation.fetch_add(1, Ordering::AcqRel);
        }
        result
    }

    /// Rolls back an open transaction and puts the connection back, in a task of its own: a `Tx`
    /// dropped without commit cannot wait in `Drop`. Without a runtime the connection is closed.
    pub fn roll_back_later(mut self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.conn = None;
            return;
        };
        runtime.spawn(async move {
            let Ok(conn) = self.get() else { return };
            let done = sqlx::Executor::execute(conn, "ROLLBACK").await.map(|_| ());
            let _ = self.check(done);
        });
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else { return };
        if self.busy
            || self.pool.closed.load(Ordering::Acquire)
            || self.generation != self.pool.generation.load(Ordering::Acquire)
        {
            return;
        }
        let idle = Idle {
            conn,
            since: Instant::now(),
            generation: self.generation,
        };
        self.pool.idle.lock().unwrap_or_else(|e| e.into_inner()).push(idle);
    }
}

/// Errors after which a connection cannot be trusted: the socket failed, the protocol got out of
/// step, or the server is shutting the session down (class 08, 57P).
fn breaks_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            let code = db.code().unwrap_or_default();
            code.starts_with("08") || code.starts_with("57P")
        }
        _ => false,
    }
}
