//! Password reset by email: asking reveals nothing about which accounts exist, changes nothing by
//! itself, and completing it ends every session.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::verification::{bad_token, issue_link};
use crate::audit::{self, Event};
use crate::auth::limits::Limit;
use crate::auth::secrets;
use crate::domain::{Email, Password};
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::mail::templates;
use crate::state::AppState;
use crate::store;
use crate::store::email_tokens::Purpose;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(forgot_password))
        .routes(routes!(reset_password))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ForgotRequest {
    email: String,
}

/// Ask for a password-reset mail. The answer is the same 202 whether or not an account has this
/// address; mail goes only to real, active accounts.
#[utoipa::path(post, path = "/api/v1/auth/password/forgot", tag = "auth", request_body = ForgotRequest,
    responses((status = 202, description = "Always the same body"), (status = 429, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn forgot_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<ForgotRequest>,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    Limit::RecoveryIp(&meta.ip).hit(&state).await?;
    let accepted = (StatusCode::ACCEPTED, Json(serde_json::json!({ "status": "accepted" })));
    let Ok(email) = Email::parse(&req.email) else {
        return Ok(accepted);
    };
    // Keyed by the address asked about, so unknown addresses are throttled exactly like real ones.
    Limit::RecoveryEmail(email.as_str()).hit(&state).await?;
    // The lookup and the mail happen after the answer, so its timing says nothing about the address.
    let task_state = state.clone();
    tokio::spawn(async move {
        if let Err(err) = send_reset(&task_state, &email, &meta).await {
            tracing::error!(error = %err, "could not queue a password reset");
        }
    });
    Ok(accepted)
}

async fn send_reset(state: &AppState, email: &Email, meta: &RequestMeta) -> Result<()> {
    let Some(user) = store::users::find_by_email(state.db(), email.as_str())
        .await?
        .filter(|u| u.is_active())
    else {
        return Ok(());
    };
    let (token, ttl) = issue_link(state, user.id, Purpose::ResetPassword, &user.email).await?;
    let message = templates::reset_password(
        &state.settings().public_origin(),
        &user.email,
        &user.username,
        &token,
        ttl,
    );
    state.mailer().queue(state.db(), &message).await?;
    audit::record(state, meta, Event::PasswordResetRequested { user: user.id }).await;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    token: String,
    #[schema(schema_with = crate::domain::schema::password)]
    new_password: String,
}

/// Set a new password with the token from the reset mail. Every session of the account ends; there is
/// no automatic sign-in.
#[utoipa::path(post, path = "/api/v1/auth/password/reset", tag = "auth", request_body = ResetRequest,
    responses(
        (status = 204),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_token`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Password policy"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<ResetRequest>,
) -> Result<StatusCode> {
    let hash = secrets::hash(req.token.trim());
    // Check the new password against the account's name before the token is spent, so a refused
    // password leaves the link usable.
    let (user_id, _) = store::email_tokens::peek(state.db(), &hash, Purpose::ResetPassword)
        .await?
        .ok_or_else(bad_token)?;
    let user = store::users::find_by_id(state.db(), user_id)
        .await?
        .ok_or_else(bad_token)?;
    let password =
        Password::parse(&req.new_password, Some(&user.username)).map_err(|m| AppError::invalid("new_password", m))?;
    let (user_id, email) = store::email_tokens::consume(state.db(), &hash, Purpose::ResetPassword)
        .await?
        .ok_or_else(bad_token)?;
    if email != user.email || !user.is_active() {
        return Err(bad_token());
    }
    let new_hash = state.hasher().hash(password.expose()).await?;
    // The new hash and the end of every session land together or not at all.
    let mut tx = state.db().begin().await?;
    store::users::update_password_hash(&mut tx, user_id, &new_hash).await?;
    let ended = store::sessions::revoke_all(&mut tx, user_id, None, "password_reset").await?;
    tx.commit().await?;
    let event = Event::PasswordReset {
        user: user_id,
        sessions_ended: ended,
    };
    audit::record(&state, &meta, event).await;
    Ok(StatusCode::NO_CONTENT)
}
