//! Sessions and re-authentication, in one place: starting a session, rotating its refresh token
//! (with the CSRF check of cookie mode and reuse detection), and "confirm your current password".
//!
//! Handlers get plain values back ([`Issued`]) and decide how to answer (a JSON body, a cookie);
//! nothing here knows about HTTP beyond the request metadata recorded with a session.
//!
//! A session is a row in `sessions` holding the SHA-256 of its current refresh token. Every refresh
//! replaces the token; presenting a replaced one again means it was copied, so the whole session
//! ends (`refresh_token_reused`). The one exception is a retry: within `auth.refresh_reuse_grace_secs`,
//! the client that rotated the token (same IP address and user agent) gets the same successor again,
//! while that successor is unused and the session alive; the successor is kept sealed under a key
//! derived from the old token, so only its holder can open it. Access tokens name their session, and
//! the session is read on every request (`auth::extract`), so ending one takes effect at once.

use uuid::Uuid;

use super::extract::AuthUser;
use super::limits::Limit;
use super::secrets;
use super::vault::Vault;
use crate::audit::{self, Event};
use crate::domain::assurance::{Amr, Assurance, Factor};
use crate::error::code;
use crate::error::{AppError, Result};
use crate::factors::check::client_hash;
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store::sessions::{Rotation, Successor, UsedToken};
use crate::store::{self, users::UserRow};

/// What a started or rotated session hands out.
pub struct Issued {
    pub user: UserRow,
    pub session_id: Uuid,
    pub access_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    /// Cookie mode, at sign-in only: the value to send as `X-CSRF-Token` when refreshing.
    pub csrf_token: Option<String>,
    /// Seconds the session has left before its absolute expiry (a cookie's `Max-Age`).
    pub remaining_secs: i64,
}

/// A wrong login or password, an unknown or disabled account: one answer for all of them, so it says
/// nothing about which accounts exist.
pub const INVALID_CREDENTIALS: AppError = AppError::Unauthorized {
    code: code::INVALID_CREDENTIALS,
    detail: "The login or password is incorrect.",
};

const INVALID_REFRESH: AppError = AppError::Unauthorized {
    code: code::INVALID_REFRESH_TOKEN,
    detail: "The refresh token is not valid.",
};

/// Starts a session for `user`, authenticated with `amr`. In cookie mode the session also gets a
/// CSRF secret. Sign-in calls this only once every factor the account has has passed.
pub async fn start(state: &AppState, user: UserRow, meta: &RequestMeta, cookie_mode: bool, amr: Amr) -> Result<Issued> {
    let auth = &state.settings().auth;
    let refresh = secrets::generate();
    let csrf = cookie_mode.then(secrets::generate);
    let csrf_hash = csrf.as_deref().map(secrets::hash);
    let new = store::sessions::NewSession {
        user_id: user.id,
        ip: Some(&meta.ip),
        user_agent: meta.user_agent.as_deref(),
        idle: time::Duration::seconds(auth.session_idle_secs as i64),
        absolute: time::Duration::seconds(auth.session_absolute_secs as i64),
        csrf_hash: csrf_hash.as_deref(),
        amr,
    };
    let mut tx = state.db().begin().await?;
    let session_id = store::sessions::create(&mut tx, new, &secrets::hash(&refresh)).await?;
    tx.commit().await?;
    let assurance = Assurance {
        amr,
        authenticated_at: crate::domain::now(),
    };
    let access_token = state.keys().issue(user.id, session_id, user.role, assurance)?;
    Ok(Issued {
        user,
        session_id,
        access_token,
        expires_in: state.keys().ttl_secs(),
        refresh_token: refresh,
        csrf_token: csrf,
        remaining_secs: auth.session_absolute_secs as i64,
    })
}

/// How the refresh token arrived.
pub enum Presented<'a> {
    /// In the JSON body (`{"refresh_token": …}`).
    Body(&'a str),
    /// In the HttpOnly cookie; cookies ride along on cross-site requests, so the `X-CSRF-Token`
    /// header must come too and match the session's secret.
    Cookie { token: &'a str, csrf: Option<&'a str> },
}

/// Exchanges a refresh token for a new pair. Limited per session; a replaced token presented again
/// ends the session and is recorded, unless it is its rotating client's retry within the grace period,
/// which gets the same new refresh token.
pub async fn rotate(state: &AppState, meta: &RequestMeta, presented: Presented<'_>) -> Result<Issued> {
    let (token, csrf) = match presented {
        Presented::Body(token) => (token, None),
        Presented::Cookie { token, csrf } => (token, Some(csrf)),
    };
    let old_hash = secrets::hash(token);
    let Some((session_id, _, csrf_hash)) = store::sessions::owner_of_refresh(state.db(), &old_hash).await? else {
        return Err(INVALID_REFRESH);
    };
    Limit::RefreshSession(session_id).hit(state).await?;
    if let Some(sent) = csrf {
        let sent = sent.map(secrets::hash);
        let ok = matches!((sent, csrf_hash), (Some(s), Some(expected)) if secrets::equal(&s, &expected));
        if !ok {
            return Err(AppError::Forbidden {
                code: code::CSRF_FAILED,
                detail: "Missing or wrong X-CSRF-Token.",
            });
        }
    }
    let grace = state.settings().auth.refresh_reuse_grace_secs;
    let new_refresh = secrets::generate();
    let new_hash = secrets::hash(&new_refresh);
    let client = client_hash(meta);
    let sealed = match grace {
        0 => None,
        _ => Some(Vault::keyed_by_token(token)?.seal(session_id, new_refresh.as_bytes())?),
    };
    let next = Successor {
        hash: &new_hash,
        sealed: sealed.as_deref(),
        client: (grace > 0).then_some(client.as_str()),
    };
    let idle = time::Duration::seconds(state.settings().auth.session_idle_secs as i64);
    match store::sessions::rotate(state.db(), &old_hash, next, idle).await? {
        Rotation::Rotated(row) => issue_for(state, &row, new_refresh).await,
        Rotation::Used(used) => match successor_for_retry(token, &client, grace, &used) {
            Some(successor) => {
                // A benign retry (two tabs, a lost answer); not a security event.
                tracing::debug!(session_id = %used.auth.session_id, "refresh retried within the grace period");
                issue_for(state, &used.auth, successor).await
            }
            None => {
                let (session_id, user_id) = (used.auth.session_id, used.auth.user_id);
                store::sessions::revoke(state.db(), session_id, None, "refresh_token_reuse").await?;
                tracing::warn!(%session_id, "refresh token reuse: session revoked");
                let event = Event::RefreshTokenReused {
                    user: user_id,
                    session: session_id,
                };
                audit::record(state, meta, event).await;
                Err(AppError::Unauthorized {
                    code: code::REFRESH_TOKEN_REUSED,
                    detail: "This refresh token was already used; the session has been ended.",
                })
            }
        },
        Rotation::Invalid => Err(INVALID_REFRESH),
    }
}

