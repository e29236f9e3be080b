//! Public profiles.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::PublicProfile;
use crate::domain::Username;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::extract::AppPath;
use crate::state::AppState;
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_profile))
}

const NOT_FOUND: AppError = AppError::NotFound {
    code: code::USER_NOT_FOUND,
    detail: "No such user.",
};

/// A user's public profile: no email, no role, no hash. Disabled accounts are not shown.
#[utoipa::path(get, path = "/api/v1/users/{username}", tag = "users",
    params(("username" = String, Path)),
    responses((status = 200, body = PublicProfile), (status = 404, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn get_profile(State(state): State<AppState>, AppPath(username): AppPath<String>) -> Result<Json<PublicProfile>> {
    let username = Username::parse(&username).map_err(|_| NOT_FOUND)?;
    let row = store::users::find_by_username(state.db(), username.as_str())
        .await?
        .filter(|u| u.is_active())
        .ok_or(NOT_FOUND)?;
    Ok(Json(PublicProfile::from(&row)))
}
