//! Checking a second factor typed by the user: a TOTP code or a recovery code. One function for
//! sign-in, step-up and disabling, so the rules (one use per code, a failure budget per account)
//! cannot differ between them.

use uuid::Uuid;

use webauthn_rs::prelude::{PasskeyAuthentication, PublicKeyCredential};

use super::ceremony::{self, PasskeyAnswer};
use crate::audit::{self, Event};
use crate::auth::limits::Limit;
use crate::auth::{secrets, totp};
use crate::domain::assurance::Factor;
use crate::error::Result;
use crate::http::client_ip::RequestMeta;
use crate::state::AppState;
use crate::store;
use crate::store::passkeys::Purpose;

/// A second factor as sent: exactly one of them.
#[derive(Debug, Default)]
pub struct FactorInput {
    /// The six digits the authenticator app shows.
    pub code: Option<String>,
    /// One of the recovery codes (dashes, spaces and case do not matter).
    pub recovery_code: Option<String>,
    /// A passkey's answer to a second-factor ceremony.
    pub passkey: Option<PasskeyAnswer>,
}

impl FactorInput {
    /// Whether exactly one factor was given.
    pub fn is_one(&self) -> bool {
        [
            self.code.is_some(),
            self.recovery_code.is_some(),
            self.passkey.is_some(),
        ]
        .iter()
        .filter(|given| **given)
        .count()
            == 1
    }
}

/// Checks `input` against `user_id`'s factors and uses it up: a TOTP code's step is recorded (the same
/// code, or an older one, never works again) and a recovery code is spent. `None` when wrong.
///
/// Each attempt is charged to the account's budget before anything is compared and refunded when it
/// was right, so guesses in parallel cannot slip past the limit.
pub async fn check(state: &AppState, meta: &RequestMeta, user_id: Uuid, input: &FactorInput) -> Result<Option<Factor>> {
    let budget = Limit::SecondFactor(user_id);
    budget.hit(state).await?;
    let passed = match (&input.code, &input.recovery_code, &input.passkey) {
        (Some(code), None, None) => totp_passes(state, user_id, code).await?.then_some(Factor::Totp),
        (None, Some(code), None) => recovery_passes(state, meta, user_id, code)
            .await?
            .then_some(Factor::RecoveryCode),
        (None, None, Some(answer)) => passkey_passes(state, meta, user_id, answer)
            .await?
            .then_some(Factor::Passkey),
        _ => None,
    };
    match passed {
        Some(_) => budget.refund(state).await,
        None => audit::record(state, meta, Event::SecondFactorFailed { user: user_id }).await,
    }
    Ok(passed)
}

async fn totp_passes(state: &AppState, user_id: Uuid, code: &str) -> Result<bool> {
    let Some(row) = store::factors::totp(state.db(), user_id).await? else {
        return Ok(false);
    };
    if row.confirmed_at.is_none() {
        return Ok(false);
    }
    let secret = open_secret(state, user_id, &row.secret)?;
    let last = row.last_step.and_then(|s| u64::try_from(s).ok());
    let Some(step) = totp::matching_step(&secret, code, unix_now(), last) else {
        return Ok(false);
    };
    Ok(store::factors::use_totp_step(state.db(), user_id, step_arg(step)).await?)
}

async fn recovery_passes(state: &AppState, meta: &RequestMeta, user_id: Uuid, code: &str) -> Result<bool> {
    let Some(normal) = normalise_recovery_code(code) else {
        return Ok(false);
    };
    if !store::factors::use_recovery_code(state.db(), user_id, &secrets::hash(&normal)).await? {
        return Ok(false);
    }
    let left = store::factors::summary(state.db(), user_id).await?.recovery_codes_left;
    audit::record(state, meta, Event::RecoveryCodeUsed { user: user_id, left }).await;
    Ok(true)
}

