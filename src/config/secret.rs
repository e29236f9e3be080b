//! Secrets in settings are `SecretString`s: `Debug` prints them redacted and reading one takes an explicit
//! `expose_secret()`. Settings serialise only for figment's defaults layer and `rampart config check`, so
//! a secret serialises masked: no path writes one out.

use secrecy::{ExposeSecret, SecretString};
use serde::Serializer;

/// Serialises a secret as `***` (or `null` when unset).
pub fn masked<S: Serializer>(secret: &Option<SecretString>, out: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => out.serialize_some("***"),
        None => out.serialize_none(),
    }
}

/// Serialises a URL with its password hidden (`postgres://app:***@db/rampart`), or `null` when unset.
pub fn redacted_url<S: Serializer>(url: &Option<SecretString>, out: S) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => out.serialize_some(&redact_url(url.expose_secret())),
        None => out.serialize_none(),
    }
}

/// The secret's text, trimmed, or `None` when unset or blank.
pub fn non_empty(secret: &Option<SecretString>) -> Option<&str> {
    secret
        .as_ref()
        .map(|s| s.expose_secret().trim())
        .filter(|s| !s.is_empty())
}

/// Hides the password in a URL such as `postgres://user:secret@host/db`.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = &url[scheme + 3..at];
            let user = creds.split(':').next().unwrap_or_default();
            format!("{}://{}:***@{}", &url[..scheme], user, &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/rampart"),
            "postgres://app:***@db:5432/rampart"
        );
        assert_eq!(redact_url("sqlite://data/rampart.db"), "sqlite://data/rampart.db");
    }
}
