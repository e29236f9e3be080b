//! Step-up: confirming the password or a second factor in a running session, so that sensitive
//! actions (role changes, enrolling a factor) see a recent strong authentication.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::check::{self, FactorInput};
use super::totp::WRONG_CODE;
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::sessions;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(reauthenticate))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReauthenticateRequest {
    /// The current password.
    #[schema(schema_with = crate::domain::schema::current_password)]
    password: Option<String>,
    /// Or a current code of the authenticator app.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    code: Option<String>,
    /// Or one of the recovery codes.
    #[schema(example = "k7qm-2xda-p4vh-9trc", max_length = 64)]
    recovery_code: Option<String>,
}

/// Step up: confirm the password, a code or a recovery code (exactly one) so that sensitive actions
/// accept this session for the next `auth.reauth_window_secs`. A second factor also raises a session
/// signed in with the password alone to multi-factor.
#[utoipa::path(post, path = "/api/v1/auth/reauthenticate", tag = "auth", security(("bearer" = [])), request_body = ReauthenticateRequest,
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`wrong_password` or `wrong_code`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not exactly one of `password`, `code`, `recovery_code`"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn reauthenticate(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppJson(req): AppJson<ReauthenticateRequest>,
) -> Result<StatusCode> {
    let given = [req.password.is_some(), req.code.is_some(), req.recovery_code.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err(AppError::invalid(
            "password",
            "give one of password, code, recovery_code",
        ));
    }
    let factor = match req.password {
        Some(password) => {
            sessions::confirm_password(&state, &user, &password).await?;
            None
        }
        None => {
            let input = FactorInput {
                code: req.code,
                recovery_code: req.recovery_code,
                passkey: None,
            };
            Some(
                check::check(&state, &meta, user.user_id, &input)
                    .await?
                    .ok_or(WRONG_CODE)?,
            )
        }
    };
    sessions::stepped_up(&state, &user, factor).await?;
    let event = Event::Reauthenticated {
        user: user.user_id,
        session: user.session_id,
        factor: factor.is_some(),
    };
    audit::record(&state, &meta, event).await;
    Ok(StatusCode::NO_CONTENT)
}
