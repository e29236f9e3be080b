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
use crate::media::storage::StorageError;
use crate::state::AppState;

/// Every posts route.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(create::router(state))
        .merge(read::router())
        .merge(write::router())
}

/// Storage failures as HTTP errors: down → 503, too slow → 504, refused → 502.
impl From<StorageError> for AppError {
    fn from(e: StorageError) -> Self {
        tracing::warn!(error = %e, "storage operation failed");
        match e {
            StorageError::TimedOut => AppError::Upstream {
                status: 504,
                code: "storage_timeout",
            },
            StorageError::Unreachable(_) => AppError::Upstream {
                status: 503,
                code: "storage_unavailable",
            },
            StorageError::Rejected(_) | StorageError::Io(_) => AppError::Upstream {
                status: 502,
                code: "storage_error",
            },
        }
    }
}

/// Posting needs an active account (the extractor saw to that) and, unless configured otherwise, a
/// verified email address.
fn may_post(state: &AppState, user: &AuthUser) -> Result<(), AppError> {
    if state.settings.posts.require_verified_email && !user.email_verified {
        return Err(AppError::Forbidden {
            code: "email_unverified",
            detail: "Verify your email address before posting.",
        });
    }
    Ok(())
}
