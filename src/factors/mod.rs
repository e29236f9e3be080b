//! Second factors: a TOTP authenticator with recovery codes (`/me/mfa`), the sign-in step after the
//! password (`/auth/mfa/verify`) and step-up in a running session (`/auth/reauthenticate`).
//!
//! The flows and how their secrets are stored are described in `docs/SECOND_FACTORS.md`.

mod ceremony;
pub(crate) mod check;
mod codes;
mod passkeys;
mod passwordless;
mod reauth;
pub(crate) mod signin;
mod totp;
pub(crate) mod views;

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

/// A factor added to or removed from an account.
pub(crate) enum Change {
    Added,
    Removed,
}

/// Mails the owner about a factor change (`what`: "An authenticator app", "A passkey (…)"), so that
/// an intruder's enrolment or removal does not go unseen.
pub(crate) async fn mail_owner(
    state: &AppState,
    account: &crate::store::users::UserRow,
    change: Change,
    what: &str,
) -> crate::error::Result<()> {
    let (to, name) = (&account.email, &account.username);
    let notice = match change {
        Change::Added => crate::mail::templates::factor_added(to, name, what),
        Change::Removed => crate::mail::templates::factor_removed(to, name, what),
    };
    state.mailer().queue(state.db(), &notice).await?;
    Ok(())
}
