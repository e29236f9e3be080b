//! What a store call can fail with, the same for both engines.

/// A failed store call.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database cannot be reached or is too busy right now; worth retrying (a 503).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write; names the constraint (PostgreSQL) or the column (SQLite).
    #[error("unique constraint: {0}")]
    Unique(String),
    /// A stored value does not decode into its type: data this code does not understand.
    #[error("column {column} holds an undecodable value: {detail}")]
    Decode { column: &'static str, detail: String },
    /// Anything else: a bug in a query, or a broken database.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    /// The constraint or column a unique violation names, if this is one.
    pub fn unique_violation(&self) -> Option<&str> {
        match self {
            Error::Unique(which) => Some(which),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
                Error::Unavailable(err.to_string())
            }
            sqlx::Error::Database(db) => {
                if db.kind() == sqlx::error::ErrorKind::UniqueViolation {
                    let which = db.constraint().unwrap_or_else(|| db.message()).to_owned();
                    return Error::Unique(which);
                }
                // Classes 08 (connection exception), 57P (shutdown, cannot connect now) and 53
                // (insufficient resources) mean "not now", not "wrong query".
                let code = db.code().unwrap_or_default();
                if code.starts_with("08") || code.starts_with("57P") || code.starts_with("53") {
                    return Error::Unavailable(err.to_string());
                }
                Error::Other(anyhow::Error::new(err))
            }
            _ => Error::Other(anyhow::Error::new(err)),
        }
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::{ConstraintViolation, DatabaseBusy, DatabaseLocked};
        match &err {
            rusqlite::Error::SqliteFailure(e, message) => match e.code {
                DatabaseBusy | DatabaseLocked => Error::Unavailable(err.to_string()),
                ConstraintViolation
                    if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                        || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    Error::Unique(message.clone().unwrap_or_default())
                }
                _ => Error::Other(anyhow::Error::new(err)),
            },
            _ => Error::Other(anyhow::Error::new(err)),
        }
    }
}
