//! How each validated value is described in the OpenAPI document: the lengths and patterns its
//! `parse` enforces, stated once, so that a client generator (or schemathesis) knows the real limits.
//! Request types point at these with `#[schema(schema_with = …)]`. The tests below check each
//! pattern against its parser in both directions, so the two cannot drift apart.

use utoipa::openapi::Object;
use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};

use super::caption;

/// Characters a single-line text refuses: C0 and C1 controls (what `char::is_control` means).
const NO_CONTROLS: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// `Username::parse`: 3–32 of `a-z`, `0-9`, `_`, compared without case.
pub const USERNAME_PATTERN: &str = "^[A-Za-z0-9_]{3,32}$";

/// `Email::parse`: a plain ASCII address with a dot-atom local part and a domain of two or more labels
/// (letters, digits, inner hyphens, at most 63 each), 254 characters in all. The parser also limits the
/// local part to 64 characters; a look-ahead could say so, but schema-driven generators (Hypothesis,
/// under schemathesis) cannot draw from a pattern with one, so the description states it instead.
pub const EMAIL_PATTERN: &str = "^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@\
[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";

/// At least one character that is not white space (the value is trimmed).
const NOT_BLANK: &str = "\\S";

fn text(min: Option<usize>, max: usize, pattern: Option<&str>, description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min)
        .max_length(Some(max))
        .pattern(pattern)
        .description(Some(description))
}

fn nullable(b: ObjectBuilder) -> ObjectBuilder {
    b.schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

pub fn username() -> Object {
    text(
        Some(3),
        32,
        Some(USERNAME_PATTERN),
        "3–32 characters of a-z, 0-9 and `_`; compared without case.",
    )
    .build()
}

pub fn email() -> Object {
    text(
        Some(5),
        254,
        Some(EMAIL_PATTERN),
        "A plain ASCII address, at most 64 characters before the `@`; stored lower-cased.",
    )
    .build()
}

pub fn password() -> Object {
    text(
        Some(8),
        128,
        None,
        "8–128 characters (after Unicode NFC normalisation). Common passwords and passwords containing the \
         username are refused with `422`.",
    )
    .build()
}

/// The current password, re-checked: any string, so a wrong one is `403 wrong_password`, not a shape error.
pub fn current_password() -> Object {
    text(None, 1024, None, "The account's current password.").build()
}

pub fn display_name() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    // JSON Schema has one `pattern` per schema; the second requirement is an `allOf` member.
    let shape = nullable(text(
        Some(1),
        64,
        Some(NO_CONTROLS),
        "1–64 characters, no control characters; `null` clears it.",
    ));
    let not_blank = ObjectBuilder::new().schema_type(Type::String).pattern(Some(NOT_BLANK));
    let all = utoipa::openapi::schema::AllOfBuilder::new()
        .item(shape.build())
        .item(nullable(not_blank).build())
        .build();
    utoipa::openapi::RefOr::T(utoipa::openapi::Schema::AllOf(all))
}

pub fn bio() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    nullable(text(
        None,
        500,
        Some("^[^\\u0000-\\u0009\\u000B-\\u001F\\u007F-\\u009F]*$"),
        "At most 500 characters; line breaks allowed, other control characters not.",
    ))
    .build()
    .into()
}

