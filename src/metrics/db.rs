//! Database metrics: statement latency by operation, recorded by `store::db`'s executors (the one place
//! every statement passes), and the connections sampled at scrape time.

use std::time::Instant;

use metrics::{Counter, Histogram, Label};
use metrics_exporter_prometheus::PrometheusRecorder;

use crate::store::Db;

pub const QUERY_DURATION: &str = "rampart_db_query_duration_seconds";
pub const QUERY_ERRORS: &str = "rampart_db_query_errors_total";
pub const CONNECTIONS: &str = "rampart_db_connections";
pub const MAX_CONNECTIONS: &str = "rampart_db_max_connections";

/// What a statement did.
#[derive(Debug, Clone, Copy)]
pub enum DbOp {
    /// A query that changes nothing.
    Read = 0,
    /// A write, with or without `RETURNING`.
    Write = 1,
    /// Starting a transaction (on SQLite, waiting for the writer).
    Begin = 2,
    Commit = 3,
}

const OPS: [&str; 4] = ["read", "write", "begin", "commit"];

pub struct DbMetrics {
    duration: [Histogram; 4],
    errors: [Counter; 4],
}

impl std::fmt::Debug for DbMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbMetrics").finish_non_exhaustive()
    }
}

impl DbMetrics {
    pub(super) fn new(recorder: &PrometheusRecorder) -> DbMetrics {
        let label = |op: &'static str| vec![Label::new("op", op)];
        DbMetrics {
            duration: OPS.map(|op| super::histogram(recorder, QUERY_DURATION, label(op))),
            errors: OPS.map(|op| super::counter(recorder, QUERY_ERRORS, label(op))),
        }
    }

    /// Records one statement that started at `started`.
    pub fn observe<T, E>(&self, op: DbOp, started: Instant, outcome: &Result<T, E>) {
        self.duration[op as usize].record(started.elapsed().as_secs_f64());
        if outcome.is_err() {
            self.errors[op as usize].increment(1);
        }
    }

    /// Sets the connection gauges from the pool as it is now.
    pub(super) fn sample_pool(&self, recorder: &PrometheusRecorder, db: &Db) {
        let stats = db.pool_stats();
        let backend = match db.backend() {
            crate::store::Backend::Sqlite => "sqlite",
            crate::store::Backend::Postgres => "postgres",
        };
        let labels = |state: &'static str| vec![Label::new("backend", backend), Label::new("state", state)];
        super::gauge(recorder, CONNECTIONS, labels("idle")).set(stats.idle as f64);
        super::gauge(recorder, CONNECTIONS, labels("in_use")).set(stats.in_use as f64);
        super::gauge(recorder, MAX_CONNECTIONS, vec![Label::new("backend", backend)]).set(stats.max as f64);
    }
}

/// Connections of a database handle at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct PoolStats {
    pub idle: usize,
    pub in_use: usize,
    pub max: usize,
}
