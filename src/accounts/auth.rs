//! Registration, sign-in, refresh and sign-out.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::cookies;
use super::views::TokenResponse;
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::limits::Limit;
use crate::auth::sessions::{self, INVALID_CREDENTIALS, Issued};
use crate::domain::assurance::Amr;
use crate::domain::{DisplayName, Email, Password, Role, Username};
use crate::error::code;
use crate::error::{AppError, FieldErrors, Problem, Result};
use crate::factors::signin::{self, MfaChallenge};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::AppJson;
use crate::state::AppState;
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(logout_all))
        .routes(routes!(jwks))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RegisterRequest {
    #[schema(schema_with = crate::domain::schema::username)]
    username: String,
    #[schema(schema_with = crate::domain::schema::email)]
    email: String,
    #[schema(schema_with = crate::domain::schema::password)]
    password: String,
    #[schema(schema_with = crate::domain::schema::display_name)]
    display_name: Option<String>,
    /// Keep the refresh token in an HttpOnly cookie instead of the body (browser clients), as at
    /// sign-in, so a browser app needs no second sign-in after registering.
    #[serde(default)]
    refresh_cookie: bool,
}

/// Create an account and sign in.
#[utoipa::path(post, path = "/api/v1/auth/register", tag = "auth", request_body = RegisterRequest,
    responses(
        (status = 201, body = TokenResponse),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "Malformed body or unknown field"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`email_taken` or `username_taken`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Validation failed"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    AppJson(req): AppJson<RegisterRequest>,
) -> Result<Response> {
    Limit::RegisterIp(&meta.ip).hit(&state).await?;

    let mut errors = FieldErrors::new();
    let mut field = |name: &str, msg: &str| errors.entry(name.to_owned()).or_default().push(msg.to_owned());
    let username = Username::parse(&req.username).map_err(|m| field("username", m)).ok();
    let email = Email::parse(&req.email).map_err(|m| field("email", m)).ok();
    let password = Password::parse(&req.password, username.as_ref().map(Username::as_str))
        .map_err(|m| field("password", m))
        .ok();
    let display_name = match req.display_name.as_deref() {
        Some(d) => DisplayName::parse(d).map_err(|m| field("display_name", m)).ok(),
        None => None,
    };
    let (Some(username), Some(email), Some(password)) = (username, email, password) else {
        return Err(AppError::invalid_fields(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::invalid_fields(errors));
    }
    Limit::RegisterEmail(email.as_str()).hit(&state).await?;

    let hash = state.hasher().hash(password.expose()).await?;
    let new = store::users::NewUser {
        username: username.as_str(),
        email: email.as_str(),
        password_hash: &hash,
        display_name: display_name.as_ref().map(DisplayName::as_str),
        role: Role::User,
    };
    let user = store::users::insert(state.db(), new).await.map_err(|e| match e {
        store::users::InsertError::EmailTaken => AppError::Conflict {
            code: code::EMAIL_TAKEN,
            detail: "An account with this email already exists.",
            field: Some("email"),
        },
        store::users::InsertError::UsernameTaken => AppError::Conflict {
            code: code::USERNAME_TAKEN,
            detail: "This username is taken.",
            field: Some("username"),
        },
        store::users::InsertError::Db(e) => e.into(),
    })?;
    audit::record(&state, &meta, Event::Registered { user: user.id }).await;
    super::verification::send_verification(&state, &user).await?;
    let issued = sessions::start(&state, user, &meta, req.refresh_cookie, Amr::Password).await?;
    let mut res = token_answer(jar, issued, req.refresh_cookie);
    *res.status_mut() = StatusCode::CREATED;
    Ok(res)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    /// Email address or username.
    login: String,
    password: String,
    /// Keep the refresh token in an HttpOnly cookie instead of the body (browser clients).
    #[serde(default)]
    refresh_cookie: bool,
}

/// Sign in with email or username.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, body = TokenResponse),
        (status = 202, body = MfaChallenge, description = "The password passed and the account has a second factor: finish with `POST /api/v1/auth/mfa/verify`"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`invalid_credentials`, the same for unknown, wrong and disabled"),
        (status = 429, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all)]
async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    AppJson(req): AppJson<LoginRequest>,
) -> Result<Response> {
    Limit::LoginIp(&meta.ip).hit(&state).await?;
    let login = req.login.trim().to_lowercase();
    if login.is_empty() || login.len() > 254 || req.password.len() > 1024 {
        return Err(INVALID_CREDENTIALS);
    }
    // Failure throttles are keyed by the login as typed (normalised), so unknown accounts are throttled
    // exactly like real ones and the answer never reveals which exist.
    // Each attempt is charged before the password is checked, so parallel guesses cannot all slip
    // past the check; a successful sign-in gets its charge back.
    let failure_budgets = [
        Limit::LoginFailuresFromIp {
            login: &login,
            ip: &meta.ip,
        },
        Limit::LoginFailures(&login),
    ];
    for budget in failure_budgets {
        budget.hit(&state).await?;
    }
    let user = if login.contains('@') {
        store::users::find_by_email(state.db(), &login).await?
    } else {
        store::users::find_by_username(state.db(), &login).await?
    };
    let attempt = crate::domain::password::normalise_attempt(&req.password);
    let verified = state
        .hasher()
        .verify(&attempt, user.as_ref().map(|u| u.password_hash.as_str()))
        .await?;
    let user = match user {
        Some(u) if verified && u.is_active() => {
            for budget in failure_budgets {
                budget.refund(&state).await;
            }
            u
        }
        other => {
            let target = other.as_ref().map(|u| u.id);
            audit::record(&state, &meta, Event::SignInFailed { login, target }).await;
            return Err(INVALID_CREDENTIALS);
        }
    };
    let methods = signin::second_factors(&state, &user).await?;
    if !methods.is_empty() {
        let challenge = signin::challenge(&state, &user, &meta, methods).await?;
        return Ok((StatusCode::ACCEPTED, Json(challenge)).into_response());
    }
    signed_in(&state, &meta, jar, user, req.refresh_cookie, Amr::Password).await
}

