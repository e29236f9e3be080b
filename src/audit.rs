//! The security trail: every event Rampart records, and the one function that records them.
//!
//! Each [`Event`] carries what the trail needs and knows its own kind, actor, target and details, so a
//! handler says what happened (`Event::PasswordChanged { .. }`) and cannot misspell a kind or put the
//! actor where the target goes. Rows go to `audit_events` through `store::audit`.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::domain::Role;
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store;

#[derive(Debug, Clone)]
pub enum Event {
    Registered {
        user: Uuid,
    },
    SignedIn {
        user: Uuid,
        cookie: bool,
    },
    /// `target` is the account the login named, when there is one; the login is kept as typed.
    SignInFailed {
        login: String,
        target: Option<Uuid>,
    },
    SignedOut {
        user: Uuid,
        session: Uuid,
    },
    SignedOutEverywhere {
        user: Uuid,
        sessions: u64,
    },
    SessionRevoked {
        user: Uuid,
        session: Uuid,
    },
    /// A used refresh token came back: the session was ended. Nobody is known to have acted.
    RefreshTokenReused {
        user: Uuid,
        session: Uuid,
    },
    EmailVerified {
        user: Uuid,
    },
    EmailChangeRequested {
        user: Uuid,
    },
    EmailChanged {
        user: Uuid,
    },
    PasswordChanged {
        user: Uuid,
        sessions_ended: u64,
    },
    /// Asked for anonymously; the account is the target.
    PasswordResetRequested {
        user: Uuid,
    },
    PasswordReset {
        user: Uuid,
        sessions_ended: u64,
    },
    RoleChanged {
        admin: Uuid,
        user: Uuid,
        from: Role,
        to: Role,
    },
    UserDisabled {
        admin: Uuid,
        user: Uuid,
    },
    UserEnabled {
        admin: Uuid,
        user: Uuid,
    },
    /// An admin removed every second factor of a user.
    FactorsReset {
        admin: Uuid,
        user: Uuid,
    },
    /// An admin signed a user out everywhere; `sessions` were live.
    SessionsRevokedByAdmin {
        admin: Uuid,
        user: Uuid,
        sessions: u64,
    },
    PostRemovedByModerator {
        moderator: Uuid,
        author: Uuid,
        post: Uuid,
    },
    TotpEnabled {
        user: Uuid,
    },
    TotpDisabled {
        user: Uuid,
    },
    RecoveryCodesRegenerated {
        user: Uuid,
    },
    /// A recovery code was spent; `left` are unused.
    RecoveryCodeUsed {
        user: Uuid,
        left: i64,
    },
    /// A wrong or reused second-factor code for the account (at sign-in, step-up or disabling).
    SecondFactorFailed {
        user: Uuid,
    },
    PasskeyAdded {
        user: Uuid,
        passkey: Uuid,
    },
    PasskeyRemoved {
        user: Uuid,
        passkey: Uuid,
    },
    /// A passkey's answer did not verify for the account (at sign-in or as a second factor);
    /// `clone` when its signature counter went backwards, the sign of a copied authenticator.
    PasskeyRejected {
        user: Uuid,
        passkey: Option<Uuid>,
        clone: bool,
    },
    /// A step-up: the password or a second factor confirmed in a running session.
    Reauthenticated {
        user: Uuid,
        session: Uuid,
        factor: bool,
    },
}

