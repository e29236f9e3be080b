//! Signing in with a passkey alone: the browser offers the passkeys it holds for this site
//! (discoverable credentials), and the one the user picks names the account. A passkey with user
//! verification is two factors in one gesture (something held, and a PIN or biometric).

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webauthn_rs::prelude::{DiscoverableAuthentication, PublicKeyCredential};

use super::ceremony::{self, CeremonyOptions};
use crate::accounts::signed_in;
use crate::accounts::views::TokenResponse;
use crate::auth::limits::Limit;
use crate::domain::assurance::Amr;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::store::{self, passkeys::Purpose, users::UserRow};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(options)).routes(routes!(sign_in))
}

const REJECTED: AppError = AppError::Unauthorized {
    code: code::PASSKEY_REJECTED,
    detail: "The passkey could not be verified.",
};

/// Start signing in with a passkey: answers a ceremony id and the options for
/// `navigator.credentials.get()` (no account named: the browser offers the passkeys it has).
#[utoipa::path(post, path = "/api/v1/auth/passkey/options", tag = "auth",
    responses(
        (status = 200, body = CeremonyOptions),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`passkeys_unavailable`"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn options(State(state): State<AppState>, meta: RequestMeta) -> Result<Json<CeremonyOptions>> {
    let rp = ceremony::rp(&state)?;
    Limit::LoginIp(&meta.ip).hit(&state).await?;
    let (options, discoverable) = rp
        .start_discoverable_authentication()
        .map_err(|e| anyhow::anyhow!("starting a passkey sign-in: {e}"))?;
    let id = ceremony::start(&state, &meta, None, Purpose::SignIn, &discoverable).await?;
    CeremonyOptions::new(id, &options).map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasskeySignInRequest {
    /// The `ceremony` from the options.
    #[schema(max_length = 64)]
    ceremony: String,
    /// The `PublicKeyCredential` that `navigator.credentials.get()` returned, as JSON.
    #[schema(value_type = Object)]
    credential: serde_json::Value,
    /// Keep the refresh token in an HttpOnly cookie instead of the body (browser clients).
    #[serde(default)]
    refresh_cookie: bool,
}

/// Finish signing in with a passkey. Answers like a sign-in; the session counts as multi-factor.
#[utoipa::path(post, path = "/api/v1/auth/passkey", tag = "auth", request_body = PasskeySignInRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_ceremony`"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`passkey_rejected`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`passkeys_unavailable`"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn sign_in(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    AppJson(req): AppJson<PasskeySignInRequest>,
) -> Result<Response> {
    let rp = ceremony::rp(&state)?;
    Limit::LoginIp(&meta.ip).hit(&state).await?;
    let (_, discoverable): (_, DiscoverableAuthentication) =
        ceremony::finish(&state, &meta, &req.ceremony, Purpose::SignIn, None).await?;
    let credential: PublicKeyCredential = serde_json::from_value(req.credential).map_err(|_| REJECTED)?;
    // The credential names its account (the user handle) and itself; both must agree with the store.
    let (user_id, credential_id) = rp
        .identify_discoverable_authentication(&credential)
        .map_err(|_| REJECTED)?;
    let row = store::passkeys::by_credential_id(state.db(), &ceremony::credential_key(credential_id))
        .await?
        .filter(|row| row.user_id == user_id)
        .ok_or(REJECTED)?;
    let verify = |passkey: &_| rp.finish_discoverable_authentication_v2(&credential, discoverable, passkey);
    if !ceremony::verify_assertion(&state, &meta, &row, verify).await? {
        return Err(REJECTED);
    }
    let user = store::users::find_by_id(state.db(), row.user_id)
        .await?
        .filter(UserRow::is_active)
        .ok_or(REJECTED)?;
    signed_in(&state, &meta, jar, user, req.refresh_cookie, Amr::Passkey).await
}
