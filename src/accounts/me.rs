//! The caller's own account: read, edit profile, change password.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::UserView;
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::domain::{Bio, DisplayName, Password};
use crate::error::code;
use crate::error::{AppError, FieldErrors, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_me, update_me))
        .routes(routes!(change_password))
}

const GONE: AppError = AppError::Unauthorized {
    code: code::INVALID_TOKEN,
    detail: "The account no longer exists.",
};

/// The caller's account.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn get_me(State(state): State<AppState>, user: AuthUser) -> Result<Json<UserView>> {
    let row = store::users::find_by_id(state.db(), user.user_id).await?.ok_or(GONE)?;
    Ok(Json(UserView::from(&row)))
}

/// Distinguishes an absent field (leave as is) from `null` (clear it).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateMeRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = crate::domain::schema::display_name)]
    display_name: Option<Option<String>>,
    #[schema(schema_with = crate::domain::schema::bio)]
    bio: Option<String>,
}

/// Edit display name and bio. Any other field is refused.
#[utoipa::path(patch, path = "/api/v1/me", tag = "me", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses(
        (status = 200, body = UserView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Unknown field"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn update_me(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<UpdateMeRequest>,
) -> Result<Json<UserView>> {
    let mut errors = FieldErrors::new();
    let display_name = match req.display_name {
        Some(Some(d)) => match DisplayName::parse(&d) {
            Ok(d) => Some(Some(d)),
            Err(m) => {
                errors.insert("display_name".into(), vec![m.into()]);
                None
            }
        },
        Some(None) => Some(None),
        None => None,
    };
    let bio = match req.bio.as_deref().map(Bio::parse).transpose() {
        Ok(b) => b,
        Err(m) => {
            errors.insert("bio".into(), vec![m.into()]);
            None
        }
    };
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    let display_name = display_name.as_ref().map(|d| d.as_ref().map(DisplayName::as_str));
    let row = store::users::update_profile(state.db(), user.user_id, display_name, bio.as_ref().map(Bio::as_str))
        .await?
        .ok_or(GONE)?;
    Ok(Json(UserView::from(&row)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangePasswordRequest {
    #[schema(schema_with = crate::domain::schema::current_password)]
    current_password: String,
    #[schema(schema_with = crate::domain::schema::password)]
    new_password: String,
}

/// Change the password. Every other session of the caller ends.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", security(("bearer" = [])), request_body = ChangePasswordRequest,
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`wrong_password`"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn change_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppJson(req): AppJson<ChangePasswordRequest>,
) -> Result<StatusCode> {
    let row = crate::auth::sessions::confirm_password(&state, &user, &req.current_password).await?;
    let new =
        Password::parse(&req.new_password, Some(&row.username)).map_err(|m| AppError::invalid("new_password", m))?;
    let hash = state.hasher().hash(new.expose()).await?;
    // The new hash and the end of the other sessions land together or not at all.
    let mut tx = state.db().begin().await?;
    store::users::update_password_hash(&mut tx, user.user_id, &hash).await?;
    let ended = store::sessions::revoke_all(&mut tx, user.user_id, Some(user.session_id), "password_changed").await?;
    tx.commit().await?;
    let event = Event::PasswordChanged {
        user: user.user_id,
        sessions_ended: ended,
    };
    audit::record(&state, &meta, event).await;
    Ok(StatusCode::NO_CONTENT)
}
