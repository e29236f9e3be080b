//! `POST /api/v1/auth/refresh`: rotation of refresh tokens, reuse detection, and cookie mode's CSRF check.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cookies;
use super::views::TokenResponse;
use crate::auth::limits::Limit;
use crate::auth::sessions::{self, Presented};
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;

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
#[tracing::instrument(level = "debug", skip_all)]
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
            code: code::INVALID_BODY,
            detail: "Expected {\"refresh_token\": \"…\"}.".into(),
        })?;
        req.refresh_token
    };
    let cookie_mode = from_body.is_none();
    let cookie = jar.get(cookies::REFRESH_COOKIE).map(|c| c.value().to_owned());
    let presented = match (&from_body, &cookie) {
        (Some(token), _) => Presented::Body(token),
        (None, Some(token)) => Presented::Cookie {
            token,
            csrf: headers.get(cookies::CSRF_HEADER).and_then(|v| v.to_str().ok()),
        },
        (None, None) => {
            return Err(AppError::Unauthorized {
                code: code::INVALID_REFRESH_TOKEN,
                detail: "No refresh token was sent.",
            });
        }
    };
    let issued = sessions::rotate(&state, &meta, presented).await?;
    Ok(super::auth::token_answer(jar, issued, cookie_mode))
}
