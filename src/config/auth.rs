//! `[auth]` and `[limits]`: tokens, sessions, password hashing and the rate limits in front of them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Environment;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub issuer: String,
    pub audience: String,
    /// Access-token lifetime; at most 900 seconds.
    pub access_ttl_secs: u64,
    /// A session unused for this long ends.
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in, used or not.
    pub session_absolute_secs: u64,
    /// PKCS#8 Ed25519 key file. Unset: generated under `<data_dir>/keys` (development only).
    pub signing_key_file: Option<PathBuf>,
    pub argon2: Argon2Settings,
    /// Concurrent password hashes; each takes `argon2.memory_kib` of memory.
    pub hash_concurrency: usize,
    /// 32-byte key that encrypts TOTP secrets at rest (from `rampart keys generate --mfa`). Unset:
    /// generated under `<data_dir>/keys` (development only).
    pub mfa_key_file: Option<PathBuf>,
    /// How recent the last strong authentication (the password or a second factor) must be for
    /// sensitive actions (admin role changes, enrolling a factor); older answers
    /// `401 reauthentication_required`.
    pub reauth_window_secs: u64,
    /// Admins and moderators must have signed in with a second factor to use their powers.
    pub require_mfa_for_staff: bool,
    /// For this long after a refresh, the same client presenting the same (now used) refresh token
    /// again gets the same new refresh token instead of having its session ended as a reuse: two
    /// browser tabs, or a retry after a dropped answer. 0 turns it off; at most 60.
    pub refresh_reuse_grace_secs: u64,
}

/// The longest `auth.refresh_reuse_grace_secs`: a window for retries, not a second lifetime.
pub const MAX_REFRESH_REUSE_GRACE_SECS: u64 = 60;

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl AuthSettings {
    pub(super) fn check(&self, env: Environment, problems: &mut Vec<String>) {
        if self.access_ttl_secs == 0 || self.access_ttl_secs > 900 {
            problems.push("auth.access_ttl_secs must be between 1 and 900".to_owned());
        }
        if self.session_idle_secs == 0 || self.session_absolute_secs < self.session_idle_secs {
            problems.push("auth.session_absolute_secs must be at least auth.session_idle_secs (> 0)".to_owned());
        }
        if self.reauth_window_secs == 0 {
            problems.push("auth.reauth_window_secs must be at least 1".to_owned());
        }
        if self.refresh_reuse_grace_secs > MAX_REFRESH_REUSE_GRACE_SECS {
            problems.push(format!(
                "auth.refresh_reuse_grace_secs must be at most {MAX_REFRESH_REUSE_GRACE_SECS}"
            ));
        }
        if self.hash_concurrency == 0 {
            problems.push("auth.hash_concurrency must be at least 1".to_owned());
        }
        let argon2 = &self.argon2;
        if argon2::Params::new(argon2.memory_kib, argon2.iterations, argon2.parallelism, None).is_err() {
            problems.push("auth.argon2 parameters are not valid Argon2 parameters".to_owned());
        }
        if env == Environment::Production {
            if self.signing_key_file.is_none() {
                problems.push(
                    "auth.signing_key_file must be set in production (generate one with `rampart keys generate`)"
                        .to_owned(),
                );
            }
            if self.mfa_key_file.is_none() {
                problems.push(
                    "auth.mfa_key_file must be set in production (generate one with `rampart keys generate --mfa`)"
                        .to_owned(),
                );
            }
            if argon2.memory_kib < Argon2Settings::default().memory_kib {
                problems.push("auth.argon2.memory_kib below 19456 is refused in production".to_owned());
            }
        }
    }
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            issuer: "rampart".into(),
            audience: "rampart-api".into(),
            access_ttl_secs: 900,
            session_idle_secs: 14 * 24 * 3600,
            session_absolute_secs: 60 * 24 * 3600,
            signing_key_file: None,
            argon2: Argon2Settings::default(),
            hash_concurrency: super::cores(),
            mfa_key_file: None,
            reauth_window_secs: 600,
            require_mfa_for_staff: false,
            refresh_reuse_grace_secs: 5,
        }
    }
}

/// OWASP's second recommended Argon2id setting (19 MiB, 2 passes, 1 lane).
impl Default for Argon2Settings {
    fn default() -> Self {
        Argon2Settings {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// A token bucket: `burst` requests at once, refilled over `per_secs`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub burst: u32,
    pub per_secs: u64,
}

const fn rate(burst: u32, per_secs: u64) -> Rate {
    Rate { burst, per_secs }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    pub register_per_ip: Rate,
    pub login_per_ip: Rate,
    pub refresh_per_ip: Rate,
    pub refresh_per_session: Rate,
    /// Failed sign-ins for one account from one IP.
    pub login_failures_per_account_ip: Rate,
    /// Failed sign-ins for one account from anywhere; higher, so one attacker cannot lock the owner out.
    pub login_failures_per_account: Rate,
    /// Password-reset requests and verification re-sends per IP.
    pub recovery_per_ip: Rate,
    /// Password-reset requests and verification re-sends per account (or per address asked about).
    pub recovery_per_account: Rate,
    /// Wrong second-factor codes (TOTP or recovery) for one account, at sign-in, step-up or disabling.
    pub mfa_failures_per_account: Rate,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            register_per_ip: rate(10, 3600),
            login_per_ip: rate(30, 60),
            refresh_per_ip: rate(60, 60),
            refresh_per_session: rate(10, 60),
            login_failures_per_account_ip: rate(5, 900),
            login_failures_per_account: rate(50, 3600),
            recovery_per_ip: rate(10, 3600),
            recovery_per_account: rate(3, 3600),
            mfa_failures_per_account: rate(5, 900),
        }
    }
}
