//! Opaque pagination cursors: a keyset position (a UUIDv7 id) that clients pass back unchanged.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::AppError;
use crate::error::code;

/// Encodes a keyset position.
pub fn encode(id: uuid::Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.hyphenated().to_string())
}

/// Decodes a cursor made by [`encode`]; anything else is a 400.
pub fn decode(cursor: &str) -> Result<uuid::Uuid, AppError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|b| uuid::Uuid::try_parse_ascii(&b).ok())
        .ok_or(AppError::BadRequest {
            code: code::INVALID_CURSOR,
            detail: "The cursor is not valid.".into(),
        })
}

/// A page size from the query: default 20, at most 100.
pub fn page_limit(limit: Option<i64>) -> Result<i64, AppError> {
    match limit {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(_) => Err(AppError::invalid("limit", "must be between 1 and 100")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_invalid_cursor(result: Result<uuid::Uuid, AppError>) -> bool {
        matches!(
            result,
            Err(AppError::BadRequest {
                code: code::INVALID_CURSOR,
                ..
            })
        )
    }

    #[test]
    fn cursors_that_are_not_ours_are_refused() {
        let cases = [
            ("", "empty"),
            ("not base64!", "outside the alphabet"),
            ("AAAA", "base64 of something that is not a UUID"),
            (
                "MDE5MGE4YjMtN2M0ZC03MDAwLTgwMDAtMDAwMDAwMDAwMDAwQ",
                "one character too many",
            ),
        ];
        for (cursor, why) in cases {
            assert!(is_invalid_cursor(decode(cursor)), "{why}: {cursor:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn every_encoded_cursor_decodes_to_its_id(bits in proptest::prelude::any::<u128>()) {
            let id = uuid::Uuid::from_u128(bits);
            let cursor = encode(id);
            proptest::prop_assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
            proptest::prop_assert_eq!(decode(&cursor).ok(), Some(id));
        }

        #[test]
        fn any_string_decodes_to_an_id_or_to_invalid_cursor(s in "\\PC{0,64}|[A-Za-z0-9_-]{40,56}") {
            match decode(&s) {
                // Whatever spelling was accepted, the id's own cursor names the same position.
                Ok(id) => proptest::prop_assert_eq!(decode(&encode(id)).ok(), Some(id)),
                other => proptest::prop_assert!(is_invalid_cursor(other), "{s:?}"),
            }
        }
    }
}
