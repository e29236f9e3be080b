//! Usernames: 3–32 characters of `[a-z0-9_]`. Input is lower-cased first, so `Alice` and `alice` are
//! the same account name.

use std::fmt;

/// A valid, lower-case username.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Username, &'static str> {
        let s = raw.trim().to_ascii_lowercase();
        let len = s.chars().count();
        if !(3..=32).contains(&len) {
            return Err("must be 3 to 32 characters");
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err("may contain only letters a-z, digits and underscores");
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn names_are_lower_cased() {
        assert_eq!(Username::parse("Alice_01").unwrap().as_str(), "alice_01");
    }

    #[test]
    fn invalid_names_are_refused() {
        for (input, why) in [
            ("ab", "too short"),
            ("a".repeat(33).as_str(), "too long"),
            ("al ice", "space"),
            ("al-ice", "hyphen"),
            ("álice", "non-ASCII letter"),
            ("../etc", "path characters"),
            ("", "empty"),
        ] {
            assert!(Username::parse(input).is_err(), "{why}: {input:?}");
        }
    }
}
