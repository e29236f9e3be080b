//! The caller's data as a whole: export it, or delete the account with everything it owns.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::UserView;
use crate::auth::extract::AuthUser;
use crate::domain::rfc3339;
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::extract::AppJson;
use crate::posts::views::{PostView, post_view};
use crate::state::AppState;
use crate::store;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_account))
        .routes(routes!(delete_account))
}

#[derive(Serialize, ToSchema)]
struct ExportedSession {
    id: uuid::Uuid,
    created_at: String,
    last_used_at: String,
    ip: Option<String>,
    user_agent: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct ExportedEvent {
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    created_at: String,
}

#[derive(Serialize, ToSchema)]
struct ExportedFactors {
    totp: bool,
    recovery_codes_left: i64,
    passkeys: Vec<crate::factors::views::PasskeyView>,
}

#[derive(Serialize, ToSchema)]
struct Export<'a> {
    user: UserView,
    sessions: Vec<ExportedSession>,
    /// Every post, with links to its media.
    posts: Vec<PostView<'a>>,
    /// Security events about the account.
    events: Vec<ExportedEvent>,
    /// Second factors: whether an authenticator app is on, the recovery codes left, the passkeys.
    factors: ExportedFactors,
    exported_at: String,
}

/// Everything stored about the caller, as JSON.
#[utoipa::path(get, path = "/api/v1/me/export", tag = "me", security(("bearer" = [])),
    responses((status = 200, body = Export), (status = 401, body = Problem, content_type = "application/problem+json")))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn export_account(State(state): State<AppState>, user: AuthUser) -> Result<Response> {
    let row = store::users::find_by_id(state.db(), user.user_id)
        .await?
        .ok_or(AppError::NotFound {
            code: code::USER_NOT_FOUND,
            detail: "No such user.",
        })?;
    let sessions = store::sessions::list_live(state.db(), user.user_id)
        .await?
        .into_iter()
        .map(|s| ExportedSession {
            id: s.id,
            created_at: rfc3339(s.created_at),
            last_used_at: rfc3339(s.last_used_at),
            ip: s.ip,
            user_agent: s.user_agent,
        })
        .collect();
    // The views borrow from the rows, so the rows are kept until the body is written.
    let rows = store::posts::by_author(state.db(), user.user_id).await?;
    let mut posts = Vec::with_capacity(rows.len());
    for post in &rows {
        posts.push(post_view(state.media().as_ref(), post).await?);
    }
    let filter = store::audit::ListFilter {
        kind: None,
        user_id: Some(user.user_id),
        before_id: None,
        limit: 10_000,
    };
    let events = store::audit::list(state.db(), filter)
        .await?
        .into_iter()
        .map(|e| ExportedEvent {
            kind: e.kind,
            ip: e.ip,
            user_agent: e.user_agent,
            created_at: rfc3339(e.created_at),
        })
        .collect();
    let summary = store::factors::summary(state.db(), user.user_id).await?;
    let factors = ExportedFactors {
        totp: summary.totp,
        recovery_codes_left: summary.recovery_codes_left,
        passkeys: (store::passkeys::list(state.db(), user.user_id).await?.iter())
            .map(crate::factors::views::PasskeyView::from)
            .collect(),
    };
    Ok(Json(Export {
        user: UserView::from(&row),
        sessions,
        posts,
        factors,
        events,
        exported_at: rfc3339(crate::domain::now()),
    })
    .into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DeleteAccountRequest {
    #[schema(schema_with = crate::domain::schema::current_password)]
    password: String,
}

/// Delete the account, its sessions, its posts and their media. Nothing is kept.
#[utoipa::path(delete, path = "/api/v1/me", tag = "me", security(("bearer" = [])), request_body = DeleteAccountRequest,
    responses(
        (status = 204),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "`wrong_password`"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`last_admin`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %user.user_id))]
async fn delete_account(
    State(state): State<AppState>,
    user: AuthUser,
    AppJson(req): AppJson<DeleteAccountRequest>,
) -> Result<StatusCode> {
    crate::auth::sessions::confirm_password(&state, &user, &req.password).await?;
    // The last-admin rule, the deletion and the mail cleanup in one transaction: two admins deleting
    // themselves at once cannot both pass the rule.
    let mut tx = store::users::begin_admin_change(state.db()).await?;
    let current = store::users::find_by_id(&mut tx, user.user_id)
        .await?
        .ok_or(AppError::NotFound {
            code: code::USER_NOT_FOUND,
            detail: "No such user.",
        })?;
    if store::users::removes_last_admin(&mut tx, &current, false).await? {
        return Err(AppError::Conflict {
            code: code::LAST_ADMIN,
            detail: "The last active admin cannot delete their account.",
            field: None,
        });
    }
    let images = store::posts::images_of_author(&mut tx, user.user_id).await?;
    store::users::delete_account(&mut tx, user.user_id).await?;
    store::outbox::delete_pending_for(&mut tx, &current.email).await?;
    tx.commit().await?;
    // The rows are gone first; media that fails to go now is unowned and reconciliation removes it.
    for record in images {
        match record.image {
            Ok(image) => {
                if let Err(e) = state.media().remove(&image).await {
                    tracing::error!(error = %e, post_id = %record.id, "media of a deleted account remains; reconcile will remove it");
                }
            }
            Err(e) => tracing::error!(error = %e, post_id = %record.id, "unreadable image record"),
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
