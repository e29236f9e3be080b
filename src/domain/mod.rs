//! Validated domain values. Each can only be obtained through `parse`, so a handler that holds one
//! knows it is valid; request bodies are turned into these once, at the edge.

pub mod assurance;
pub mod caption;
pub mod email;
pub mod password;
pub mod profile;
pub mod role;
pub mod schema;
pub mod username;

pub use caption::Caption;
pub use email::Email;
pub use password::Password;
pub use profile::{Bio, DisplayName};
pub use role::Role;
pub use username::Username;

use time::OffsetDateTime;

/// The current instant, to the millisecond: what both engines store exactly, so a value read back
/// equals the one written.
pub fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_millisecond(t.millisecond()).unwrap_or(t)
}

/// Unix milliseconds of an instant.
pub fn unix_ms(t: OffsetDateTime) -> i64 {
    t.unix_timestamp_nanos().div_euclid(1_000_000) as i64
}

/// The instant `ms` Unix milliseconds name, if it is in range.
pub fn from_unix_ms(ms: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

/// An instant in RFC 3339, the API format for instants.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
