//! Sign-in with a second factor. When the password of an account with an authenticator passes,
//! `POST /auth/login` answers a challenge instead of a session; the client sends it back here with a
//! code. No session exists before the second factor passes.
//!
//! A challenge is a 256-bit secret stored as its SHA-256, bound to the account and to the client that
//! passed the password (a hash of its IP and user agent), usable once, for five minutes, for at most
//! five attempts.

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ceremony::{self, CeremonyOptions, PasskeyAnswer};
use super::check::{self, FactorInput, client_hash};
pub use super::views::MfaChallenge;
use crate::accounts::signed_in;
use crate::accounts::views::TokenResponse;
use crate::auth::secrets;
use crate::auth::sessions::INVALID_CREDENTIALS;
use crate::domain::assurance::Amr;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::store::{self, passkeys::Purpose, users::UserRow};

/// How long a challenge lives.
pub const CHALLENGE_TTL_SECS: u64 = 300;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(passkey_options))
}

const INVALID_CHALLENGE: AppError = AppError::Unauthorized {
    code: code::INVALID_MFA_CHALLENGE,
    detail: "The sign-in challenge is invalid, used or expired; sign in again.",
};

/// The second factors `user` can answer a challenge with; none means the password is enough.
pub(crate) async fn second_factors(state: &AppState, user: &UserRow) -> Result<Vec<&'static str>> {
    let summary = store::factors::summary(state.db(), user.id).await?;
    let mut methods = Vec::new();
    if summary.totp {
        methods.extend(["totp", "recovery_code"]);
    }
    if summary.passkeys > 0 {
        methods.push("passkey");
    }
    Ok(methods)
}

/// The challenge for a password that passed, for this client, answerable with `methods`.
pub(crate) async fn challenge(
    state: &AppState,
    user: &UserRow,
    meta: &RequestMeta,
    methods: Vec<&'static str>,
) -> Result<MfaChallenge> {
    let token = secrets::generate();
    let ttl = time::Duration::seconds(CHALLENGE_TTL_SECS as i64);
    store::factors::create_challenge(state.db(), &secrets::hash(&token), user.id, &client_hash(meta), ttl).await?;
    Ok(MfaChallenge {
        mfa_required: true,
        challenge: token,
        expires_in: CHALLENGE_TTL_SECS,
        methods,
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MfaPasskeyOptionsRequest {
    /// The `challenge` from the sign-in answer.
    #[schema(max_length = 64)]
    challenge: String,
}

/// Answer a sign-in challenge with a passkey: answers a ceremony id and the options for
/// `navigator.credentials.get()`, limited to the account's passkeys. Send the authenticator's answer
/// as `passkey` to `POST /api/v1/auth/mfa/verify`.
#[utoipa::path(post, path = "/api/v1/auth/mfa/passkey/options", tag = "auth", request_body = MfaPasskeyOptionsRequest,
    responses(
        (status = 200, body = CeremonyOptions),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`invalid_mfa_challenge`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`passkeys_unavailable`, or the account has no passkey"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn passkey_options(
    State(state): State<AppState>,
    meta: RequestMeta,
    AppJson(req): AppJson<MfaPasskeyOptionsRequest>,
) -> Result<Json<CeremonyOptions>> {
    let rp = ceremony::rp(&state)?;
    if req.challenge.len() > 64 {
        return Err(INVALID_CHALLENGE);
    }
    let live = store::factors::live_challenge(state.db(), &secrets::hash(&req.challenge)).await?;
    let challenge = live
        .filter(|c| secrets::equal(&c.client_hash, &client_hash(&meta)))
        .ok_or(INVALID_CHALLENGE)?;
    let rows = store::passkeys::list(state.db(), challenge.user_id).await?;
    let passkeys = rows.iter().map(ceremony::passkey_of).collect::<Result<Vec<_>>>()?;
    if passkeys.is_empty() {
        return Err(AppError::Conflict {
            code: code::PASSKEY_NOT_FOUND,
            detail: "This account has no passkey.",
            field: None,
        });
    }
    let (options, auth) = rp
        .start_passkey_authentication(&passkeys)
        .map_err(|e| anyhow::anyhow!("starting a passkey check: {e}"))?;
    let id = ceremony::start(&state, &meta, Some(challenge.user_id), Purpose::SecondFactor, &auth).await?;
    CeremonyOptions::new(id, &options).map(Json)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct MfaVerifyRequest {
    /// The `challenge` from the sign-in answer.
    #[schema(max_length = 64)]
    challenge: String,
    /// The six digits the authenticator app shows.
    #[schema(example = "123456", pattern = "^[0-9]{6}$")]
    code: Option<String>,
    /// Or one of the recovery codes (dashes and case do not matter).
    #[schema(example = "k7qm-2xda-p4vh-9trc", max_length = 64)]
    recovery_code: Option<String>,
    /// Or a passkey's answer to the ceremony from `POST /api/v1/auth/mfa/passkey/options`.
    passkey: Option<PasskeyAnswer>,
    /// Keep the refresh token in an HttpOnly cookie instead of the body (browser clients).
    #[serde(default)]
    refresh_cookie: bool,
}

/// Finish signing in with a second factor: the challenge from `POST /auth/login` and a code from the
/// authenticator app, a recovery code or a passkey's answer. Answers like a sign-in.
#[utoipa::path(post, path = "/api/v1/auth/mfa/verify", tag = "auth", request_body = MfaVerifyRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`invalid_mfa_challenge` or `wrong_code`"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_ceremony`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not exactly one of `code`, `recovery_code`, `passkey`"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn verify(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    AppJson(req): AppJson<MfaVerifyRequest>,
) -> Result<Response> {
    let factor = FactorInput {
        code: req.code,
        recovery_code: req.recovery_code,
        passkey: req.passkey,
    };
    if !factor.is_one() {
        return Err(AppError::invalid("code", "give one of code, recovery_code, passkey"));
    }
    if req.challenge.len() > 64 {
        return Err(INVALID_CHALLENGE);
    }
    let hash = secrets::hash(&req.challenge);
    let claimed = store::factors::claim_attempt(state.db(), &hash).await?;
    let Some(challenge) = claimed.filter(|c| secrets::equal(&c.client_hash, &client_hash(&meta))) else {
        return Err(INVALID_CHALLENGE);
    };
    let Some(passed) = check::check(&state, &meta, challenge.user_id, &factor).await? else {
        return Err(AppError::Unauthorized {
            code: code::WRONG_CODE,
            detail: "The code is wrong or was already used.",
        });
    };
    if !store::factors::spend_challenge(state.db(), &hash).await? {
        return Err(INVALID_CHALLENGE);
    }
    // The account may have been disabled or deleted in the minutes since the password passed.
    let user = store::users::find_by_id(state.db(), challenge.user_id)
        .await?
        .filter(UserRow::is_active)
        .ok_or(INVALID_CREDENTIALS)?;
    signed_in(&state, &meta, jar, user, req.refresh_cookie, Amr::with(passed)).await
}
