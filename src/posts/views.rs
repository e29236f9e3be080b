//! The JSON shape of a post.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::rfc3339;
use crate::error::Result;
use crate::media::sizes::{Size, rendition_size};
use crate::media::storage::{ImageUrls, MediaStore, content_type_of};
use crate::store::posts::PostRow;

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorView {
    pub id: uuid::Uuid,
    pub username: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageView {
    /// The sanitised original.
    pub url: String,
    /// Longest side at most 1080 px.
    pub display_url: String,
    /// Longest side at most 320 px.
    pub thumbnail_url: String,
    pub width: i64,
    pub height: i64,
    pub content_type: String,
    pub bytes: i64,
    /// A compact placeholder to show while the image loads.
    pub blurhash: String,
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
pub struct PostView {
    pub id: uuid::Uuid,
    pub author: AuthorView,
    pub caption: String,
    pub tags: Vec<String>,
    pub image: ImageView,
    pub created_at: String,
    pub updated_at: String,
    /// Bumped on every change; `ETag` is derived from it.
    pub version: i64,
}

/// Builds the view, asking the driver for URLs (presigned URLs are made per request).
pub async fn post_view(media: &dyn MediaStore, row: &PostRow) -> Result<PostView> {
    let urls = media.urls(&row.image).await?;
    let renditions = renditions(row, &urls);
    Ok(PostView {
        id: row.id,
        author: AuthorView {
            id: row.author_id,
            username: row.author_username.clone(),
            display_name: row.author_display_name.clone(),
        },
        caption: row.caption.clone(),
        tags: row.tag_list(),
        image: ImageView {
            url: urls.original,
            display_url: urls.display,
            thumbnail_url: urls.thumbnail,
            width: row.width,
            height: row.height,
            content_type: row.content_type.clone(),
            bytes: row.bytes,
            blurhash: row.blurhash.clone(),
            renditions,
        },
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        version: row.version,
    })
}

/// The renditions of the post's image with their sizes, which follow from the original's and are computed as
/// the pipeline computed them when it made the files.
fn renditions(row: &PostRow, urls: &ImageUrls) -> Vec<RenditionView> {
    let image = &row.image;
    let width = u32::try_from(row.width).unwrap_or(0);
    let height = u32::try_from(row.height).unwrap_or(0);
    let candidates = [
        (Size::Display, Some(&image.display_key), Some(&urls.display)),
        (
            Size::Display,
            image.display_webp_key.as_ref(),
            urls.display_webp.as_ref(),
        ),
        (Size::Thumbnail, Some(&image.thumbnail_key), Some(&urls.thumbnail)),
        (
            Size::Thumbnail,
            image.thumbnail_webp_key.as_ref(),
            urls.thumbnail_webp.as_ref(),
        ),
    ];
    candidates
        .into_iter()
        .filter_map(|(size, key, url)| {
            let (width, height) = rendition_size(width, height, size);
            Some(RenditionView {
                name: size.name(),
                content_type: content_type_of(key?)?,
                width,
                height,
                url: url?.clone(),
            })
        })
        .collect()
}

/// The entity tag of a post version.
pub fn etag(row: &PostRow) -> String {
    etag_of(row.id, row.version)
}

/// The `ETag` of a post's version: `"<id>-v<version>"`.
pub fn etag_of(id: impl std::fmt::Display, version: i64) -> String {
    format!("\"{id}-v{version}\"")
}
