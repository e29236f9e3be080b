//! Authentication as extractors. `AuthUser` requires a valid bearer token for a live session;
//! `MaybeAuthUser` allows anonymous calls but still refuses a bad token rather than ignoring it.
//! Tokens are read from the `Authorization` header only, never from the URL or a cookie.

use axum::extract::FromRequestParts;
use axum::http::HeaderValue;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use uuid::Uuid;

use crate::domain::assurance::Assurance;
use crate::domain::{Role, now};
use crate::error::AppError;
use crate::error::code;
use crate::state::AppState;
use crate::store;

/// The authenticated caller, as the database sees them on this request.
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub username: String,
    /// The current role, read from the database: a role change applies on the very next request.
    pub role: Role,
    pub email_verified: bool,
    /// How this session was authenticated, and when last (read from the session, not the token).
    pub assurance: Assurance,
}

/// An optional caller.
#[derive(Debug, Clone)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

const INVALID: AppError = AppError::Unauthorized {
    code: code::INVALID_TOKEN,
    detail: "The access token is invalid or expired.",
};

fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    parts.headers.get(AUTHORIZATION).map(bearer_token).transpose()
}

/// The token of an `Authorization: Bearer <token>` value, trimmed; any other value is a 401.
pub(crate) fn bearer_token(value: &HeaderValue) -> Result<&str, AppError> {
    let value = value.to_str().map_err(|_| INVALID)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(INVALID),
    }
}

async fn authenticate(token: &str, state: &AppState) -> Result<AuthUser, AppError> {
    let claims = state.keys().verify(token).ok_or(INVALID)?;
    let session_id = Uuid::try_parse(&claims.sid).map_err(|_| INVALID)?;
    let row = store::sessions::auth_lookup(state.db(), session_id)
        .await?
        .ok_or(INVALID)?;
    if Uuid::try_parse(&claims.sub).ok() != Some(row.user_id) {
        return Err(INVALID);
    }
    if !row.is_live(now()) {
        return Err(AppError::Unauthorized {
            code: code::SESSION_ENDED,
            detail: "This session has ended; sign in again.",
        });
    }
    let assurance = row.assurance();
    Ok(AuthUser {
        user_id: row.user_id,
        session_id: row.session_id,
        username: row.username,
        role: row.role,
        email_verified: row.email_verified_at.is_some(),
        assurance,
    })
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(user) = parts.extensions.get::<AuthUser>() {
            return Ok(user.clone());
        }
        let token = bearer(parts)?.ok_or(AppError::Unauthorized {
            code: code::MISSING_TOKEN,
            detail: "This endpoint needs a bearer token.",
        })?;
        let user = authenticate(token, state).await?;
        // The request span's `user_id`, for its log lines and trace (an id, never a name or email).
        tracing::Span::current().record("user_id", tracing::field::display(user.user_id));
        parts.extensions.insert(user.clone());
        Ok(user)
    }
}

impl FromRequestParts<AppState> for MaybeAuthUser {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if bearer(parts)?.is_none() {
            return Ok(MaybeAuthUser(None));
        }
        AuthUser::from_request_parts(parts, state)
            .await
            .map(|u| MaybeAuthUser(Some(u)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(value: &str) -> Option<String> {
        bearer_token(&HeaderValue::from_str(value).unwrap())
            .ok()
            .map(str::to_owned)
    }

    #[test]
    fn only_a_bearer_value_with_a_token_yields_it() {
        let cases = [
            ("Bearer a.b.c", Some("a.b.c"), "the usual spelling"),
            ("bEaReR   a.b.c  ", Some("a.b.c"), "any case, surrounding space trimmed"),
            ("Bearer ", None, "no token"),
            ("Bearer", None, "no space"),
            ("Basic dXNlcjpwYXNz", None, "another scheme"),
            ("a.b.c", None, "no scheme"),
        ];
        for (value, expected, why) in cases {
            assert_eq!(token(value).as_deref(), expected, "{why}: {value:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn a_token_is_taken_only_from_a_bearer_value_and_is_trimmed_and_non_empty(
            value in "(?i:bearer)?[ \t]{0,2}[ -~\t]{0,40}"
        ) {
            if let Ok(header) = HeaderValue::from_str(&value)
                && let Ok(token) = bearer_token(&header)
            {
                proptest::prop_assert!(value.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("bearer ")));
                proptest::prop_assert!(!token.is_empty() && token.trim() == token);
                proptest::prop_assert!(value.trim_end().ends_with(token));
            }
        }
    }
}
