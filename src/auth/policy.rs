//! The authorization policy: the one place that answers "may this actor do this?". Handlers ask it
//! explicitly after authentication, and every resource added later asks the same place.

use crate::auth::extract::AuthUser;
use crate::domain::Role;
use crate::error::AppError;
use crate::error::code;
use crate::state::AppState;

/// Something an actor may try to do.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    /// List users, change roles, disable accounts.
    ManageUsers,
    /// Read the security audit trail.
    ReadAudit,
    /// Read the detailed health report (the outbox, the storage driver).
    ReadHealth,
    /// Change content owned by `owner_id` (only the owner).
    EditContent { owner_id: uuid::Uuid },
    /// Remove content owned by `owner_id` (the owner, a moderator or an admin).
    RemoveContent { owner_id: uuid::Uuid },
}

impl Action {
    /// Whether doing this to `actor`'s request uses a staff power (an admin's or a moderator's),
    /// rather than a right every account has.
    fn is_staff_power(self, actor: &AuthUser) -> bool {
        match self {
            Action::ManageUsers | Action::ReadAudit | Action::ReadHealth => true,
            Action::EditContent { .. } => false,
            Action::RemoveContent { owner_id } => actor.user_id != owner_id,
        }
    }
}

/// Whether `actor` may perform `action`.
pub fn allows(actor: &AuthUser, action: Action) -> bool {
    match action {
        Action::ManageUsers | Action::ReadAudit | Action::ReadHealth => actor.role == Role::Admin,
        Action::EditContent { owner_id } => actor.user_id == owner_id,
        Action::RemoveContent { owner_id } => actor.user_id == owner_id || actor.role >= Role::Moderator,
    }
}

/// `allows`, as a `Forbidden` error when refused. With `auth.require_mfa_for_staff`, a staff power
/// also needs a session signed in with a second factor.
pub fn authorize(state: &AppState, actor: &AuthUser, action: Action) -> Result<(), AppError> {
    if !allows(actor, action) {
        return Err(AppError::Forbidden {
            code: code::FORBIDDEN,
            detail: "You are not allowed to do this.",
        });
    }
    let needs_mfa = state.settings().auth.require_mfa_for_staff && action.is_staff_power(actor);
    if needs_mfa && !actor.assurance.amr.is_multi_factor() {
        return Err(AppError::Forbidden {
            code: code::SECOND_FACTOR_REQUIRED,
            detail: "Your role needs a second factor: enrol one (POST /api/v1/me/mfa/totp), then sign in with it.",
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stable id per name (ids are UUIDs).
    fn id(name: &str) -> uuid::Uuid {
        uuid::Uuid::from_u128(
            name.bytes()
                .fold(0u128, |h, b| h.wrapping_mul(31).wrapping_add(u128::from(b))),
        )
    }

    fn actor(name: &str, role: Role) -> AuthUser {
        AuthUser {
            user_id: id(name),
            session_id: id("s"),
            username: name.into(),
            role,
            email_verified: true,
            assurance: crate::domain::assurance::Assurance {
                amr: crate::domain::assurance::Amr::Password,
                authenticated_at: crate::domain::now(),
            },
        }
    }

    #[test]
    fn the_policy_matrix_holds() {
        let user = actor("u", Role::User);
        let other = actor("o", Role::User);
        let moder = actor("m", Role::Moderator);
        let admin = actor("a", Role::Admin);
        let owned = id("u");
        let cases = [
            (&user, Action::ManageUsers, false),
            (&moder, Action::ManageUsers, false),
            (&admin, Action::ManageUsers, true),
            (&moder, Action::ReadAudit, false),
            (&admin, Action::ReadAudit, true),
            (&user, Action::ReadHealth, false),
            (&moder, Action::ReadHealth, false),
            (&admin, Action::ReadHealth, true),
            (&user, Action::EditContent { owner_id: owned }, true),
            (&other, Action::EditContent { owner_id: owned }, false),
            (&moder, Action::EditContent { owner_id: owned }, false),
            (&admin, Action::EditContent { owner_id: owned }, false),
            (&user, Action::RemoveContent { owner_id: owned }, true),
            (&other, Action::RemoveContent { owner_id: owned }, false),
            (&moder, Action::RemoveContent { owner_id: owned }, true),
            (&admin, Action::RemoveContent { owner_id: owned }, true),
        ];
        for (who, action, expected) in cases {
            assert_eq!(
                allows(who, action),
                expected,
                "{} {:?} {action:?}",
                who.user_id,
                who.role
            );
        }
    }
}
