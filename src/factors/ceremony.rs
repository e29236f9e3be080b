//! WebAuthn ceremonies: the relying party built from `public_origin`, and the server's half of each
//! registration or authentication kept in the database between its two requests, so that any
//! instance can finish what another started.
//!
//! A ceremony is handed to the client as a 256-bit id (stored as its SHA-256), bound to the client
//! that started it and, for registration and second factors, to the account; it can be finished once,
//! within five minutes, and only by the route of its purpose.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;
use webauthn_rs::prelude::{
    AuthenticationResult, CredentialID, Passkey, Url, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::check::client_hash;
use crate::audit::{self, Event};
use crate::auth::secrets;
use crate::config::Settings;
use crate::error::code;
use crate::error::{AppError, Result};
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store::{self, passkeys::Purpose};

/// How long a ceremony may take, the WebAuthn recommendation for an authenticator interaction.
pub const TTL_SECS: u64 = 300;

const UNAVAILABLE: AppError = AppError::Conflict {
    code: code::PASSKEYS_UNAVAILABLE,
    detail: "Passkeys need public_origin with a domain name (for example http://localhost:8080 or \
             https://photos.example.com), which this server is not configured with.",
    field: None,
};

pub(super) fn invalid() -> AppError {
    AppError::BadRequest {
        code: code::INVALID_CEREMONY,
        detail: "The passkey ceremony is unknown, already finished, expired or from another client; start again."
            .into(),
    }
}

/// A ceremony started: its id, to send back with the answer, and the options for the browser's
/// `navigator.credentials.create()` or `.get()`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CeremonyOptions {
    pub ceremony: String,
    /// `{"publicKey": …}` with binary fields in unpadded base64url.
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

impl CeremonyOptions {
    pub fn new(ceremony: String, options: &impl Serialize) -> Result<CeremonyOptions> {
        let options = serde_json::to_value(options).map_err(|e| anyhow::anyhow!("ceremony options: {e}"))?;
        Ok(CeremonyOptions { ceremony, options })
    }
}

/// The relying party: its id is the host of `public_origin`, and assertions must come from exactly
/// that origin. `None` when the origin's host is an IP address (WebAuthn requires a domain name).
pub fn relying_party(settings: &Settings) -> Option<Webauthn> {
    let origin = Url::parse(&settings.public_origin()).ok()?;
    let host = origin.domain()?;
    let built = WebauthnBuilder::new(host, &origin).and_then(|b| b.rp_name(&settings.auth.issuer).build());
    match built {
        Ok(rp) => Some(rp),
        Err(e) => {
            tracing::warn!(error = %e, "passkeys are off: public_origin cannot be a WebAuthn relying party");
            None
        }
    }
}

/// The relying party, or `409 passkeys_unavailable`.
pub(super) fn rp(state: &AppState) -> Result<&Webauthn> {
    state.webauthn().ok_or(UNAVAILABLE)
}

/// Keeps `server_state` for a ceremony of `purpose` and returns the id to hand to the client.
pub(super) async fn start<S: Serialize>(
    state: &AppState,
    meta: &RequestMeta,
    user_id: Option<Uuid>,
    purpose: Purpose,
    server_state: &S,
) -> Result<String> {
    let id = secrets::generate();
    let json = serde_json::to_string(server_state).map_err(|e| anyhow::anyhow!("keeping a ceremony: {e}"))?;
    let ttl = time::Duration::seconds(TTL_SECS as i64);
    store::passkeys::start_ceremony(
        state.db(),
        &secrets::hash(&id),
        user_id,
        purpose,
        &json,
        &client_hash(meta),
        ttl,
    )
    .await?;
    Ok(id)
}

/// Takes the ceremony `id` of `purpose` for finishing, once. `owner` must be the account that started
/// it, when it was started by one. Answers its account and its server state.
pub(super) async fn finish<S: DeserializeOwned>(
    state: &AppState,
    meta: &RequestMeta,
    id: &str,
    purpose: Purpose,
    owner: Option<Uuid>,
) -> Result<(Option<Uuid>, S)> {
    if id.len() > 64 {
        return Err(invalid());
    }
    let row = store::passkeys::take_ceremony(state.db(), &secrets::hash(id), purpose)
        .await?
        .filter(|row| secrets::equal(&row.client_hash, &client_hash(meta)))
        .filter(|row| owner.is_none() || row.user_id == owner)
        .ok_or_else(invalid)?;
    let server_state = serde_json::from_str(&row.state).map_err(|e| anyhow::anyhow!("reading a ceremony: {e}"))?;
    Ok((row.user_id, server_state))
}

/// A credential id as the store keys it: unpadded base64url.
pub(super) fn credential_key(id: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(id)
}

/// The stored credential ids of `rows`, for excluding them from a new registration.
pub(super) fn credential_ids(rows: &[store::passkeys::PasskeyRow]) -> Vec<CredentialID> {
    rows.iter()
        .filter_map(|row| URL_SAFE_NO_PAD.decode(&row.credential_id).ok())
        .collect()
}

/// The answer of an authenticator to an authentication ceremony.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyAnswer {
    /// The `ceremony` from the options.
    #[schema(max_length = 64)]
    pub ceremony: String,
    /// The `PublicKeyCredential` that `navigator.credentials.get()` returned, as JSON (binary fields
    /// in unpadded base64url).
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Verifies an assertion for `row`'s passkey with `verify` (the relying party's finish step) and
/// records the outcome, the same for every route: a verified use moves the stored counter on, so an
/// older assertion never verifies again; a refusal is audited, as a possible clone when the counter
/// went backwards. True when it verified.
pub(super) async fn verify_assertion(
    state: &AppState,
    meta: &RequestMeta,
    row: &store::passkeys::PasskeyRow,
    verify: impl FnOnce(&Passkey) -> Result<AuthenticationResult, WebauthnError>,
) -> Result<bool> {
    let mut passkey = passkey_of(row)?;
    match verify(&passkey) {
        Ok(result) => {
            passkey.update_credential(&result);
            let record = serde_json::to_string(&passkey).map_err(|e| anyhow::anyhow!("storing a passkey: {e}"))?;
            store::passkeys::used(state.db(), row.id, &record).await?;
            Ok(true)
        }
        Err(e) => {
            let event = Event::PasskeyRejected {
                user: row.user_id,
                passkey: Some(row.id),
                clone: matches!(e, WebauthnError::CredentialPossibleCompromise),
            };
            audit::record(state, meta, event).await;
            Ok(false)
        }
    }
}

/// The stored passkey of `row`.
pub(super) fn passkey_of(row: &store::passkeys::PasskeyRow) -> Result<Passkey> {
    serde_json::from_str(&row.credential).map_err(|e| anyhow::anyhow!("reading a passkey: {e}").into())
}
