//! Accounts: registration, sign-in and sessions (`/auth`), the caller's own account (`/me`), public
//! profiles (`/users`) and administration (`/admin`).

mod account_data;
mod admin;
mod auth;
mod cookies;
mod email_change;
mod me;
mod recovery;
mod refresh;
mod sessions;
mod users;
mod verification;
mod views;

use utoipa_axum::router::OpenApiRouter;

use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store;

/// Every accounts route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(auth::router())
        .merge(refresh::router())
        .merge(sessions::router())
        .merge(me::router())
        .merge(users::router())
        .merge(admin::router())
        .merge(verification::router())
        .merge(recovery::router())
        .merge(email_change::router())
        .merge(account_data::router())
}

/// Records a security event. A failure to record is logged, not shown to the client: the action it
/// describes has already happened.
async fn audit(
    state: &AppState,
    meta: &RequestMeta,
    kind: &str,
    actor_id: Option<uuid::Uuid>,
    target_id: Option<uuid::Uuid>,
    details: serde_json::Value,
) {
    let event = store::audit::NewEvent {
        kind,
        actor_id,
        target_id,
        ip: Some(&meta.ip),
        user_agent: meta.user_agent.as_deref(),
        details,
    };
    if let Err(err) = store::audit::insert(&state.db, event).await {
        tracing::error!(error = %err, kind, "could not record audit event");
    }
}

/// A rate-limit check as an error.
async fn limit(state: &AppState, key: &str, rate: crate::config::Rate) -> crate::error::Result<()> {
    Ok(state.limiter.hit(key, rate).await?)
}
