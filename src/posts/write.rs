//! Changing and deleting posts, under the authorization policy.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{etag, post_view};
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::policy::{Action, authorize};
use crate::domain::Caption;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::{AppJson, AppPath};
use crate::state::AppState;
use crate::store::{self, posts::Update};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(update_post, delete_post))
}

const NOT_FOUND: AppError = AppError::NotFound {
    code: code::POST_NOT_FOUND,
    detail: "No such post.",
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdatePostRequest {
    #[schema(schema_with = crate::domain::schema::caption)]
    caption: String,
}

/// Change the caption (the owner only). Send `If-Match` with the post's `ETag` to refuse lost updates.
#[utoipa::path(patch, path = "/api/v1/posts/{id}", tag = "posts", security(("bearer" = [])),
    params(("id" = String, Path), ("If-Match" = Option<String>, Header)), request_body = UpdatePostRequest,
    responses(
        (status = 200, body = super::views::PostView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 412, body = Problem, content_type = "application/problem+json", description = "Stale If-Match"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn update_post(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<UpdatePostRequest>,
) -> Result<Response> {
    let id = uuid::Uuid::try_parse(&id).map_err(|_| NOT_FOUND)?;
    let row = store::posts::find(state.db(), id).await?.ok_or(NOT_FOUND)?;
    if row.author_disabled_at.is_some() {
        return Err(NOT_FOUND);
    }
    authorize(
        &state,
        &user,
        Action::EditContent {
            owner_id: row.author_id,
        },
    )?;
    let caption = Caption::parse(&req.caption).map_err(|m| AppError::invalid("caption", m))?;
    let expected = match headers.get(header::IF_MATCH).map(|v| v.to_str().unwrap_or_default()) {
        None => None,
        Some("*") => Some(row.version),
        Some(tag) if tag == etag(&row) => Some(row.version),
        Some(_) => return Err(AppError::PreconditionFailed),
    };
    let mut tx = state.db().begin().await?;
    let outcome = store::posts::update_caption(&mut tx, id, caption.as_str(), caption.tags(), expected).await?;
    tx.commit().await?;
    let updated = match outcome {
        Update::Updated(row) => row,
        Update::VersionMismatch => return Err(AppError::PreconditionFailed),
        Update::NotFound => return Err(NOT_FOUND),
    };
    let mut res = Json(post_view(state.media().as_ref(), &updated).await?).into_response();
    if let Ok(v) = HeaderValue::from_str(&etag(&updated)) {
        res.headers_mut().insert(header::ETAG, v);
    }
    Ok(res)
}

/// Delete a post and its media: the owner, a moderator or an admin.
#[utoipa::path(delete, path = "/api/v1/posts/{id}", tag = "posts", security(("bearer" = [])), params(("id" = String, Path)),
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn delete_post(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode> {
    let id = uuid::Uuid::try_parse(&id).map_err(|_| NOT_FOUND)?;
    let row = store::posts::find(state.db(), id).await?.ok_or(NOT_FOUND)?;
    authorize(
        &state,
        &user,
        Action::RemoveContent {
            owner_id: row.author_id,
        },
    )?;
    // The row goes first: should removing the media fail, what is left is an unowned object that
    // reconciliation removes, never a post pointing at nothing.
    if !store::posts::delete(state.db(), id).await? {
        return Err(NOT_FOUND);
    }
    if let Err(e) = state.media().remove(&row.image).await {
        tracing::error!(error = %e, post_id = %id, "media removal failed; reconcile will remove it");
    }
    if user.user_id != row.author_id {
        let event = Event::PostRemovedByModerator {
            moderator: user.user_id,
            author: row.author_id,
            post: id,
        };
        audit::record(&state, &meta, event).await;
    }
    Ok(StatusCode::NO_CONTENT)
}
