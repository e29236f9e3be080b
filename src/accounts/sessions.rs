//! The caller's sessions (signed-in devices).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::domain::rfc3339;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppPath;
use crate::state::AppState;
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_sessions))
        .routes(routes!(revoke_session))
}

#[derive(Serialize, ToSchema)]
struct SessionView {
    id: uuid::Uuid,
    created_at: String,
    last_used_at: String,
    expires_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
    /// Whether this is the session making the request.
    current: bool,
}

#[derive(Serialize, ToSchema)]
struct SessionList {
    items: Vec<SessionView>,
}

/// List the caller's live sessions, newest first.
#[utoipa::path(get, path = "/api/v1/auth/sessions", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = SessionList), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn list_sessions(State(state): State<AppState>, user: AuthUser) -> Result<Json<SessionList>> {
    let rows = store::sessions::list_live(state.db(), user.user_id).await?;
    let items = rows
        .into_iter()
        .map(|s| SessionView {
            current: s.id == user.session_id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            expires_at: rfc3339(s.idle_expires_at.min(s.absolute_expires_at)),
            id: s.id,
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    Ok(Json(SessionList { items }))
}

/// End one of the caller's sessions.
#[utoipa::path(delete, path = "/api/v1/auth/sessions/{id}", tag = "auth", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session id")),
    responses((status = 204), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn revoke_session(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode> {
    const NOT_FOUND: AppError = AppError::NotFound {
        code: code::SESSION_NOT_FOUND,
        detail: "No such live session.",
    };
    // Another user's session id gets the same 404 as a missing one, and so does a malformed one.
    let id = uuid::Uuid::try_parse(&id).map_err(|_| NOT_FOUND)?;
    if !store::sessions::revoke_owned(state.db(), user.user_id, id, "revoked_by_user").await? {
        return Err(NOT_FOUND);
    }
    let event = Event::SessionRevoked {
        user: user.user_id,
        session: id,
    };
    audit::record(&state, &meta, event).await;
    Ok(StatusCode::NO_CONTENT)
}