impl Event {
    /// The `kind` column: stable names that the admin filter and existing rows use.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Registered { .. } => "register",
            Event::SignedIn { .. } => "login",
            Event::SignInFailed { .. } => "login_failed",
            Event::SignedOut { .. } => "logout",
            Event::SignedOutEverywhere { .. } => "logout_all",
            Event::SessionRevoked { .. } => "session_revoked",
            Event::RefreshTokenReused { .. } => "refresh_token_reuse",
            Event::EmailVerified { .. } => "email_verified",
            Event::EmailChangeRequested { .. } => "email_change_requested",
            Event::EmailChanged { .. } => "email_changed",
            Event::PasswordChanged { .. } => "password_changed",
            Event::PasswordResetRequested { .. } => "password_reset_requested",
            Event::PasswordReset { .. } => "password_reset",
            Event::RoleChanged { .. } => "role_changed",
            Event::UserDisabled { .. } => "user_disabled",
            Event::UserEnabled { .. } => "user_enabled",
            Event::FactorsReset { .. } => "factors_reset",
            Event::SessionsRevokedByAdmin { .. } => "sessions_revoked_by_admin",
            Event::PostRemovedByModerator { .. } => "post_removed_by_moderator",
            Event::TotpEnabled { .. } => "totp_enabled",
            Event::TotpDisabled { .. } => "totp_disabled",
            Event::RecoveryCodesRegenerated { .. } => "recovery_codes_regenerated",
            Event::RecoveryCodeUsed { .. } => "recovery_code_used",
            Event::SecondFactorFailed { .. } => "second_factor_failed",
            Event::Reauthenticated { .. } => "reauthenticated",
            Event::PasskeyAdded { .. } => "passkey_added",
            Event::PasskeyRemoved { .. } => "passkey_removed",
            Event::PasskeyRejected { .. } => "passkey_rejected",
        }
    }

    /// Who acted and whom it concerned.
    fn parties(&self) -> (Option<Uuid>, Option<Uuid>) {
        match *self {
            Event::Registered { user }
            | Event::SignedIn { user, .. }
            | Event::SignedOut { user, .. }
            | Event::SignedOutEverywhere { user, .. }
            | Event::SessionRevoked { user, .. }
            | Event::EmailVerified { user }
            | Event::EmailChangeRequested { user }
            | Event::EmailChanged { user }
            | Event::PasswordChanged { user, .. }
            | Event::PasswordReset { user, .. }
            | Event::TotpEnabled { user }
            | Event::TotpDisabled { user }
            | Event::RecoveryCodesRegenerated { user }
            | Event::RecoveryCodeUsed { user, .. }
            | Event::Reauthenticated { user, .. }
            | Event::PasskeyAdded { user, .. }
            | Event::PasskeyRemoved { user, .. } => (Some(user), Some(user)),
            Event::SecondFactorFailed { user } | Event::PasskeyRejected { user, .. } => (None, Some(user)),
            Event::SignInFailed { target, .. } => (None, target),
            Event::RefreshTokenReused { user, .. } | Event::PasswordResetRequested { user } => (None, Some(user)),
            Event::RoleChanged { admin, user, .. }
            | Event::UserDisabled { admin, user }
            | Event::UserEnabled { admin, user }
            | Event::FactorsReset { admin, user }
            | Event::SessionsRevokedByAdmin { admin, user, .. } => (Some(admin), Some(user)),
            Event::PostRemovedByModerator { moderator, author, .. } => (Some(moderator), Some(author)),
        }
    }

    fn details(&self) -> Value {
        match self {
            Event::SignedIn { cookie, .. } => json!({ "cookie": cookie }),
            Event::SignInFailed { login, .. } => json!({ "login": login }),
            Event::SignedOut { session, .. }
            | Event::SessionRevoked { session, .. }
            | Event::RefreshTokenReused { session, .. } => json!({ "session_id": session }),
            Event::SignedOutEverywhere { sessions, .. } | Event::SessionsRevokedByAdmin { sessions, .. } => {
                json!({ "sessions": sessions })
            }
            Event::PasswordChanged { sessions_ended, .. } | Event::PasswordReset { sessions_ended, .. } => {
                json!({ "sessions_ended": sessions_ended })
            }
            Event::RoleChanged { from, to, .. } => json!({ "from": from, "to": to }),
            Event::PostRemovedByModerator { post, author, .. } => json!({ "post_id": post, "author_id": author }),
            Event::RecoveryCodeUsed { left, .. } => json!({ "left": left }),
            Event::PasskeyAdded { passkey, .. } | Event::PasskeyRemoved { passkey, .. } => {
                json!({ "passkey_id": passkey })
            }
            Event::PasskeyRejected { passkey, clone, .. } => json!({ "passkey_id": passkey, "clone": clone }),
            Event::Reauthenticated { session, factor, .. } => json!({ "session_id": session, "factor": factor }),
            _ => json!({}),
        }
    }
}

/// Records a security event. A failure to record is logged, not shown to the client: the action it
/// describes has already happened.
pub async fn record(state: &AppState, meta: &RequestMeta, event: Event) {
    let (actor_id, target_id) = event.parties();
    let kind = event.kind();
    let row = store::audit::NewEvent {
        kind,
        actor_id,
        target_id,
        ip: Some(&meta.ip),
        user_agent: meta.user_agent.as_deref(),
        details: event.details(),
    };
    if let Err(err) = store::audit::insert(state.db(), row).await {
        tracing::error!(error = %err, kind, "could not record audit event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_removal_by_a_moderator_names_both_and_the_post() {
        let (moderator, author, post) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let e = Event::PostRemovedByModerator {
            moderator,
            author,
            post,
        };
        assert_eq!(e.kind(), "post_removed_by_moderator");
        assert_eq!(e.parties(), (Some(moderator), Some(author)));
        assert_eq!(e.details(), json!({ "post_id": post, "author_id": author }));
    }

    #[test]
    fn anonymous_events_have_no_actor() {
        let user = Uuid::now_v7();
        for e in [
            Event::SignInFailed {
                login: "x".into(),
                target: Some(user),
            },
            Event::RefreshTokenReused {
                user,
                session: Uuid::now_v7(),
            },
            Event::PasswordResetRequested { user },
        ] {
            assert_eq!(e.parties(), (None, Some(user)), "{}", e.kind());
        }
    }
}
