//! The JSON shape of a post.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::error::Result;
use crate::media::sizes::{Size, rendition_size};
use crate::media::storage::{ImageUrls, MediaStore, content_type_of};
use crate::store::posts::PostRow;

// The views borrow their text from the row instead of copying it: a feed page builds twenty of them,
// and allocation was the largest single cost of a page (`bench/README.md`, the (d1) profile). Only the
// URLs, which the storage driver builds per request, are owned.

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorView<'a> {
    pub id: uuid::Uuid,
    pub username: &'a str,
    pub display_name: Option<&'a str>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView<'a> {
    /// The sanitised original.
    pub url: String,
    /// Longest side at most 1080 px.
    pub display_url: String,
    /// Longest side at most 320 px.
    pub thumbnail_url: String,
    pub width: i64,
    pub height: i64,
    pub content_type: &'a str,
    pub bytes: i64,
    /// A compact placeholder to show while the image loads.
    pub blurhash: &'a str,
    /// Every downscaled rendition the post has, for `<picture>` / `srcset`: the display and
    /// thumbnail renditions in JPEG (PNG when translucent), always, and the same in WebP for posts
    /// uploaded since WebP renditions exist. Grouped by `name`, the JPEG/PNG one first.
    pub renditions: Vec<RenditionView>,
}

/// One rendition of a post's image.
#[derive(Debug, Serialize, ToSchema)]
pub struct RenditionView {
    /// `display` (longest side at most 1080 px) or `thumbnail` (at most 320 px).
    #[schema(example = "display")]
    pub name: &'static str,
    /// `image/webp`, `image/jpeg` or `image/png`.
    #[schema(example = "image/webp")]
    pub content_type: &'static str,
    /// Width in pixels of the bytes at `url`.
    pub width: u32,
    /// Height in pixels of the bytes at `url`.
    pub height: u32,
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostView<'a> {
    pub id: uuid::Uuid,
    pub author: AuthorView<'a>,
    pub caption: &'a str,
    pub tags: Vec<&'a str>,
    pub image: ImageView<'a>,
    #[schema(value_type = String)]
    pub created_at: Rfc3339,
    #[schema(value_type = String)]
    pub updated_at: Rfc3339,
    /// Bumped on every change; `ETag` is derived from it.
    pub version: i64,
}

/// An instant serialised as RFC 3339 text, formatted on the stack rather than into a `String`.
#[derive(Debug, Clone, Copy)]
pub struct Rfc3339(pub OffsetDateTime);

impl Serialize for Rfc3339 {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        // `2026-12-06T03:40:00.123456789Z` is 30 bytes; offsets other than Z add 5.
        let mut buf = [0u8; 40];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let formatted = self
            .0
            .format_into(&mut cursor, &time::format_description::well_known::Rfc3339);
        // The cursor's position, not `format_into`'s count, which leaves out the trailing `Z`.
        let len = usize::try_from(cursor.position()).unwrap_or(0);
        match formatted {
            Ok(_) => serializer.serialize_str(std::str::from_utf8(&buf[..len]).unwrap_or_default()),
            // Out of RFC 3339's range (years outside 0000–9999): as the String form did, empty.
            Err(_) => serializer.serialize_str(""),
        }
    }
}

/// Builds the view, asking the driver for URLs (presigned URLs are made per request).
pub async fn post_view<'a>(media: &dyn MediaStore, row: &'a PostRow) -> Result<PostView<'a>> {
    let mut urls = media.urls(&row.image).await?;
    let renditions = renditions(row, &mut urls);
    Ok(PostView {
        id: row.id,
        author: AuthorView {
            id: row.author_id,
            username: &row.author_username,
            display_name: row.author_display_name.as_deref(),
        },
        caption: &row.caption,
        tags: row.tags.split_whitespace().collect(),
        image: ImageView {
            url: urls.original,
            display_url: urls.display,
            thumbnail_url: urls.thumbnail,
            width: row.width,
            height: row.height,
            content_type: &row.content_type,
            bytes: row.bytes,
            blurhash: &row.blurhash,
            renditions,
        },
        created_at: Rfc3339(row.created_at),
        updated_at: Rfc3339(row.updated_at),
        version: row.version,
    })
}

/// The renditions of the post's image with their sizes, which follow from the original's and are computed as
/// the pipeline computed them when it made the files. The WebP URLs move into the list (nothing else
/// shows them); the JPEG/PNG ones are also the view's `display_url` and `thumbnail_url`, so they are copied.
fn renditions(row: &PostRow, urls: &mut ImageUrls) -> Vec<RenditionView> {
    let image = &row.image;
    let width = u32::try_from(row.width).unwrap_or(0);
    let height = u32::try_from(row.height).unwrap_or(0);
    let candidates = [
        (Size::Display, Some(&image.display_key), Some(urls.display.clone())),
        (Size::Display, image.display_webp_key.as_ref(), urls.display_webp.take()),
        (
            Size::Thumbnail,
            Some(&image.thumbnail_key),
            Some(urls.thumbnail.clone()),
        ),
        (
            Size::Thumbnail,
            image.thumbnail_webp_key.as_ref(),
            urls.thumbnail_webp.take(),
        ),
    ];
    let mut list = Vec::with_capacity(candidates.len());
    for (size, key, url) in candidates {
        let (Some(content_type), Some(url)) = (key.and_then(|k| content_type_of(k)), url) else {
            continue;
        };
        let (width, height) = rendition_size(width, height, size);
        list.push(RenditionView {
            name: size.name(),
            content_type,
            width,
            height,
            url,
        });
    }
    list
}

/// The entity tag of a post version.
pub fn etag(row: &PostRow) -> String {
    etag_of(row.id, row.version)
}

/// The `ETag` of a post's version: `"<id>-v<version>"`.
pub fn etag_of(id: impl std::fmt::Display, version: i64) -> String {
    format!("\"{id}-v{version}\"")
}

#[cfg(test)]
mod tests {
    use super::Rfc3339;
    use time::macros::datetime;

    #[test]
    fn instants_serialise_as_the_rfc3339_text_of_the_string_form() {
        for t in [
            datetime!(2026-12-06 03:36:53.8 UTC),
            datetime!(2026-12-06 03:36:53 UTC),
            datetime!(2026-12-06 03:36:53.123456789 UTC),
            datetime!(1999-01-02 00:00:00.000001 +05:30),
        ] {
            let json = serde_json::to_string(&Rfc3339(t)).unwrap();
            assert_eq!(json, format!("\"{}\"", crate::domain::rfc3339(t)), "{t}");
        }
    }
}
