//! `POST /api/v1/posts`: validate, sanitise, store the renditions, then write the row.

use std::time::Duration;

use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{PostView, etag, etag_of, post_view};
use super::{may_post, upload};
use crate::auth::extract::AuthUser;
use crate::config::PostSettings;
use crate::domain::{Caption, now};
use crate::error::{AppError, Problem, Result};
use crate::http::idempotency::{self, Replayable, set_header};
use crate::media::image::{self, Limits, Processed};
use crate::media::storage::{ImageSet, Rendition, new_base_key};
use crate::state::AppState;
use crate::store;
use uuid::Uuid;

pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let body_limit = state.settings().posts.upload_body_limit();
    OpenApiRouter::new()
        .routes(routes!(create_post))
        .layer(DefaultBodyLimit::max(body_limit))
}

/// The multipart form, for the API document.
// `Deserialize` only so that `deny_unknown_fields` reaches the document as `additionalProperties: false`
// (the upload reader refuses any other part); the body is never deserialised into this type.
#[derive(ToSchema, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct UploadForm {
    /// JPEG, PNG, WebP or GIF; decided from the bytes. Animated images keep their first frame.
    #[schema(format = Binary, value_type = String)]
    image: Vec<u8>,
    #[schema(schema_with = crate::domain::schema::caption)]
    caption: Option<String>,
}

