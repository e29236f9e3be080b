//! The JSON shape of a post.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::rfc3339;
use crate::error::Result;
use crate::media::storage::MediaStore;
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
        },
        created_at: rfc3339(row.created_at),
        updated_at: rfc3339(row.updated_at),
        version: row.version,
    })
}

/// The entity tag of a post version.
pub fn etag(row: &PostRow) -> String {
    etag_of(row.id, row.version)
}

/// The `ETag` of a post's version: `"<id>-v<version>"`.
pub fn etag_of(id: impl std::fmt::Display, version: i64) -> String {
    format!("\"{id}-v{version}\"")
}