/// The end of every sign-in (password, second factor, passkey): the audit event, the session, and
/// the token answer.
pub(crate) async fn signed_in(
    state: &AppState,
    meta: &RequestMeta,
    jar: CookieJar,
    user: store::users::UserRow,
    cookie_mode: bool,
    amr: Amr,
) -> Result<Response> {
    let event = Event::SignedIn {
        user: user.id,
        cookie: cookie_mode,
    };
    audit::record(state, meta, event).await;
    let issued = sessions::start(state, user, meta, cookie_mode, amr).await?;
    Ok(token_answer(jar, issued, cookie_mode))
}

/// The answer to a sign-in or a refresh: the tokens in the body, or, in cookie mode, the refresh
/// token in its HttpOnly cookie instead.
pub(crate) fn token_answer(jar: CookieJar, issued: Issued, cookie_mode: bool) -> Response {
    if cookie_mode {
        let jar = cookies::with_refresh(jar, issued.refresh_token.clone(), issued.remaining_secs);
        return (jar, Json(TokenResponse::new(issued, true))).into_response();
    }
    Json(TokenResponse::new(issued, false)).into_response()
}

/// End this session. Its access token stops working on the next request.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn logout(State(state): State<AppState>, meta: RequestMeta, jar: CookieJar, user: AuthUser) -> Result<Response> {
    store::sessions::revoke_owned(state.db(), user.user_id, user.session_id, "logout").await?;
    let event = Event::SignedOut {
        user: user.user_id,
        session: user.session_id,
    };
    audit::record(&state, &meta, event).await;
    Ok((cookies::cleared(jar), StatusCode::NO_CONTENT).into_response())
}

/// End every session of the caller, this one included.
#[utoipa::path(post, path = "/api/v1/auth/logout-all", tag = "auth", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn logout_all(
    State(state): State<AppState>,
    meta: RequestMeta,
    jar: CookieJar,
    user: AuthUser,
) -> Result<Response> {
    let ended = store::sessions::revoke_all(state.db(), user.user_id, None, "logout_all").await?;
    let event = Event::SignedOutEverywhere {
        user: user.user_id,
        sessions: ended,
    };
    audit::record(&state, &meta, event).await;
    Ok((cookies::cleared(jar), StatusCode::NO_CONTENT).into_response())
}

/// The public keys that verify access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "A JWK set")))]
#[tracing::instrument(level = "debug", skip_all)]
async fn jwks(State(state): State<AppState>) -> Response {
    let mut res = Json(state.keys().jwks()).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    res
}
