//! `[database]` and `[redis]`: the stores Rampart keeps its state in. Their URLs may carry passwords, so
//! they are secrets.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::secret;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://…` or `postgres://…`; unset means `<data_dir>/rampart.db`.
    #[serde(serialize_with = "secret::redacted_url")]
    pub url: Option<SecretString>,
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        DatabaseSettings {
            url: None,
            max_connections: 16,
            acquire_timeout_ms: 3000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// `redis://host:port/db`. Set it when several instances run: rate limits are then shared.
    /// Unset: limits are kept in process.
    #[serde(serialize_with = "secret::redacted_url")]
    pub url: Option<SecretString>,
    /// Connect and response timeout; past it, auth endpoints answer 503 (fail closed).
    pub timeout_ms: u64,
    /// Prefix for every key Rampart writes.
    pub key_prefix: String,
}

impl Default for RedisSettings {
    fn default() -> Self {
        RedisSettings {
            url: None,
            timeout_ms: 500,
            key_prefix: "rampart:".into(),
        }
    }
}
