//! Administration: list users, change roles, disable accounts, sign users out, read the audit trail.
//! Admins only.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::views::{AdminUserView, Page};
use crate::audit::{self, Event};
use crate::auth::extract::AuthUser;
use crate::auth::policy::{Action, authorize};
use crate::domain::{Role, rfc3339};
use crate::error::code;
use crate::error::{AppError, Problem, Result};
use crate::http::client_ip::RequestMeta;
use crate::http::cursor::{decode as decode_cursor, encode as encode_cursor, page_limit};
use crate::http::extract::{AppJson, AppPath, AppQuery};
use crate::state::AppState;
use crate::store::{self, users::AdminChange};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(update_user))
        .routes(routes!(reset_factors))
        .routes(routes!(revoke_sessions))
        .routes(routes!(list_audit))
}

const NO_SUCH_USER: AppError = AppError::NotFound {
    code: code::USER_NOT_FOUND,
    detail: "No such user.",
};

/// The account an admin's change names: the caller must manage users with a recent sign-in, and a
/// malformed id names no user.
async fn user_to_change(state: &AppState, actor: &AuthUser, id: &str) -> Result<store::users::UserRow> {
    authorize(state, actor, Action::ManageUsers)?;
    crate::auth::sessions::require_recent(state, actor)?;
    let id = uuid::Uuid::try_parse(id).map_err(|_| NO_SUCH_USER)?;
    store::users::find_by_id(state.db(), id).await?.ok_or(NO_SUCH_USER)
}

/// Remove every second factor of a user (authenticator app, recovery codes, passkeys), for someone
/// who lost them: they sign in with the password alone until they enrol again. Needs a recent
/// sign-in; the user gets a mail and the audit trail records `factors_reset`.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/factors", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`reauthentication_required`"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`user_not_found`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %actor.user_id))]
async fn reset_factors(
    State(state): State<AppState>,
    meta: RequestMeta,
    actor: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<axum::http::StatusCode> {
    let user = user_to_change(&state, &actor, &id).await?;
    let mut tx = state.db().begin().await?;
    store::factors::remove_all(&mut tx, user.id).await?;
    store::passkeys::delete_all(&mut tx, user.id).await?;
    tx.commit().await?;
    let event = Event::FactorsReset {
        admin: actor.user_id,
        user: user.id,
    };
    audit::record(&state, &meta, event).await;
    let what = "Every second factor (an administrator reset them)";
    crate::factors::mail_owner(&state, &user, crate::factors::Change::Removed, what).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Sign a user out everywhere: every session of theirs ends, so their access and refresh tokens stop
/// working on their next request. Needs a recent sign-in; the audit trail records
/// `sessions_revoked_by_admin` with the number of sessions ended.
#[utoipa::path(delete, path = "/api/v1/admin/users/{id}/sessions", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Every session of the user has ended (also when there was none)"),
        (status = 401, body = Problem, content_type = "application/problem+json", description = "`reauthentication_required`"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`user_not_found`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %actor.user_id))]
