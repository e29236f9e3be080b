//! The abuse limits Rampart applies, by name. Each variant builds its own bucket key and picks its
//! own rate from the settings, so a call site says *what* it limits (`Limit::LoginIp(ip)`) and
//! cannot pair a key with the wrong rate or spell a key two ways.
//!
//! The keys are stable strings (they name Redis buckets shared by every instance, so an upgrade
//! in the middle of a burst keeps counting it).

use uuid::Uuid;

use crate::auth::limiter::LimitError;
use crate::config::{LimitSettings, Rate};
use crate::error::AppError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub enum Limit<'a> {
    /// Registrations from one client IP.
    RegisterIp(&'a str),
    /// Registrations of one address (at the per-IP rate).
    RegisterEmail(&'a str),
    /// Sign-in attempts from one client IP, successful or not.
    LoginIp(&'a str),
    /// Failed sign-ins for one login (as typed, normalised) from all IPs.
    LoginFailures(&'a str),
    /// Failed sign-ins for one login from one IP.
    LoginFailuresFromIp { login: &'a str, ip: &'a str },
    /// Refresh calls from one client IP.
    RefreshIp(&'a str),
    /// Refresh calls of one session.
    RefreshSession(Uuid),
    /// Reset requests and verification re-sends from one client IP.
    RecoveryIp(&'a str),
    /// Reset requests for one address asked about, known or not.
    RecoveryEmail(&'a str),
    /// Email-change requests of one user.
    EmailChange(Uuid),
    /// Verification re-sends of one user.
    VerificationResend(Uuid),
    /// Wrong current-password answers of one user (password change, email change, deletion share it).
    PasswordRecheck(Uuid),
    /// Wrong second-factor codes of one account, wherever they are typed.
    SecondFactor(Uuid),
}

impl Limit<'_> {
    pub fn key(&self) -> String {
        match self {
            Limit::RegisterIp(ip) => format!("register:ip:{ip}"),
            Limit::RegisterEmail(email) => format!("register:email:{email}"),
            Limit::LoginIp(ip) => format!("login:ip:{ip}"),
            Limit::LoginFailures(login) => format!("loginfail:acct:{login}"),
            Limit::LoginFailuresFromIp { login, ip } => format!("loginfail:acctip:{login}:{ip}"),
            Limit::RefreshIp(ip) => format!("refresh:ip:{ip}"),
            Limit::RefreshSession(id) => format!("refresh:session:{id}"),
            Limit::RecoveryIp(ip) => format!("recovery:ip:{ip}"),
            Limit::RecoveryEmail(email) => format!("recovery:email:{email}"),
            Limit::EmailChange(id) => format!("recovery:user:{id}"),
            Limit::VerificationResend(id) => format!("verify:user:{id}"),
            Limit::PasswordRecheck(id) => format!("pwchange:{id}"),
            Limit::SecondFactor(id) => format!("mfafail:{id}"),
        }
    }

    pub fn rate(&self, limits: &LimitSettings) -> Rate {
        match self {
            Limit::RegisterIp(_) | Limit::RegisterEmail(_) => limits.register_per_ip,
            Limit::LoginIp(_) => limits.login_per_ip,
            Limit::LoginFailures(_) => limits.login_failures_per_account,
            Limit::LoginFailuresFromIp { .. } | Limit::PasswordRecheck(_) => limits.login_failures_per_account_ip,
            Limit::RefreshIp(_) => limits.refresh_per_ip,
            Limit::RefreshSession(_) => limits.refresh_per_session,
            Limit::RecoveryIp(_) => limits.recovery_per_ip,
            Limit::RecoveryEmail(_) | Limit::EmailChange(_) | Limit::VerificationResend(_) => {
                limits.recovery_per_account
            }
            Limit::SecondFactor(_) => limits.mfa_failures_per_account,
        }
    }

    /// The limit's name, for metrics: its variant, without the key's parts.
    pub fn name(&self) -> &'static str {
        match self {
            Limit::RegisterIp(_) => "register_ip",
            Limit::RegisterEmail(_) => "register_email",
            Limit::LoginIp(_) => "login_ip",
            Limit::LoginFailures(_) => "login_failures",
            Limit::LoginFailuresFromIp { .. } => "login_failures_from_ip",
            Limit::RefreshIp(_) => "refresh_ip",
            Limit::RefreshSession(_) => "refresh_session",
            Limit::RecoveryIp(_) => "recovery_ip",
            Limit::RecoveryEmail(_) => "recovery_email",
            Limit::EmailChange(_) => "email_change",
            Limit::VerificationResend(_) => "verification_resend",
            Limit::PasswordRecheck(_) => "password_recheck",
            Limit::SecondFactor(_) => "second_factor",
        }
    }

    /// Takes one token; over the limit is `429 rate_limited`, an unreachable limiter `503`.
    pub async fn hit(&self, state: &AppState) -> Result<(), AppError> {
        let taken = state
            .limiter()
            .hit(&self.key(), self.rate(&state.settings().limits))
            .await;
        if let (Err(LimitError::Limited(_)), Some(metrics)) = (&taken, state.metrics()) {
            metrics.limit_refused(self.name());
        }
        Ok(taken?)
    }

    /// Gives back a token taken by [`Limit::hit`] for an attempt that turned out not to count. A
    /// limiter that is down now only loses the refund, so the caller's answer does not change.
    pub async fn refund(&self, state: &AppState) {
        let _ = state
            .limiter()
            .refund(&self.key(), self.rate(&state.settings().limits))
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_has_a_key_of_its_own() {
        let id = Uuid::nil();
        let all = [
            Limit::RegisterIp("x"),
            Limit::RegisterEmail("x"),
            Limit::LoginIp("x"),
            Limit::LoginFailures("x"),
            Limit::LoginFailuresFromIp { login: "x", ip: "x" },
            Limit::RefreshIp("x"),
            Limit::RefreshSession(id),
            Limit::RecoveryIp("x"),
            Limit::RecoveryEmail("x"),
            Limit::EmailChange(id),
            Limit::VerificationResend(id),
            Limit::PasswordRecheck(id),
            Limit::SecondFactor(id),
        ];
        let keys: std::collections::HashSet<String> = all.iter().map(Limit::key).collect();
        assert_eq!(keys.len(), all.len(), "two limits share a bucket: {keys:?}");
        let names: std::collections::HashSet<&str> = all.iter().map(Limit::name).collect();
        assert_eq!(names.len(), all.len(), "two limits share a metric label: {names:?}");
    }

    #[test]
    fn each_limit_takes_the_rate_named_for_it() {
        let mut limits = crate::config::Settings::default().limits;
        limits.login_per_ip = Rate { burst: 7, per_secs: 70 };
        limits.recovery_per_account = Rate { burst: 3, per_secs: 33 };
        assert_eq!(Limit::LoginIp("ip").rate(&limits), limits.login_per_ip);
        assert_eq!(
            Limit::EmailChange(Uuid::nil()).rate(&limits),
            limits.recovery_per_account
        );
        assert_eq!(
            Limit::VerificationResend(Uuid::nil()).rate(&limits),
            limits.recovery_per_account
        );
    }
}
