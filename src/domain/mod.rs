//! Validated domain values. Each can only be obtained through `parse`, so a handler that holds one
//! knows it is valid; request bodies are turned into these once, at the edge.

pub mod caption;
pub mod email;
pub mod password;
pub mod profile;
pub mod role;
pub mod username;

pub use caption::Caption;
pub use email::Email;
pub use password::Password;
pub use profile::{Bio, DisplayName};
pub use role::Role;
pub use username::Username;

/// Current time in Unix milliseconds, the storage format for instants.
pub fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc()
        .unix_timestamp_nanos()
        .div_euclid(1_000_000) as i64
}

/// Unix milliseconds → RFC 3339, the API format for instants.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}
