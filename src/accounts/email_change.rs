//! Changing the account's address: confirmed from the new address, announced to the old one.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::verification::{bad_token, issue_link};
use super::views::UserView;
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::limits::Limit;
use crate::auth::secrets;
use crate::domain::Email;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::mail::templates;
use crate::state::AppState;
use crate::store;
use crate::store::email_tokens::Purpose;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(request_email_change))
        .routes(routes!(confirm_email_change))
}

const TAKEN: AppError = AppError::Conflict {
    code: code::EMAIL_TAKEN,
    detail: "An account with this email already exists.",
    field: Some("new_email"),
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChangeEmailRequest {
    #[schema(schema_with = crate::domain::schema::email)]
    new_email: String,
    #[schema(schema_with = crate::domain::schema::current_password)]
    current_password: String,
}

/// Ask to change the address. A confirmation goes to the new address and a notice to the old one;
/// nothing changes until the confirmation is used.
#[utoipa::path(post, path = "/api/v1/me/email", tag = "me", security(("bearer" = [])), request_body = ChangeEmailRequest,
    responses(
        (status = 202),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`wrong_password`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`email_taken`"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn request_email_change(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppJson(req): AppJson<ChangeEmailRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    let row = crate::auth::sessions::confirm_password(&state, &user, &req.current_password).await?;
    let new_email = Email::parse(&req.new_email).map_err(|m| AppError::invalid("new_email", m))?;
    if new_email.as_str() == row.email {
        return Err(AppError::invalid("new_email", "is already the account's address"));
    }
    Limit::EmailChange(user.user_id).hit(&state).await?;
    // An early, friendly answer; the unique constraint still decides when the change is confirmed.
    if store::users::find_by_email(state.db(), new_email.as_str())
        .await?
        .is_some()
    {
        return Err(TAKEN);
    }
    let (token, ttl) = issue_link(&state, row.id, Purpose::ChangeEmail, new_email.as_str()).await?;
    let origin = &state.settings().public_origin();
    let confirm = templates::confirm_email_change(origin, new_email.as_str(), &row.username, &token, ttl);
    state.mailer().queue(state.db(), &confirm).await?;
    state
        .mailer()
        .queue(
            state.db(),
            &templates::email_change_notice(&row.email, &row.username, new_email.as_str()),
        )
        .await?;
    audit::record(&state, &meta, Event::EmailChangeRequested { user: row.id }).await;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "status": "confirmation_sent" })),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ConfirmRequest {
    token: String,
}

/// Confirm a new address with the token mailed to it. The link is the proof, so no sign-in is needed.
#[utoipa::path(post, path = "/api/v1/auth/email/confirm", tag = "auth", request_body = ConfirmRequest,
    responses(
        (status = 200, body = UserView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_token`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`email_taken`"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn confirm_email_change(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<ConfirmRequest>,
) -> Result<Json<UserView>> {
    let hash = secrets::hash(req.token.trim());
    let (user_id, new_email) = store::email_tokens::consume(state.db(), &hash, Purpose::ChangeEmail)
        .await?
        .ok_or_else(bad_token)?;
    let row = match store::users::change_email(state.db(), user_id, &new_email).await {
        Ok(Some(row)) => row,
        Ok(None) => return Err(bad_token()),
        Err(store::users::InsertError::EmailTaken | store::users::InsertError::UsernameTaken) => return Err(TAKEN),
        Err(store::users::InsertError::Db(e)) => return Err(e.into()),
    };
    audit::record(&state, &meta, Event::EmailChanged { user: row.id }).await;
    Ok(Json(UserView::from(&row)))
}