/// Verifies a passkey's answer to a second-factor ceremony of `user_id` (one started with the
/// account's passkeys as the allowed credentials) and records the use.
async fn passkey_passes(state: &AppState, meta: &RequestMeta, user_id: Uuid, answer: &PasskeyAnswer) -> Result<bool> {
    let rp = ceremony::rp(state)?;
    let (_, auth): (_, PasskeyAuthentication) =
        ceremony::finish(state, meta, &answer.ceremony, Purpose::SecondFactor, Some(user_id)).await?;
    let Ok(credential) = serde_json::from_value::<PublicKeyCredential>(answer.credential.clone()) else {
        return Ok(false);
    };
    let key = ceremony::credential_key(credential.get_credential_id());
    let Some(row) = store::passkeys::by_credential_id(state.db(), &key)
        .await?
        .filter(|row| row.user_id == user_id)
    else {
        return Ok(false);
    };
    ceremony::verify_assertion(state, meta, &row, |_| {
        rp.finish_passkey_authentication(&credential, &auth)
    })
    .await
}

/// The secret of a sealed authenticator. One that does not open means the key changed under the
/// data (a configuration error), never the user's fault, so it is a 500 and logged.
pub fn open_secret(state: &AppState, user_id: Uuid, sealed: &str) -> Result<Vec<u8>> {
    state.vault().open(user_id, sealed).ok_or_else(|| {
        anyhow::anyhow!("a TOTP secret does not open with auth.mfa_key_file; was the key replaced?").into()
    })
}

/// What binds a sign-in challenge or a passkey ceremony to the client that started it, and a refresh
/// token's retry to the client that rotated it: a hash of its IP address and user agent.
pub fn client_hash(meta: &RequestMeta) -> String {
    secrets::hash(&format!(
        "{}\n{}",
        meta.ip,
        meta.user_agent.as_deref().unwrap_or_default()
    ))
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    u64::try_from(crate::domain::now().unix_timestamp()).unwrap_or(0)
}

/// A step as the store keeps it. Steps are Unix time / 30, far below `i64::MAX`.
pub fn step_arg(step: u64) -> i64 {
    i64::try_from(step).unwrap_or(i64::MAX)
}

/// Recovery codes: 16 characters of an unambiguous base32 alphabet (80 random bits), shown in groups
/// of four. Typed codes are compared without dashes, spaces or case.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
const CODE_CHARS: usize = 16;

/// A new recovery code: as shown (`xxxx-xxxx-xxxx-xxxx`) and as stored (the hash of its normal form).
pub fn new_recovery_code() -> Result<(String, String)> {
    let mut raw = [0u8; CODE_CHARS];
    aws_lc_rs::rand::fill(&mut raw).map_err(|_| anyhow::anyhow!("system randomness unavailable"))?;
    // 256 is a multiple of 32, so `% 32` picks every character equally often.
    let normal: String = raw.iter().map(|b| char::from(ALPHABET[usize::from(b % 32)])).collect();
    let shown = normal
        .as_bytes()
        .chunks(4)
        .map(|group| String::from_utf8_lossy(group).into_owned())
        .collect::<Vec<_>>()
        .join("-");
    Ok((shown, secrets::hash(&normal)))
}

/// The comparable form of a typed recovery code, or `None` when it cannot be one.
pub fn normalise_recovery_code(typed: &str) -> Option<String> {
    let normal: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let valid = normal.len() == CODE_CHARS && normal.bytes().all(|b| ALPHABET.contains(&b));
    valid.then_some(normal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_codes_are_grouped_random_and_normalise_to_their_stored_form() {
        let (a, stored) = new_recovery_code().unwrap();
        assert_eq!(a.len(), 19, "{a}");
        assert_eq!(a.matches('-').count(), 3, "{a}");
        assert_ne!(a, new_recovery_code().unwrap().0);
        let normal = normalise_recovery_code(&a).unwrap();
        assert_eq!(secrets::hash(&normal), stored, "what is typed hashes to what is stored");
        assert_eq!(
            normalise_recovery_code(&a.to_uppercase().replace('-', " ")),
            Some(normal)
        );
        for bad in ["", "short", "0000-0000-0000-0000", "abcd-efgh-ijkm-npqr-s"] {
            assert_eq!(normalise_recovery_code(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn exactly_one_factor_is_one() {
        let both = FactorInput {
            code: Some("1".into()),
            recovery_code: Some("2".into()),
            ..FactorInput::default()
        };
        assert!(!both.is_one() && !FactorInput::default().is_one());
        assert!(
            FactorInput {
                code: Some("1".into()),
                ..FactorInput::default()
            }
            .is_one()
        );
    }
}