async fn revoke_sessions(
    State(state): State<AppState>,
    meta: RequestMeta,
    actor: AuthUser,
    AppPath(id): AppPath<String>,
) -> Result<axum::http::StatusCode> {
    let user = user_to_change(&state, &actor, &id).await?;
    let sessions = store::sessions::revoke_all(state.db(), user.id, None, "revoked_by_admin").await?;
    let event = Event::SessionsRevokedByAdmin {
        admin: actor.user_id,
        user: user.id,
        sessions,
    };
    audit::record(&state, &meta, event).await;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Whether an account may sign in, for filtering the user list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum UserStatus {
    Active,
    Disabled,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct UserQuery {
    role: Option<Role>,
    /// `active` or `disabled` accounts only.
    status: Option<UserStatus>,
    /// Substring of username, email or display name.
    q: Option<String>,
    cursor: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

/// List users, oldest first, with cursor pagination.
#[utoipa::path(get, path = "/api/v1/admin/users", tag = "admin", security(("bearer" = [])), params(UserQuery),
    responses(
        (status = 200, body = Page<AdminUserView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %actor.user_id))]
async fn list_users(
    State(state): State<AppState>,
    actor: AuthUser,
    AppQuery(q): AppQuery<UserQuery>,
) -> Result<Json<Page<AdminUserView>>> {
    authorize(&state, &actor, Action::ManageUsers)?;
    let limit = page_limit(q.limit)?;
    let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let filter = store::users::ListFilter {
        role: q.role,
        disabled: q.status.map(|s| matches!(s, UserStatus::Disabled)),
        text,
        after_id: after,
        limit: limit + 1,
    };
    let mut rows = store::users::list(state.db(), filter).await?;
    let next_cursor = (rows.len() as i64 > limit).then(|| {
        rows.truncate(limit as usize);
        rows.last().map(|r| encode_cursor(r.id))
    });
    Ok(Json(Page {
        items: rows.iter().map(AdminUserView::from).collect(),
        next_cursor: next_cursor.flatten(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
struct UpdateUserRequest {
    #[serde(default, deserialize_with = "crate::http::extract::non_null")]
    #[schema(nullable = false)]
    role: Option<Role>,
    #[serde(default, deserialize_with = "crate::http::extract::non_null")]
    #[schema(nullable = false)]
    disabled: Option<bool>,
}

/// Change a user's role or disable/enable them. Takes effect on that user's next request. The last
/// active admin cannot be demoted or disabled.
#[utoipa::path(patch, path = "/api/v1/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path)), request_body = UpdateUserRequest,
    responses(
        (status = 200, body = AdminUserView),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "`last_admin`"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %actor.user_id))]
async fn update_user(
    State(state): State<AppState>,
    meta: RequestMeta,
    actor: AuthUser,
    AppPath(id): AppPath<String>,
    AppJson(req): AppJson<UpdateUserRequest>,
) -> Result<Json<AdminUserView>> {
    authorize(&state, &actor, Action::ManageUsers)?;
    crate::auth::sessions::require_recent(&state, &actor)?;
    if req.role.is_none() && req.disabled.is_none() {
        return Err(AppError::invalid("role", "give role and/or disabled"));
    }
    // A malformed id names no user.
    let id = uuid::Uuid::try_parse(&id).ok();
    let change = match id {
        Some(id) => store::users::admin_update(state.db(), id, req.role, req.disabled).await?,
        None => AdminChange::NotFound,
    };
    let (before, row) = match change {
        AdminChange::Updated { before, after } => (*before, *after),
        AdminChange::NotFound => return Err(NO_SUCH_USER),
        AdminChange::LastAdmin => {
            return Err(AppError::Conflict {
                code: code::LAST_ADMIN,
                detail: "The last active admin cannot be demoted or disabled.",
                field: None,
            });
        }
    };
    if row.disabled_at.is_some() {
        store::sessions::revoke_all(state.db(), row.id, None, "disabled").await?;
    }
    if before.role != row.role {
        let event = Event::RoleChanged {
            admin: actor.user_id,
            user: row.id,
            from: before.role,
            to: row.role,
        };
        audit::record(&state, &meta, event).await;
    }
    if before.disabled_at.is_some() != row.disabled_at.is_some() {
        let (admin, user) = (actor.user_id, row.id);
        let event = if row.disabled_at.is_some() {
            Event::UserDisabled { admin, user }
        } else {
            Event::UserEnabled { admin, user }
        };
        audit::record(&state, &meta, event).await;
    }
    Ok(Json(AdminUserView::from(&row)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    kind: Option<String>,
    /// Events where this user is actor or target.
    user_id: Option<String>,
    cursor: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
struct AuditView {
    id: uuid::Uuid,
    kind: String,
    actor_id: Option<uuid::Uuid>,
    target_id: Option<uuid::Uuid>,
    ip: Option<String>,
    user_agent: Option<String>,
    details: serde_json::Value,
    created_at: String,
}

/// The security audit trail, newest first.
#[utoipa::path(get, path = "/api/v1/admin/audit", tag = "admin", security(("bearer" = [])), params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditView>),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %actor.user_id))]
async fn list_audit(
    State(state): State<AppState>,
    actor: AuthUser,
    AppQuery(q): AppQuery<AuditQuery>,
) -> Result<Json<Page<AuditView>>> {
    authorize(&state, &actor, Action::ReadAudit)?;
    let limit = page_limit(q.limit)?;
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let user_id = match q.user_id.as_deref().map(uuid::Uuid::try_parse) {
        None => None,
        Some(Ok(id)) => Some(id),
        // No event names a user by anything but a UUID.
        Some(Err(_)) => {
            return Ok(Json(Page {
                items: Vec::new(),
                next_cursor: None,
            }));
        }
    };
    let filter = store::audit::ListFilter {
        kind: q.kind.as_deref(),
        user_id,
        before_id: before,
        limit: limit + 1,
    };
    let mut rows = store::audit::list(state.db(), filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(|r| encode_cursor(r.id))
    } else {
        None
    };
    let items = rows
        .into_iter()
        .map(|r| AuditView {
            details: serde_json::from_str(&r.details).unwrap_or(serde_json::Value::Null),
            created_at: rfc3339(r.created_at),
            id: r.id,
            kind: r.kind,
            actor_id: r.actor_id,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
        })
        .collect();
    Ok(Json(Page { items, next_cursor }))
}
