//! Registering, listing, renaming and removing passkeys (WebAuthn credentials).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration, RegisterPublicKeyCredential};

use super::ceremony::{self, CeremonyOptions};
use super::views::PasskeyView;
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::sessions;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::extract::{AppJson, AppPath};
use crate::state::AppState;
use crate::store::{self, passkeys::Purpose};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, register))
        .routes(routes!(register_options))
        .routes(routes!(rename, remove))
}

/// Longest passkey name, in characters.
const NAME_MAX: usize = 64;

const NOT_FOUND: AppError = AppError::NotFound {
    code: code::PASSKEY_NOT_FOUND,
    detail: "No such passkey.",
};

/// A passkey's name: trimmed, 1–64 characters, no control characters.
fn passkey_name(typed: &str) -> Result<String> {
    let name = typed.trim();
    let count = name.chars().count();
    if count == 0 || count > NAME_MAX || name.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "name",
            "must be 1–64 characters without control characters",
        ));
    }
    Ok(name.to_owned())
}

/// The caller's passkeys, oldest first.
#[utoipa::path(get, path = "/api/v1/me/passkeys", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = [PasskeyView])))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn list(State(state): State<AppState>, user: AuthUser) -> Result<Json<Vec<PasskeyView>>> {
    let rows = store::passkeys::list(state.db(), user.user_id).await?;
    Ok(Json(rows.iter().map(PasskeyView::from).collect()))
}

/// Start registering a passkey: answers a ceremony id and the options to pass to
/// `navigator.credentials.create()`. Needs a recent sign-in.
#[utoipa::path(post, path = "/api/v1/me/passkeys/options", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, body = CeremonyOptions),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`reauthentication_required`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`passkeys_unavailable`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn register_options(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
) -> Result<Json<CeremonyOptions>> {
    let rp = ceremony::rp(&state)?;
    sessions::require_recent(&state, &user)?;
    let account = sessions::account_of(&state, &user).await?;
    let existing = store::passkeys::list(state.db(), user.user_id).await?;
    let display = account.display_name.as_deref().unwrap_or(&account.username);
    let (options, registration) = rp
        .start_passkey_registration(
            user.user_id,
            &account.username,
            display,
            Some(ceremony::credential_ids(&existing)),
        )
        .map_err(|e| anyhow::anyhow!("starting a passkey registration: {e}"))?;
    let id = ceremony::start(&state, &meta, Some(user.user_id), Purpose::Register, &registration).await?;
    let mut answer = CeremonyOptions::new(id, &options)?;
    // Ask for a discoverable credential, so that the passkey can also sign in without a username.
    if let Some(selection) = answer.options.pointer_mut("/publicKey/authenticatorSelection") {
        selection["residentKey"] = serde_json::Value::from("preferred");
    }
    Ok(Json(answer))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasskeyRegistrationRequest {
    /// The `ceremony` from the options.
    #[schema(max_length = 64)]
    ceremony: String,
    /// What to call it, e.g. "Laptop": 1–64 characters once trimmed, with no control characters.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// The `PublicKeyCredential` that `navigator.credentials.create()` returned, as JSON
    /// (binary fields in unpadded base64url).
    #[schema(value_type = Object)]
    credential: serde_json::Value,
}

/// Finish registering a passkey. The owner gets a mail; the audit trail records `passkey_added`.
#[utoipa::path(post, path = "/api/v1/me/passkeys", tag = "me", security(("bearer" = [])), request_body = PasskeyRegistrationRequest,
    responses(
        (status = 201, body = PasskeyView),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "`invalid_ceremony`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`passkey_exists` or `passkeys_unavailable`"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "`passkey_rejected`, or a bad name"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppJson(req): AppJson<PasskeyRegistrationRequest>,
) -> Result<(StatusCode, Json<PasskeyView>)> {
    let rp = ceremony::rp(&state)?;
    let name = passkey_name(&req.name)?;
    let (_, registration): (_, PasskeyRegistration) =
        ceremony::finish(&state, &meta, &req.ceremony, Purpose::Register, Some(user.user_id)).await?;
    let rejected = || AppError::Unprocessable {
        code: code::PASSKEY_REJECTED,
        detail: "The authenticator's answer did not verify.".into(),
    };
    let credential: RegisterPublicKeyCredential = serde_json::from_value(req.credential).map_err(|_| rejected())?;
    let passkey: Passkey = rp
        .finish_passkey_registration(&credential, &registration)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey registration did not verify");
            rejected()
        })?;
    let record = serde_json::to_string(&passkey).map_err(|e| anyhow::anyhow!("storing a passkey: {e}"))?;
    let new = store::passkeys::NewPasskey {
        user_id: user.user_id,
        credential_id: &ceremony::credential_key(passkey.cred_id().as_ref()),
        name: &name,
        credential: &record,
    };
    let row = store::passkeys::insert(state.db(), new)
        .await?
        .ok_or(AppError::Conflict {
            code: code::PASSKEY_EXISTS,
            detail: "This authenticator is already registered.",
            field: None,
        })?;
    let event = Event::PasskeyAdded {
        user: user.user_id,
        passkey: row.id,
    };
    audit::record(&state, &meta, event).await;
    let what = format!("A passkey (\u{201c}{}\u{201d})", row.name);
    let account = sessions::account_of(&state, &user).await?;
    super::mail_owner(&state, &account, super::Change::Added, &what).await?;
    Ok((StatusCode::CREATED, Json(PasskeyView::from(&row))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasskeyRenameRequest {
    /// 1–64 characters once trimmed, with no control characters.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
}

/// Rename one of the caller's passkeys.
#[utoipa::path(patch, path = "/api/v1/me/passkeys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = PasskeyRenameRequest,
    responses(
        (status = 200, body = PasskeyView),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`passkey_not_found`"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn rename(
    State(state): State<AppState>,
    user: AuthUser,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<PasskeyRenameRequest>,
) -> Result<Json<PasskeyView>> {
    let name = passkey_name(&req.name)?;
    let id = uuid::Uuid::try_parse(&id).map_err(|_| NOT_FOUND)?;
    let row = store::passkeys::rename(state.db(), user.user_id, id, &name)
        .await?
        .ok_or(NOT_FOUND)?;
    Ok(Json(PasskeyView::from(&row)))
}

/// Remove one of the caller's passkeys. Needs a recent sign-in. The owner gets a mail; the audit
/// trail records `passkey_removed`.
#[utoipa::path(delete, path = "/api/v1/me/passkeys/{id}", tag = "me", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`reauthentication_required`"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`passkey_not_found`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn remove(
    State(state): State<AppState>,
    meta: RequestMeta,
    user: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<StatusCode> {
    let id = uuid::Uuid::try_parse(&id).map_err(|_| NOT_FOUND)?;
    sessions::require_recent(&state, &user)?;
    let row = store::passkeys::delete(state.db(), user.user_id, id)
        .await?
        .ok_or(NOT_FOUND)?;
    let event = Event::PasskeyRemoved {
        user: user.user_id,
        passkey: row.id,
    };
    audit::record(&state, &meta, event).await;
    let what = format!("A passkey (\u{201c}{}\u{201d})", row.name);
    let account = sessions::account_of(&state, &user).await?;
    super::mail_owner(&state, &account, super::Change::Removed, &what).await?;
    Ok(StatusCode::NO_CONTENT)
}
