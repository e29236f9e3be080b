//! Email addresses, normalised so that uniqueness ignores letter case and surrounding space.

use std::fmt;

/// A syntactically valid, normalised (trimmed, lower-cased) email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses and normalises. ASCII addresses only: internationalised addresses are refused rather
    /// than half-supported.
    pub fn parse(raw: &str) -> Result<Email, &'static str> {
        let s = raw.trim().to_ascii_lowercase();
        if s.is_empty() {
            return Err("must not be empty");
        }
        if s.len() > 254 {
            return Err("must be at most 254 characters");
        }
        if !s.is_ascii() || s.bytes().any(|b| b.is_ascii_control() || b == b' ') {
            return Err("must be a plain ASCII address without spaces");
        }
        let (local, domain) = s.rsplit_once('@').ok_or("must contain @")?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err("has an invalid part before @");
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("has an invalid part before @");
        }
        if !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        {
            return Err("has an invalid part before @");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err("must have a domain with a dot");
        }
        for label in labels {
            let ok = !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
            if !ok {
                return Err("has an invalid domain");
            }
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Alice.B+tag@Example.COM ").unwrap().as_str(),
            "alice.b+tag@example.com"
        );
    }

    #[test]
    fn invalid_addresses_are_refused() {
        let cases = [
            ("", "empty"),
            ("plain", "no @"),
            ("@example.com", "empty local part"),
            ("a@b", "no dot in domain"),
            ("a b@example.com", "space"),
            ("a@exa mple.com", "space in domain"),
            ("a@-example.com", "label starts with hyphen"),
            ("a..b@example.com", "double dot"),
            ("ü@example.com", "non-ASCII"),
            ("a@example..com", "empty label"),
            ("a\n@example.com", "control character"),
        ];
        for (input, why) in cases {
            assert!(Email::parse(input).is_err(), "{why}: {input:?} should be refused");
        }
        assert!(
            Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err(),
            "local part too long"
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics_and_is_idempotent(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                proptest::prop_assert_eq!(Email::parse(e.as_str()).unwrap(), e);
            }
        }
    }
}
