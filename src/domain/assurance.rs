//! How strongly a session's holder proved who they are, and how recently.
//!
//! A session records the methods of its sign-in as RFC 8176 `amr` values and the time of its last
//! strong authentication (the sign-in, or a step-up since). Access tokens carry both (`amr`, `acr`,
//! `auth_time`) for clients; the server itself reads them from the session row on every request, so
//! a step-up counts at once and nothing is taken from the token on faith.

use time::OffsetDateTime;

/// The methods a session was authenticated with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Amr {
    /// The password alone.
    Password,
    /// The password, then a TOTP code.
    PasswordAndTotp,
    /// The password, then a recovery code.
    PasswordAndRecoveryCode,
    /// The password, then a passkey.
    PasswordAndPasskey,
    /// A passkey alone (passwordless): possession of the key and the authenticator's user
    /// verification, two factors in one gesture.
    Passkey,
}

/// A second factor presented after the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    Totp,
    RecoveryCode,
    Passkey,
}

impl Amr {
    /// The stored form: RFC 8176 names, space-separated.
    pub fn as_str(self) -> &'static str {
        match self {
            Amr::Password => "pwd",
            Amr::PasswordAndTotp => "pwd otp mfa",
            Amr::PasswordAndRecoveryCode => "pwd mfa",
            // `swk`: whether the key is hardware-bound cannot be known for a synced passkey.
            Amr::PasswordAndPasskey => "pwd swk mfa",
            Amr::Passkey => "swk user mfa",
        }
    }

    /// The stored form read back; anything unknown counts as the weakest, the password alone.
    pub fn parse(stored: &str) -> Amr {
        match stored {
            "pwd otp mfa" => Amr::PasswordAndTotp,
            "pwd mfa" => Amr::PasswordAndRecoveryCode,
            "pwd swk mfa" => Amr::PasswordAndPasskey,
            "swk user mfa" => Amr::Passkey,
            _ => Amr::Password,
        }
    }

    /// The password and then `factor`.
    pub fn with(factor: Factor) -> Amr {
        match factor {
            Factor::Totp => Amr::PasswordAndTotp,
            Factor::RecoveryCode => Amr::PasswordAndRecoveryCode,
            Factor::Passkey => Amr::PasswordAndPasskey,
        }
    }

    /// Whether a second factor passed.
    pub fn is_multi_factor(self) -> bool {
        self != Amr::Password
    }

    /// The `amr` claim.
    pub fn methods(self) -> Vec<String> {
        self.as_str().split(' ').map(str::to_owned).collect()
    }

    /// The `acr` claim: NIST SP 800-63B's assurance level, `aal1` or `aal2`.
    pub fn acr(self) -> &'static str {
        if self.is_multi_factor() { "aal2" } else { "aal1" }
    }
}

/// A session's assurance: how, and when it was last strongly authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assurance {
    pub amr: Amr,
    pub authenticated_at: OffsetDateTime,
}

impl Assurance {
    /// Whether the last strong authentication is at most `window_secs` old at `now`.
    pub fn is_recent(&self, now: OffsetDateTime, window_secs: u64) -> bool {
        let age = now - self.authenticated_at;
        age.whole_seconds() <= i64::try_from(window_secs).unwrap_or(i64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_form_round_trips_and_unknown_counts_as_the_password_alone() {
        for amr in [
            Amr::Password,
            Amr::PasswordAndTotp,
            Amr::PasswordAndRecoveryCode,
            Amr::PasswordAndPasskey,
            Amr::Passkey,
        ] {
            assert_eq!(Amr::parse(amr.as_str()), amr);
        }
        assert_eq!(Amr::parse("mfa hwk"), Amr::Password);
        assert_eq!(Amr::with(Factor::Totp).methods(), ["pwd", "otp", "mfa"]);
        assert_eq!(
            (Amr::Password.acr(), Amr::PasswordAndRecoveryCode.acr()),
            ("aal1", "aal2")
        );
    }

    #[test]
    fn recent_means_within_the_window() {
        let at = OffsetDateTime::from_unix_timestamp(1_000_000).unwrap();
        let a = Assurance {
            amr: Amr::Password,
            authenticated_at: at,
        };
        assert!(a.is_recent(at + time::Duration::seconds(600), 600));
        assert!(!a.is_recent(at + time::Duration::seconds(601), 600));
    }
}
