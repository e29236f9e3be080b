//! Image posts: creation from a sanitised upload, the feed, reading, editing and deleting.
//!
//! Creation order is what keeps storage and database consistent: the renditions are stored first,
//! then the row is written; if the row fails the renditions are removed. A crash in between leaves
//! only unowned objects, which `rampart media reconcile` removes; never a post without its image.

mod create;
mod read;
mod upload;
mod views;
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

/// Posting needs an active account; email verification is enforced here once accounts can verify.
fn may_post(_user: &AuthUser) -> Result<(), AppError> {
    Ok(())
}
