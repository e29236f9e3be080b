//! Captions: 0–2200 characters, with up to 30 `#hashtags` extracted.

/// A valid caption and its hashtags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    text: String,
    tags: Vec<String>,
}

pub const MAX_CHARS: usize = 2200;
pub const MAX_TAGS: usize = 30;
/// Longest hashtag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

impl Caption {
    /// Trims, checks length and control characters, and extracts tags: `#` followed by letters,
    /// digits or `_`, lower-cased, de-duplicated in order of appearance.
    pub fn parse(raw: &str) -> Result<Caption, &'static str> {
        let text = raw.trim();
        if text.chars().count() > MAX_CHARS {
            return Err("must be at most 2200 characters");
        }
        if text.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err("must not contain control characters");
        }
        let tags = extract_tags(text);
        if tags.len() > MAX_TAGS {
            return Err("may contain at most 30 hashtags");
        }
        Ok(Caption {
            text: text.to_owned(),
            tags,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn tags(&self) -> &[String] {
        &self.tags
    }
}

/// Normalises a tag from a query (`#Sunset` or `sunset` → `sunset`), if it is one.
pub fn normalise_tag(raw: &str) -> Option<String> {
    let t = raw.trim().trim_start_matches('#');
    let ok = !t.is_empty() && t.chars().count() <= MAX_TAG_CHARS && t.chars().all(is_tag_char);
    let tag = fold(t.chars());
    (ok && !tag.is_empty()).then_some(tag)
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Lower-cases the characters of a tag. Lower-casing can yield characters that are not tag characters
/// (`İ` becomes `i` and a combining dot) and can lengthen the tag, so those are dropped and the result
/// is cut to [`MAX_TAG_CHARS`]: a tag taken from a caption is then exactly what [`normalise_tag`] makes
/// of it, and searching for it finds the post. Captions and queries share this one function for that.
fn fold(chars: impl Iterator<Item = char>) -> String {
    chars
        .flat_map(char::to_lowercase)
        .filter(|c| is_tag_char(*c))
        .take(MAX_TAG_CHARS)
        .collect()
}

fn extract_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A tag starts at `#` that does not follow a word character (so `a#b` is not a tag).
        let starts = chars[i] == '#' && (i == 0 || !is_tag_char(chars[i - 1]));
        if starts {
            let body = chars[i + 1..]
                .iter()
                .take_while(|c| is_tag_char(**c))
                .take(MAX_TAG_CHARS)
                .count();
            let tag = fold(chars[i + 1..i + 1 + body].iter().copied());
            i += 1 + body;
            if !tag.is_empty() && !tags.contains(&tag) {
                tags.push(tag);
            }
        } else {
            i += 1;
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashtags_are_extracted_lower_cased_and_unique() {
        let c = Caption::parse("Golden #Sunset at the #beach, #sunset again #über_cool a#not #").unwrap();
        assert_eq!(c.tags(), ["sunset", "beach", "über_cool"]);
    }

    #[test]
    fn captions_are_bounded() {
        assert!(Caption::parse("").is_ok(), "an empty caption is allowed");
        assert!(Caption::parse(&"x".repeat(2200)).is_ok());
        assert!(Caption::parse(&"x".repeat(2201)).is_err());
        let thirty_one: String = (0..31).map(|i| format!("#t{i} ")).collect();
        assert!(Caption::parse(&thirty_one).is_err());
        let thirty: String = (0..30).map(|i| format!("#t{i} ")).collect();
        assert_eq!(Caption::parse(&thirty).unwrap().tags().len(), 30);
        assert!(Caption::parse("bell\u{7}").is_err());
    }

    #[test]
    fn query_tags_normalise() {
        assert_eq!(normalise_tag("#Sunset").as_deref(), Some("sunset"));
        assert_eq!(normalise_tag("no spaces"), None);
        assert_eq!(normalise_tag("#"), None);
    }

    #[test]
    fn a_tag_whose_lower_case_is_not_all_word_characters_is_still_searchable() {
        // `İ` lower-cases to `i` and U+0307, which is not alphanumeric: the tag used to be stored as
        // "i\u{307}stanbul", which `normalise_tag` refuses, so no search could ever find the post.
        let c = Caption::parse("#İstanbul").unwrap();
        assert_eq!(c.tags(), ["istanbul"]);
        assert_eq!(normalise_tag("#İstanbul").as_deref(), Some("istanbul"));
        // Lower-casing 64 `İ` gives 128 characters, over the length a query may have.
        let long = Caption::parse(&format!("#{}", "İ".repeat(64))).unwrap();
        assert_eq!(long.tags(), ["i".repeat(64)]);
    }

    /// Captions made of hashtags, separators and any other text, with letters whose lower case is
    /// longer or not a word character (`İ`, `ẞ`), zero-width and control characters.
    fn caption_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let token = prop_oneof![
            r"#[a-zA-Z0-9_İẞΣǅ\x{307}]{0,70}",
            r"[ \n\t.,#\x{7}\x{200b}]{1,3}",
            r"\PC{1,8}",
        ];
        proptest::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
    }

    proptest::proptest! {
        #[test]
        fn accepted_captions_keep_their_limits_and_yield_searchable_tags(
            raw in caption_text()
        ) {
            let Ok(c) = Caption::parse(&raw) else { return Ok(()); };
            proptest::prop_assert_eq!(c.as_str(), raw.trim());
            proptest::prop_assert!(c.as_str().chars().count() <= MAX_CHARS);
            proptest::prop_assert!(c.as_str().chars().all(|ch| !ch.is_control() || ch == '\n' || ch == '\t'));
            proptest::prop_assert!(c.tags().len() <= MAX_TAGS);
            for (i, tag) in c.tags().iter().enumerate() {
                proptest::prop_assert!(!tag.is_empty() && tag.chars().count() <= MAX_TAG_CHARS, "{tag:?}");
                proptest::prop_assert!(tag.chars().all(is_tag_char), "{tag:?}");
                proptest::prop_assert_eq!(&tag.to_lowercase(), tag);
                proptest::prop_assert!(!c.tags()[..i].contains(tag), "{tag:?} twice");
                proptest::prop_assert_eq!(normalise_tag(tag), Some(tag.clone()), "not searchable");
                proptest::prop_assert!(
                    c.as_str().split('#').skip(1).any(|word| normalise_tag(
                        &word.chars().take_while(|ch| is_tag_char(*ch)).take(MAX_TAG_CHARS).collect::<String>()
                    ).as_ref() == Some(tag)),
                    "{tag:?} is not a `#word` of the caption"
                );
            }
            proptest::prop_assert_eq!(Caption::parse(c.as_str()), Ok(c.clone()), "parsing is idempotent");
        }

        #[test]
        fn a_separated_ascii_hashtag_is_always_extracted(
            before in "[a-z ]{0,20}", tag in "[a-zA-Z0-9_]{1,64}", after in "[ .,!]{1,3}[a-z ]{0,20}"
        ) {
            let c = Caption::parse(&format!("{before} #{tag}{after}")).unwrap();
            proptest::prop_assert!(c.tags().contains(&tag.to_lowercase()), "{:?}", c.tags());
            let marked = format!("#{}", tag.to_lowercase());
            proptest::prop_assert!(c.as_str().to_lowercase().contains(&marked));
        }

        #[test]
        fn captions_over_the_limits_are_refused(extra in 1usize..50, tags in 31usize..60) {
            proptest::prop_assert!(Caption::parse(&"é".repeat(MAX_CHARS + extra)).is_err());
            let many: String = (0..tags).map(|i| format!("#t{i} ")).collect();
            proptest::prop_assert_eq!(Caption::parse(&many), Err("may contain at most 30 hashtags"));
        }
    }
}
