//! Free-text profile fields.

/// A display name: 1–64 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<DisplayName, &'static str> {
        let s = raw.trim();
        let n = s.chars().count();
        if n == 0 || n > 64 {
            return Err("must be 1 to 64 characters");
        }
        if s.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(DisplayName(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A short biography: at most 500 characters; line breaks allowed, other control characters not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    pub fn parse(raw: &str) -> Result<Bio, &'static str> {
        let s = raw.trim();
        if s.chars().count() > 500 {
            return Err("must be at most 500 characters");
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err("must not contain control characters");
        }
        Ok(Bio(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::{Bio, DisplayName};

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(DisplayName::parse("   ").is_err());
        assert!(DisplayName::parse(&"x".repeat(65)).is_err());
        assert!(DisplayName::parse("a\u{0}b").is_err());
    }

    #[test]
    fn bios_allow_newlines_but_not_other_controls() {
        assert!(Bio::parse("line one\nline two").is_ok());
        assert!(Bio::parse("bell\u{7}").is_err());
        assert!(Bio::parse(&"x".repeat(501)).is_err());
        assert_eq!(Bio::parse("").unwrap().as_str(), "");
    }
}