/// Create a post from one image and a caption.
#[utoipa::path(post, path = "/api/v1/posts", tag = "posts", security(("bearer" = [])),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    params(idempotency::Header),
    responses(
        (status = 201, body = PostView, description = "Created; `Location` and `ETag` are set"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed multipart, extra parts"),
        (status = 413, body = Problem, content_type = "application/problem+json"),
        (status = 415, body = Problem, content_type = "application/problem+json", description = "Not an accepted image type"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Bad caption, broken or hostile image, key reused with another body"),
        (status = 429, body = Problem, content_type = "application/problem+json", description = "Quota"),
        (status = 502, body = Problem, content_type = "application/problem+json"),
        (status = 503, body = Problem, content_type = "application/problem+json"),
        (status = 504, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn create_post(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    multipart: std::result::Result<Multipart, MultipartRejection>,
) -> Result<Response> {
    may_post(&state, &user)?;
    let key = idempotency::key(&headers)?;
    if key.is_none() {
        // Refuse early, before reading the body; a keyed retry must reach its replay even at quota.
        check_quota(state.db(), &state.settings().posts, user.user_id, 0).await?;
    }
    // Held until the answer: the body, then its decoded and re-encoded forms, are in memory till then.
    let limit = state.settings().posts.upload_limit_bytes;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let _memory = state
        .upload_budget()
        .reserve(
            announced
                .unwrap_or(usize::MAX)
                .min(state.settings().posts.upload_body_limit()),
        )
        .await?;
    let upload = upload::read(multipart, limit, announced).await?;
    state.metrics().inspect(|m| m.upload(upload.image.len()));
    let caption = Caption::parse(&upload.caption).map_err(|m| AppError::invalid("caption", m))?;

    let Some(key) = key else {
        return create(&state, &user, caption, upload.image).await;
    };
    // The same caption and image make the same request.
    let fingerprint = idempotency::fingerprint(&[caption.as_str().as_bytes(), &upload.image]);
    if let Some(replay) = idempotency::claim(&state, user.user_id, &key, &fingerprint, replayed_headers).await? {
        return Ok(replay);
    }
    let result = create(&state, &user, caption, upload.image).await;
    idempotency::settle(&state, user.user_id, &key, result).await
}

/// A replayed creation answers with the `Location` and `ETag` of the post it created.
fn replayed_headers(saved: &serde_json::Value) -> Vec<(HeaderName, String)> {
    match (saved["id"].as_str(), saved["version"].as_i64()) {
        (Some(id), Some(version)) => vec![
            (header::LOCATION, format!("/api/v1/posts/{id}")),
            (header::ETAG, etag_of(id, version)),
        ],
        _ => Vec::new(),
    }
}

/// Sanitises, stores and records the post; the created response is also saved for the key, if any.
async fn create(state: &AppState, user: &AuthUser, caption: Caption, bytes: bytes::Bytes) -> Result<Response> {
    let mut processed = sanitise(state, bytes).await?;
    let original_bytes = processed.original.bytes.len();
    // Early, before anything is stored; `insert_within_quota` decides.
    check_quota(state.db(), &state.settings().posts, user.user_id, original_bytes as u64).await?;
    // The encoded renditions move into the set: no second copy of each image is held.
    let set = ImageSet {
        original: rendition(&mut processed.original),
        display: rendition(&mut processed.display),
        thumbnail: rendition(&mut processed.thumbnail),
        display_webp: processed.display_webp.as_mut().map(rendition),
        thumbnail_webp: processed.thumbnail_webp.as_mut().map(rendition),
    };
    let base_key = new_base_key();
    let timeout = Duration::from_millis(state.settings().storage.timeout_ms);
    let stored = tokio::time::timeout(timeout, state.media().store(&base_key, set))
        .await
        .map_err(|_| {
            // The driver's own future was dropped, so `metrics::storage` never saw this one.
            (state.metrics()).inspect(|m| m.storage_error(state.media().name(), "store", "timeout"));
            crate::media::storage::StorageError::TimedOut
        })??;
    let id = crate::store::new_id();
    let new = store::posts::NewPost {
        id,
        author_id: user.user_id,
        caption: caption.as_str(),
        tags: caption.tags(),
        image: &stored,
        width: i64::from(processed.original.width),
        height: i64::from(processed.original.height),
        bytes: original_bytes as i64,
        content_type: processed.original.format.content_type(),
        sha256: &processed.sha256,
        blurhash: &processed.blurhash,
    };
    if let Err(err) = insert_within_quota(state, new).await {
        // The row failed, so the renditions belong to nobody: remove them now.
        if let Err(e) = state.media().remove(&stored).await {
            tracing::error!(error = %e, base_key, "could not remove renditions of a failed post; reconcile will");
        }
        return Err(err);
    }
    let row = store::posts::find(state.db(), id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("post vanished after insert"))?;
    let view = post_view(state.media().as_ref(), &row).await?;
    let body = serde_json::to_string(&view).map_err(anyhow::Error::from)?;
    let mut res = (
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.clone(),
    )
        .into_response();
    set_header(&mut res, header::LOCATION, &format!("/api/v1/posts/{id}"));
    set_header(&mut res, header::ETAG, &etag(&row));
    res.extensions_mut().insert(Replayable(body));
    Ok(res)
}

fn rendition(e: &mut image::Encoded) -> Rendition {
    Rendition {
        bytes: bytes::Bytes::from(std::mem::take(&mut e.bytes)),
        content_type: e.format.content_type(),
        extension: e.format.extension(),
    }
}

/// Decodes and re-encodes on a blocking thread, at most `posts.image_concurrency` at once, so a flood
/// of uploads queues here instead of starving the threads that serve reads.
async fn sanitise(state: &AppState, bytes: bytes::Bytes) -> Result<Processed> {
    let p = &state.settings().posts;
    let limits = Limits {
        max_width: p.max_dimension,
        max_height: p.max_dimension,
        max_pixels: p.max_pixels,
        webp: state.media().stores_webp(),
        ..Limits::default()
    };
    let _permit = state
        .image_permits()
        .acquire()
        .await
        .map_err(|e| anyhow::anyhow!("image permits closed: {e}"))?;
    let started = std::time::Instant::now();
    let result = tokio::task::spawn_blocking(move || image::process(bytes, &limits))
        .await
        .map_err(|e| anyhow::anyhow!("image task failed: {e}"))?;
    state.metrics().inspect(|m| m.image_processed(started.elapsed()));
    result.map_err(|e| {
        let detail = e.to_string();
        match e.status() {
            415 => AppError::UnsupportedMediaType { code: e.code(), detail },
            _ => AppError::Unprocessable { code: e.code(), detail },
        }
    })
}

/// Per-user quotas: posts per hour and stored bytes per day, counted from the posts table so that
/// every instance agrees.
async fn check_quota(ex: impl store::Exec, settings: &PostSettings, author: Uuid, incoming_bytes: u64) -> Result<()> {
    let now = now();
    let (hour, day) = (time::Duration::HOUR, time::Duration::DAY);
    let usage = store::posts::usage(ex, author, now - hour, now - day).await?;
    let retry_after = |oldest: Option<time::OffsetDateTime>, window: time::Duration| {
        let wait = oldest.map(|t| t + window - now).unwrap_or(time::Duration::SECOND);
        Duration::try_from(wait.max(time::Duration::SECOND)).unwrap_or(Duration::from_secs(1))
    };
    if usage.posts_since_hour >= i64::from(settings.posts_per_hour) {
        return Err(AppError::RateLimited {
            retry_after: retry_after(usage.oldest_since_hour, hour),
        });
    }
    if usage.bytes_since_day as u64 + incoming_bytes > settings.bytes_per_day {
        return Err(AppError::RateLimited {
            retry_after: retry_after(usage.oldest_since_day, day),
        });
    }
    Ok(())
}

/// Inserts the post if the author's quota still allows it. The check runs again inside the insert's
/// transaction, serialised per author, so parallel uploads cannot together pass the quota.
async fn insert_within_quota(state: &AppState, new: store::posts::NewPost<'_>) -> Result<()> {
    let mut tx = state.db().begin().await?;
    tx.serialise(store::Lock::AuthorQuota(new.author_id)).await?;
    check_quota(&mut tx, &state.settings().posts, new.author_id, new.bytes as u64).await?;
    store::posts::insert(&mut tx, new).await?;
    tx.commit().await?;
    Ok(())
}