pub fn caption() -> Object {
    text(
        None,
        caption::MAX_CHARS,
        Some("^[^\\u0000-\\u0008\\u000B-\\u001F\\u007F-\\u009F]*$"),
        "At most 2200 characters (line breaks and tabs allowed, other control characters not) and at most 30 \
         `#hashtags`.",
    )
    .build()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::{Bio, Caption, DisplayName, Email, Username};

    fn matches(pattern: &str, s: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(s)
    }

    /// The email schema: its pattern, its length and the local-part length its description states.
    fn email_schema_admits(s: &str) -> bool {
        let local = s.split('@').next().unwrap_or("");
        matches(EMAIL_PATTERN, s) && (5..=254).contains(&s.len()) && local.len() <= 64
    }

    proptest! {
        // Whatever the documented pattern admits, the parser accepts (what a client generator sends
        // is taken), and whatever the parser accepts untrimmed, the pattern admits.
        #[test]
        fn usernames_the_pattern_admits_are_accepted(s in "[A-Za-z0-9_]{3,32}") {
            prop_assert!(matches(USERNAME_PATTERN, &s));
            prop_assert!(Username::parse(&s).is_ok());
        }

        #[test]
        fn usernames_agree_with_the_pattern(s in "\\PC{0,40}") {
            if Username::parse(&s).is_ok() && s.trim() == s {
                prop_assert!(matches(USERNAME_PATTERN, &s), "{s:?}");
            }
            if matches(USERNAME_PATTERN, &s) {
                prop_assert!(Username::parse(&s).is_ok(), "{s:?}");
            }
        }

        #[test]
        fn emails_the_pattern_admits_are_accepted(
            local in "[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,20}(\\.[a-z0-9_+-]{1,10}){0,2}",
            labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 2..4),
        ) {
            let s = format!("{local}@{}", labels.join("."));
            prop_assert!(email_schema_admits(&s), "{s:?}");
            prop_assert!(Email::parse(&s).is_ok(), "{s:?}");
        }

        #[test]
        fn emails_agree_with_the_pattern(s in "[a-zA-Z0-9.@_+-]{0,30}|\\PC{0,30}") {
            if s.trim() == s {
                prop_assert_eq!(email_schema_admits(&s), Email::parse(&s).is_ok(), "{:?}", s);
            }
        }

        #[test]
        fn display_names_agree_with_the_schema(s in "\\PC{0,70}|[\\x00-\\x20a]{0,5}") {
            let n = s.chars().count();
            let schema_ok = (1..=64).contains(&n) && matches(NO_CONTROLS, &s) && matches(NOT_BLANK, &s);
            if s.trim() == s {
                prop_assert_eq!(schema_ok, DisplayName::parse(&s).is_ok(), "{:?}", s);
            }
        }

        #[test]
        fn bios_and_captions_agree_with_the_schema(s in "\\PC{0,40}|[\\x00-\\x20\\u{85}a#]{0,8}") {
            if s.trim() == s {
                let bio = bio_pattern();
                prop_assert_eq!(matches(&bio, &s), Bio::parse(&s).is_ok(), "{:?}", s);
                let caption = caption_pattern();
                prop_assert_eq!(matches(&caption, &s), Caption::parse(&s).is_ok(), "{:?}", s);
            }
        }
    }

    fn pattern_of(schema: &utoipa::openapi::RefOr<utoipa::openapi::Schema>) -> String {
        let json = serde_json::to_value(schema).unwrap();
        json["pattern"].as_str().unwrap().to_owned()
    }

    fn bio_pattern() -> String {
        pattern_of(&bio())
    }

    fn caption_pattern() -> String {
        pattern_of(&caption().into())
    }

    #[test]
    fn limits_in_the_document_are_the_parsers_limits() {
        assert!(Username::parse(&"a".repeat(32)).is_ok() && Username::parse(&"a".repeat(33)).is_err());
        assert_eq!(username().max_length, Some(32));
        assert!(Caption::parse(&"a".repeat(caption::MAX_CHARS)).is_ok());
        assert!(Caption::parse(&"a".repeat(caption::MAX_CHARS + 1)).is_err());
        assert_eq!(caption().max_length, Some(caption::MAX_CHARS));
        assert!(Bio::parse(&"a".repeat(500)).is_ok() && Bio::parse(&"a".repeat(501)).is_err());
        assert!(DisplayName::parse(&"a".repeat(64)).is_ok() && DisplayName::parse(&"a".repeat(65)).is_err());
        let long = format!("{}@example.com", "a".repeat(64));
        assert!(Email::parse(&long).is_ok() && email_schema_admits(&long));
        let too_long = format!("{}@example.com", "a".repeat(65));
        assert!(Email::parse(&too_long).is_err() && !email_schema_admits(&too_long));
        assert_eq!(email().max_length, Some(254));
    }
}
