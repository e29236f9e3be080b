//! Passwords: 8–128 characters after Unicode NFC normalisation. Spaces and any script are accepted and
//! nothing is truncated; there are no composition rules, but common passwords and passwords containing
//! the username are refused.

use std::collections::HashSet;
use std::sync::LazyLock;

use secrecy::{ExposeSecret, SecretString};
use unicode_normalization::UnicodeNormalization;

static COMMON: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// A password that meets the policy. Never printed: `Debug` shows a placeholder.
pub struct Password(SecretString);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    /// Checks the policy. `username` is the account's name, when known, to refuse passwords containing it.
    pub fn parse(raw: &str, username: Option<&str>) -> Result<Password, &'static str> {
        let normalised: String = raw.nfc().collect();
        let n = normalised.chars().count();
        if n < 8 {
            return Err("must be at least 8 characters");
        }
        if n > 128 {
            return Err("must be at most 128 characters");
        }
        let lower = normalised.to_lowercase();
        if COMMON.contains(lower.as_str()) {
            return Err("is too common; choose another");
        }
        if let Some(u) = username
            && lower.contains(&u.to_lowercase())
        {
            return Err("must not contain the username");
        }
        Ok(Password(SecretString::from(normalised)))
    }

    /// The normalised form, as hashed and verified. Login attempts go through [`normalise_attempt`], not
    /// `parse`, so that a policy change never locks existing users out.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// NFC form of a sign-in attempt, so that the same password typed on different keyboards matches.
pub fn normalise_attempt(raw: &str) -> SecretString {
    SecretString::from(raw.nfc().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn unicode_and_spaces_are_accepted_without_truncation() {
        let p = Password::parse("correct horse battery staple", None).unwrap();
        assert_eq!(p.expose(), "correct horse battery staple");
        assert!(Password::parse("пароль-длинный-ключ", None).is_ok());
        let long = "z".repeat(127) + "é";
        assert_eq!(Password::parse(&long, None).unwrap().expose().chars().count(), 128);
    }

    #[test]
    fn policy_violations_are_refused() {
        for (pw, user, why) in [
            ("short", None, "too short"),
            ("1234567", None, "seven characters"),
            ("password123", None, "common"),
            ("PassWord123", None, "common regardless of case"),
            ("xx-alice-rocks", Some("alice"), "contains the username"),
            ("xx-ALICE-rocks", Some("alice"), "contains the username in another case"),
        ] {
            assert!(Password::parse(pw, user).is_err(), "{why}: {pw}");
        }
        assert!(Password::parse(&"y".repeat(129), None).is_err(), "129 characters");
    }

    #[test]
    fn composed_and_decomposed_forms_are_the_same_password() {
        let composed = Password::parse("caf\u{e9} au lait", None).unwrap();
        let decomposed = Password::parse("cafe\u{301} au lait", None).unwrap();
        assert_eq!(composed.expose(), decomposed.expose());
    }

    #[test]
    fn debug_output_never_shows_the_password() {
        let p = Password::parse("a very secret phrase", None).unwrap();
        assert!(!format!("{p:?}").contains("secret"));
    }
}
