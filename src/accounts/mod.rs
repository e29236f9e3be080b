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
pub(crate) mod views;

use utoipa_axum::router::OpenApiRouter;

pub(crate) use auth::signed_in;

use crate::state::AppState;

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
