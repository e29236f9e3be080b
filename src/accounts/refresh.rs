//! `POST /api/v1/auth/refresh`: rotation of refresh tokens, reuse detection, and cookie mode's CSRF check.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::INVALID_CREDENTIALS;
use super::cookies;
use super::views::{TokenResponse, UserView};
use crate::audit::{self, Event};
use crate::auth::limits::Limit;
use crate::auth::secrets;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store::{self, sessions::Rotation};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(refresh_session))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RefreshRequest {
    /// Omit in cookie mode; then `X-CSRF-Token` is required.
    refresh_token: Option<String>,
}

/// Exchange a refresh token for a new access token and a new refresh token. The old refresh token
/// stops working; presenting it again revokes the whole session.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body(content = Option<RefreshRequest>),
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`invalid_refresh_token` or `refresh_token_reused`"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`csrf_failed` in cookie mode"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
async fn refresh_session(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response> {
    Limit::RefreshIp(&meta.ip).hit(&state).await?;
    let from_body = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        crate::http::extract::require_json_type(&headers)?;
        crate::http::extract::require_object(&body)?;
        let req: RefreshRequest = serde_json::from_slice(&body).map_err(|_| AppError::BadRequest {
            code: "invalid_body",
            detail: "Expected {\"refresh_token\": \"…\"}.".into(),
        })?;
        req.refresh_token
    };
    let cookie_mode = from_body.is_none();
    let token = match from_body {
        Some(t) => t,
        None => jar
            .get(cookies::REFRESH_COOKIE)
            .map(|c| c.value().to_owned())
            .ok_or(AppError::Unauthorized {
                code: "invalid_refresh_token",
                detail: "No refresh token was sent.",
            })?,
    };
    let old_hash = secrets::hash(&token);
    let Some((session_id, user_id, csrf_hash)) = store::sessions::owner_of_refresh(&state.db, &old_hash).await? else {
        return Err(AppError::Unauthorized {
            code: "invalid_refresh_token",
            detail: "The refresh token is not valid.",
        });
    };
    Limit::RefreshSession(session_id).hit(&state).await?;
    if cookie_mode {
        // Cookies ride along on cross-site requests; the header cannot, and must match this session.
        let sent = headers
            .get(cookies::CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(secrets::hash);
        let ok = matches!((sent, csrf_hash), (Some(s), Some(expected)) if secrets::equal(&s, &expected));
        if !ok {
            return Err(AppError::Forbidden {
                code: "csrf_failed",
                detail: "Missing or wrong X-CSRF-Token.",
            });
        }
    }
    let new_refresh = secrets::generate();
    let idle = time::Duration::seconds(state.settings.auth.session_idle_secs as i64);
    match store::sessions::rotate(&state.db, &old_hash, &secrets::hash(&new_refresh), idle).await? {
        Rotation::Rotated(row) => {
            let user = store::users::find_by_id(&state.db, row.user_id)
                .await?
                .ok_or(INVALID_CREDENTIALS)?;
            let access = state.keys.issue(user.id, row.session_id, user.role)?;
            let mut body = TokenResponse {
                user: UserView::from(&user),
                access_token: access,
                token_type: "Bearer",
                expires_in: state.keys.ttl_secs(),
                refresh_token: Some(new_refresh.clone()),
                csrf_token: None,
            };
            if cookie_mode {
                body.refresh_token = None;
                let remaining = (row.absolute_expires_at - crate::domain::now()).whole_seconds();
                return Ok((cookies::with_refresh(jar, new_refresh, remaining), Json(body)).into_response());
            }
            Ok(Json(body).into_response())
        }
        Rotation::Reused { session_id, user_id } => {
            tracing::warn!(%session_id, "refresh token reuse: session revoked");
            let event = Event::RefreshTokenReused {
                user: user_id,
                session: session_id,
            };
            audit::record(&state, &meta, event).await;
            Err(AppError::Unauthorized {
                code: "refresh_token_reused",
                detail: "This refresh token was already used; the session has been ended.",
            })
        }
        Rotation::Invalid => {
            let _ = (session_id, user_id);
            Err(AppError::Unauthorized {
                code: "invalid_refresh_token",
                detail: "The refresh token is not valid.",
            })
        }
    }
}
