//! Captions: 0–2200 characters, with up to 30 `#hashtags` extracted.

/// A valid caption and its hashtags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption {
    text: String,
    tags: Vec<String>,
}

pub const MAX_CHARS: usize = 2200;
pub const MAX_TAGS: usize = 30;

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
    let t = raw.trim().trim_start_matches('#').to_lowercase();
    let ok = !t.is_empty() && t.chars().count() <= 64 && t.chars().all(|c| c.is_alphanumeric() || c == '_');
    ok.then_some(t)
}

fn extract_tags(text: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // A tag starts at `#` that does not follow a word character (so `a#b` is not a tag).
        let starts = chars[i] == '#' && (i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_'));
        if starts {
            let body: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_alphanumeric() || **c == '_')
                .take(64)
                .collect();
            i += 1 + body.chars().count();
            if !body.is_empty() {
                let tag = body.to_lowercase();
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
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
}
