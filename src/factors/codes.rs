//! Recovery codes: ten single-use codes that stand in for the authenticator, stored as SHA-256.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::check::new_recovery_code;
use super::totp::NOT_ENABLED;
use super::views::RecoveryCodes;
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::sessions;
use crate::error::{Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store::{self, Tx};

/// Codes per set.
pub const CODES: usize = 10;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(regenerate))
}

/// A new set of recovery codes for `user_id`, replacing the old set, inside `tx`.
pub(super) async fn issue_recovery_codes(tx: &mut Tx, user_id: Uuid) -> Result<RecoveryCodes> {
    let pairs = (0..CODES).map(|_| new_recovery_code()).collect::<Result<Vec<_>>>()?;
    let (codes, hashes): (Vec<String>, Vec<String>) = pairs.into_iter().unzip();
    store::factors::replace_recovery_codes(tx, user_id, &hashes).await?;
    Ok(RecoveryCodes { recovery_codes: codes })
}

/// Replace the recovery codes with ten new ones; the old ones stop working. Needs a recent sign-in.
#[utoipa::path(post, path = "/api/v1/me/mfa/recovery-codes", tag = "me", security(("bearer" = [])),
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`reauthentication_required`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`totp_not_enabled`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn regenerate(State(state): State<AppState>, meta: RequestMeta, user: AuthUser) -> Result<Json<RecoveryCodes>> {
    sessions::require_recent(&state, &user)?;
    if !store::factors::summary(state.db(), user.user_id).await?.totp {
        return Err(NOT_ENABLED);
    }
    let mut tx = state.db().begin().await?;
    let codes = issue_recovery_codes(&mut tx, user.user_id).await?;
    tx.commit().await?;
    audit::record(&state, &meta, Event::RecoveryCodesRegenerated { user: user.user_id }).await;
    Ok(Json(codes))
}
