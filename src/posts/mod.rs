//! Image posts: creation from a sanitised upload, the feed, reading, editing and deleting.
//!
//! Creation order is what keeps storage and database consistent: the renditions are stored first,
//! then the row is written; if the row fails the renditions are removed. A crash in between leaves
//! only unowned objects, which `rampart media reconcile` removes; never a post without its image.

mod create;
mod read;
pub mod upload;
pub mod views;
mod write;

use utoipa_axum::router::OpenApiRouter;

use crate::auth::extract::AuthUser;
use crate::error::AppError;
use crate::error::code;
use crate::state::AppState;

/// Every posts route.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(create::router(state))
        .merge(read::router())
        .merge(write::router())
}

/// Posting needs an active account (the extractor saw to that) and, unless configured otherwise, a
/// verified email address.
fn may_post(state: &AppState, user: &AuthUser) -> Result<(), AppError> {
    if state.settings().posts.require_verified_email && !user.email_verified {
        return Err(AppError::Forbidden {
            code: code::EMAIL_UNVERIFIED,
            detail: "Verify your email address before posting.",
        });
    }
    Ok(())
}
