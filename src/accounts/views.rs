//! Response shapes shared by the accounts routes.

use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::{Role, rfc3339};
use crate::store::users::UserRow;

/// The caller's own account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    pub id: uuid::Uuid,
    pub username: String,
    pub email: String,
    pub display_name: Option<String>,
    pub bio: String,
    pub role: Role,
    pub email_verified: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&UserRow> for UserView {
    fn from(u: &UserRow) -> Self {
        UserView {
            id: u.id,
            username: u.username.clone(),
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            bio: u.bio.clone(),
            role: u.role,
            email_verified: u.email_verified_at.is_some(),
            created_at: rfc3339(u.created_at),
            updated_at: rfc3339(u.updated_at),
        }
    }
}

/// What an admin sees of an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminUserView {
    #[serde(flatten)]
    pub user: UserView,
    pub disabled: bool,
}

impl From<&UserRow> for AdminUserView {
    fn from(u: &UserRow) -> Self {
        AdminUserView {
            user: UserView::from(u),
            disabled: u.disabled_at.is_some(),
        }
    }
}

/// The public face of an account: no email, no hash, no role.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublicProfile {
    pub id: uuid::Uuid,
    pub username: String,
    pub display_name: Option<String>,
    pub bio: String,
    pub created_at: String,
}

impl From<&UserRow> for PublicProfile {
    fn from(u: &UserRow) -> Self {
        PublicProfile {
            id: u.id,
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            bio: u.bio.clone(),
            created_at: rfc3339(u.created_at),
        }
    }
}

/// Answer to register, login and refresh.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub user: UserView,
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// Absent in cookie mode, where the token is in an HttpOnly cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// In cookie mode: the value to send as `X-CSRF-Token` when refreshing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
}

impl TokenResponse {
    /// In cookie mode the refresh token travels in its cookie, never in the body.
    pub fn new(issued: crate::auth::sessions::Issued, cookie_mode: bool) -> Self {
        TokenResponse {
            user: UserView::from(&issued.user),
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: (!cookie_mode).then_some(issued.refresh_token),
            csrf_token: issued.csrf_token,
        }
    }
}

/// A page of results with an opaque cursor for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}
