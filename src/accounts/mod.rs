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

/// "Confirm your current password", the one check behind changing the password or the email and
/// deleting the account. Each attempt is charged to the caller's budget before the hash is checked
/// (parallel guesses cannot slip past) and refunded when it is right, so only wrong guesses use it
/// up. An account gone since the token was issued answers like an ended session.
async fn confirm_password(
    state: &AppState,
    user: &crate::auth::extract::AuthUser,
    attempt: &str,
) -> crate::error::Result<store::users::UserRow> {
    let budget = crate::auth::limits::Limit::PasswordRecheck(user.user_id);
    budget.hit(state).await?;
    let row = store::users::find_by_id(&state.db, user.user_id)
        .await?
        .ok_or(crate::error::AppError::Unauthorized {
            code: "invalid_token",
            detail: "The account no longer exists.",
        })?;
    let attempt = crate::domain::password::normalise_attempt(attempt);
    if !state.hasher.verify(&attempt, Some(&row.password_hash)).await? {
        return Err(crate::error::AppError::Forbidden {
            code: "wrong_password",
            detail: "The current password is incorrect.",
        });
    }
    budget.refund(state).await;
    Ok(row)
}