/// A fresh access token for `row`'s session, handed out with `refresh_token`.
async fn issue_for(state: &AppState, row: &store::sessions::AuthRow, refresh_token: String) -> Result<Issued> {
    let user = store::users::find_by_id(state.db(), row.user_id)
        .await?
        .ok_or(INVALID_CREDENTIALS)?;
    let access_token = state
        .keys()
        .issue(user.id, row.session_id, user.role, row.assurance())?;
    Ok(Issued {
        user,
        session_id: row.session_id,
        access_token,
        expires_in: state.keys().ttl_secs(),
        refresh_token,
        csrf_token: None,
        remaining_secs: (row.absolute_expires_at - crate::domain::now()).whole_seconds(),
    })
}

/// The successor of a used `token` when presenting it again is a retry: within `grace_secs` of its
/// use, by the client that used it, in a live session, before the successor itself was used. Anything
/// else (`None`) is a reuse.
fn successor_for_retry(token: &str, client: &str, grace_secs: u64, used: &UsedToken) -> Option<String> {
    let now = crate::domain::now();
    let row = &used.used;
    let within = row
        .used_at
        .is_some_and(|at| grace_secs > 0 && now - at <= time::Duration::seconds(grace_secs as i64));
    let same_client = row.rotated_client.as_deref().is_some_and(|c| secrets::equal(c, client));
    if !(within && same_client && used.auth.is_live(now) && row.successor_unused()) {
        return None;
    }
    let opened = Vault::keyed_by_token(token)
        .ok()?
        .open(used.auth.session_id, row.successor_sealed.as_deref()?)?;
    let successor = String::from_utf8(opened).ok()?;
    // The seal already proves it; the hash check keeps a row edited by hand from handing out another token.
    let expected = row.successor_hash.as_deref()?;
    secrets::equal(&secrets::hash(&successor), expected).then_some(successor)
}

/// "Confirm your current password", the one check behind changing the password or the email and
/// deleting the account. Each attempt is charged to the caller's budget before the hash is checked
/// (parallel guesses cannot slip past) and refunded when it is right, so only wrong guesses use it
/// up. An account gone since the token was issued answers like an ended session.
pub async fn confirm_password(state: &AppState, user: &AuthUser, attempt: &str) -> Result<UserRow> {
    let budget = Limit::PasswordRecheck(user.user_id);
    budget.hit(state).await?;
    let row = account_of(state, user).await?;
    let attempt = crate::domain::password::normalise_attempt(attempt);
    if !state.hasher().verify(&attempt, Some(&row.password_hash)).await? {
        return Err(AppError::Forbidden {
            code: code::WRONG_PASSWORD,
            detail: "The current password is incorrect.",
        });
    }
    budget.refund(state).await;
    Ok(row)
}

/// The caller's account. One deleted since its token was issued answers like an ended session.
pub async fn account_of(state: &AppState, user: &AuthUser) -> Result<UserRow> {
    store::users::find_by_id(state.db(), user.user_id)
        .await?
        .ok_or(AppError::Unauthorized {
            code: code::INVALID_TOKEN,
            detail: "The account no longer exists.",
        })
}

/// The answer to a sensitive action in a session whose last strong authentication is too old.
pub const REAUTHENTICATION_REQUIRED: AppError = AppError::Unauthorized {
    code: code::REAUTHENTICATION_REQUIRED,
    detail: "This needs a recent sign-in: confirm your password or a second factor with \
             POST /api/v1/auth/reauthenticate, then try again.",
};

/// Step-up: sensitive actions need the password or a second factor within `auth.reauth_window_secs`
/// (the sign-in counts, as does `POST /auth/reauthenticate`).
pub fn require_recent(state: &AppState, user: &AuthUser) -> Result<()> {
    let window = state.settings().auth.reauth_window_secs;
    if user.assurance.is_recent(crate::domain::now(), window) {
        Ok(())
    } else {
        Err(REAUTHENTICATION_REQUIRED)
    }
}

/// Records a strong authentication in the caller's session now. A second factor raises the session
/// to multi-factor; the password keeps whatever the session had.
pub async fn stepped_up(state: &AppState, user: &AuthUser, factor: Option<Factor>) -> Result<()> {
    let amr = match factor {
        Some(factor) => Amr::with(factor),
        None => user.assurance.amr,
    };
    if store::sessions::reauthenticated(state.db(), user.session_id, amr).await? {
        Ok(())
    } else {
        Err(AppError::Unauthorized {
            code: code::SESSION_ENDED,
            detail: "This session has ended; sign in again.",
        })
    }
}
