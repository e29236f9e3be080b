//! Email verification: the link sent at registration, and re-sending it.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::limits::Limit;
use crate::auth::secrets;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::mail::templates;
use crate::state::AppState;
use crate::store::email_tokens::Purpose;
use crate::store::{self, users::UserRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify_email))
        .routes(routes!(resend_verification))
}

/// The answer for a token that is unknown, used, expired, for another purpose or another address.
pub fn bad_token() -> AppError {
    AppError::BadRequest {
        code: code::INVALID_TOKEN,
        detail: "The link is invalid, already used or expired.".into(),
    }
}

/// A mailed link's token: a fresh single-use secret for `purpose` and `address` (stored as its hash;
/// earlier unused tokens of the same purpose die), with the link's lifetime in seconds.
pub(crate) async fn issue_link(
    state: &AppState,
    user_id: uuid::Uuid,
    purpose: Purpose,
    address: &str,
) -> Result<(String, u64)> {
    let mail = &state.settings().mail;
    let ttl = match purpose {
        Purpose::VerifyEmail => mail.verify_ttl_secs,
        Purpose::ResetPassword => mail.reset_ttl_secs,
        Purpose::ChangeEmail => mail.change_ttl_secs,
    };
    let token = secrets::generate();
    let lifetime = time::Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX));
    let mut tx = state.db().begin().await?;
    store::email_tokens::issue(&mut tx, user_id, purpose, address, &secrets::hash(&token), lifetime).await?;
    tx.commit().await?;
    Ok((token, ttl))
}

/// Issues a verification token for the user's current address and queues the mail.
pub async fn send_verification(state: &AppState, user: &UserRow) -> Result<()> {
    let (token, ttl) = issue_link(state, user.id, Purpose::VerifyEmail, &user.email).await?;
    let message = templates::verify_email(
        &state.settings().public_origin(),
        &user.email,
        &user.username,
        &token,
        ttl,
    );
    state.mailer().queue(state.db(), &message).await?;
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// The token from the emailed link.
    token: String,
}

/// Confirm an email address with the token from the verification mail. Each token works once.
#[utoipa::path(post, path = "/api/v1/auth/verify-email", tag = "auth", request_body = TokenRequest,
    responses((status = 204), (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_token`")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn verify_email(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<TokenRequest>,
) -> Result<StatusCode> {
    let hash = secrets::hash(req.token.trim());
    let (user_id, email) = store::email_tokens::consume(state.db(), &hash, Purpose::VerifyEmail)
        .await?
        .ok_or_else(bad_token)?;
    // The token names the address it was sent to; if the account's address changed since, it is void.
    if !store::users::mark_email_verified(state.db(), user_id, &email).await? {
        return Err(bad_token());
    }
    audit::record(&state, &meta, Event::EmailVerified { user: user_id }).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Send the verification mail again (throttled).
#[utoipa::path(post, path = "/api/v1/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses(
        (status = 202, description = "Queued"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`already_verified`"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn resend_verification(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
) -> Result<(StatusCode, Json<serde_json::Value>)> {
    Limit::RecoveryIp(&meta.ip).hit(&state).await?;
    Limit::VerificationResend(user.user_id).hit(&state).await?;
    let row = crate::auth::sessions::account_of(&state, &user).await?;
    if row.email_verified_at.is_some() {
        return Err(AppError::Conflict {
            code: code::ALREADY_VERIFIED,
            detail: "This address is already verified.",
            field: None,
        });
    }
    send_verification(&state, &row).await?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "status": "queued" }))))
}
