//! Argon2id hashing on blocking threads, with a semaphore so that a burst of sign-ins cannot take every
//! core or unbounded memory (each hash holds `memory_kib`).

use std::sync::Arc;

use anyhow::Context;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::Argon2Settings;

/// Hashes and verifies passwords.
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified when an account does not exist so that unknown accounts
    /// take as long to refuse as wrong passwords.
    dummy_hash: String,
}

impl Hasher {
    pub fn new(settings: Argon2Settings, concurrency: usize) -> anyhow::Result<Hasher> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let mut seed = [0u8; 24];
        aws_lc_rs::rand::fill(&mut seed).map_err(|_| anyhow::anyhow!("system randomness unavailable"))?;
        let dummy_hash = hash_blocking(&params, &hex(&seed))?;
        Ok(Hasher {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            dummy_hash,
        })
    }

    /// The parameters new hashes use.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Hashes a password into a PHC string.
    pub async fn hash(&self, password: &str) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await.context("hash permits closed")?;
        let params = self.params.clone();
        let password = SecretString::from(password.to_owned());
        tokio::task::spawn_blocking(move || hash_blocking(&params, password.expose_secret()))
            .await
            .context("hashing task")?
    }

    /// Verifies `password` against `hash`, or against the dummy hash when `hash` is `None`; always
    /// false in that case, but only after the same work.
    pub async fn verify(&self, password: &SecretString, hash: Option<&str>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await.context("hash permits closed")?;
        let real = hash.is_some();
        let hash = hash.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.clone();
        let ok = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .context("verification task")?;
        Ok(ok && real)
    }
}

fn hash_blocking(params: &Params, password: &str) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash = argon
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Hasher {
        Hasher::new(
            Argon2Settings {
                memory_kib: 64,
                iterations: 1,
                parallelism: 1,
            },
            2,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let h = cheap();
        let hash = h.hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert!(
            h.verify(&SecretString::from("correct horse"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(
            !h.verify(&SecretString::from("correct horsf"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!h.verify(&SecretString::from("correct horse"), None).await.unwrap());
    }

    #[tokio::test]
    async fn production_parameters_are_argon2id_19_mib_two_passes_one_lane() {
        let h = Hasher::new(crate::config::Settings::default().auth.argon2, 1).unwrap();
        let hash = h.hash("some password").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }
}
