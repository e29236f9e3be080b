//! Second factors: a TOTP authenticator with recovery codes (`/me/mfa`), the sign-in step after the
//! password (`/auth/mfa/verify`) and step-up in a running session (`/auth/reauthenticate`).
//!
//! The flows and how their secrets are stored are described in `docs/SECOND_FACTORS.md`.

mod ceremony;
mod check;
mod codes;
mod passkeys;
mod passwordless;
mod reauth;
pub(crate) mod signin;
mod totp;
mod views;

use utoipa_axum::router::OpenApiRouter;

pub use ceremony::relying_party;

use crate::state::AppState;

/// Every second-factor route.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(totp::router())
        .merge(codes::router())
        .merge(signin::router())
        .merge(reauth::router())
        .merge(passkeys::router())
        .merge(passwordless::router())
}
