//! Enrolling, confirming and disabling an authenticator app (RFC 6238 TOTP).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::check::{self, FactorInput};
use super::codes::issue_recovery_codes;
use super::views::{FactorsView, RecoveryCodes, TotpEnrolment};
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::limits::Limit;
use crate::auth::sessions;
use crate::auth::totp;
use crate::domain::assurance::Factor;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(factors))
        .routes(routes!(enrol, disable))
        .routes(routes!(confirm))
}

/// How an authenticator app is named in mail.
const FACTOR_NAME: &str = "An authenticator app";

pub(super) const WRONG_CODE: AppError = AppError::Forbidden {
    code: code::WRONG_CODE,
    detail: "The code is wrong or was already used.",
};

pub(super) const NOT_ENABLED: AppError = AppError::Conflict {
    code: code::TOTP_NOT_ENABLED,
    detail: "No authenticator app is enabled.",
    field: None,
};

/// The caller's second factors.
#[utoipa::path(get, path = "/api/v1/me/mfa", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = FactorsView)))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn factors(State(state): State<AppState>, user: AuthUser) -> Result<Json<FactorsView>> {
    let summary = store::factors::summary(state.db(), user.user_id).await?;
    Ok(Json(FactorsView {
        totp: summary.totp,
        totp_pending: summary.totp_pending,
        recovery_codes_left: summary.recovery_codes_left,
    }))
}

/// Start enrolling an authenticator app. Needs a recent sign-in (step up first otherwise). A new
/// enrolment replaces one that was never confirmed; nothing changes until it is.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp", tag = "me", security(("bearer" = [])),
    responses(
        (status = 201, body = TotpEnrolment),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`reauthentication_required`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`totp_already_enabled`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn enrol(State(state): State<AppState>, user: AuthUser) -> Result<(StatusCode, Json<TotpEnrolment>)> {
    sessions::require_recent(&state, &user)?;
    let account = sessions::account_of(&state, &user).await?;
    let mut secret = [0u8; totp::SECRET_BYTES];
    aws_lc_rs::rand::fill(&mut secret).map_err(|_| anyhow::anyhow!("system randomness unavailable"))?;
    let sealed = state.vault().seal(user.user_id, &secret)?;
    let mut tx = state.db().begin().await?;
    if !store::factors::start_totp(&mut tx, user.user_id, &sealed).await? {
        return Err(AppError::Conflict {
            code: code::TOTP_ALREADY_ENABLED,
            detail: "An authenticator app is already enabled; disable it first.",
            field: None,
        });
    }
    tx.commit().await?;
    let uri = totp::otpauth_uri(&state.settings().auth.issuer, &account.username, &secret);
    let qr = qrcode::QrCode::new(uri.as_bytes()).map_err(|e| anyhow::anyhow!("QR code: {e}"))?;
    let qr_svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let enrolment = TotpEnrolment {
        secret: totp::base32(&secret),
        otpauth_uri: uri,
        qr_svg,
    };
    Ok((StatusCode::CREATED, Json(enrolment)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpConfirmRequest {
    /// The first code the app shows.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    code: String,
}

/// Confirm the enrolment with the app's first code. From then on sign-in asks for a code. Answers
/// the ten recovery codes, shown this once; this session counts as signed in with the app.
#[utoipa::path(post, path = "/api/v1/me/mfa/totp/confirm", tag = "me", security(("bearer" = [])), request_body = TotpConfirmRequest,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`wrong_code`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`totp_not_enabled`: no enrolment is waiting"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn confirm(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppJson(req): AppJson<TotpConfirmRequest>,
) -> Result<Json<RecoveryCodes>> {
    let pending = store::factors::totp(state.db(), user.user_id)
        .await?
        .filter(|row| row.confirmed_at.is_none())
        .ok_or(NOT_ENABLED)?;
    let budget = Limit::SecondFactor(user.user_id);
    budget.hit(&state).await?;
    let secret = check::open_secret(&state, user.user_id, &pending.secret)?;
    let Some(step) = totp::matching_step(&secret, &req.code, check::unix_now(), None) else {
        audit::record(&state, &meta, Event::SecondFactorFailed { user: user.user_id }).await;
        return Err(WRONG_CODE);
    };
    budget.refund(&state).await;
    let mut tx = state.db().begin().await?;
    if !store::factors::confirm_totp(&mut tx, user.user_id, check::step_arg(step)).await? {
        return Err(NOT_ENABLED);
    }
    let codes = issue_recovery_codes(&mut tx, user.user_id).await?;
    tx.commit().await?;
    sessions::stepped_up(&state, &user, Some(Factor::Totp)).await?;
    audit::record(&state, &meta, Event::TotpEnabled { user: user.user_id }).await;
    let account = sessions::account_of(&state, &user).await?;
    super::mail_owner(&state, &account, super::Change::Added, FACTOR_NAME).await?;
    Ok(Json(codes))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpDisableRequest {
    #[schema(schema_with = crate::domain::schema::current_password)]
    password: String,
    /// A current code of the app.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    code: Option<String>,
    /// Or one of the recovery codes.
    #[schema(example = "k7qm-2xda-p4vh-9trc", max_length = 64)]
    recovery_code: Option<String>,
}

/// Disable the authenticator app and delete the recovery codes. Needs the password and a current code
/// or a recovery code.
#[utoipa::path(delete, path = "/api/v1/me/mfa/totp", tag = "me", security(("bearer" = [])), request_body = TotpDisableRequest,
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`wrong_password` or `wrong_code`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`totp_not_enabled`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Neither or both of `code` and `recovery_code`"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn disable(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppJson(req): AppJson<TotpDisableRequest>,
) -> Result<StatusCode> {
    let factor = FactorInput {
        code: req.code,
        recovery_code: req.recovery_code,
        passkey: None,
    };
    if !factor.is_one() {
        return Err(AppError::invalid("code", "give code or recovery_code"));
    }
    if !store::factors::summary(state.db(), user.user_id).await?.totp {
        return Err(NOT_ENABLED);
    }
    let account = sessions::confirm_password(&state, &user, &req.password).await?;
    if check::check(&state, &meta, user.user_id, &factor).await?.is_none() {
        return Err(WRONG_CODE);
    }
    let mut tx = state.db().begin().await?;
    let removed = store::factors::remove_all(&mut tx, user.user_id).await?;
    tx.commit().await?;
    if removed {
        audit::record(&state, &meta, Event::TotpDisabled { user: user.user_id }).await;
        super::mail_owner(&state, &account, super::Change::Removed, FACTOR_NAME).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}
