//! Argon2id hashing on blocking threads, with a semaphore so that a burst of sign-ins cannot take every
//! core or unbounded memory (each hash holds `memory_kib`).
//!
//! The working memory (19 MiB with the production parameters) is pooled: at most `concurrency` buffers
//! exist, each taken under a permit and put back afterwards. Allocating it per hash costs a page fault
//! for every 4 KiB of it (the kernel zeroes each page), and it makes the allocator either return and
//! re-fault the block every time or keep a heap that never shrinks; see `bench/README.md`, "Fixes".

use std::sync::{Arc, Mutex};

use anyhow::Context;
use argon2::password_hash::phc::{Output, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Semaphore;

use crate::config::Argon2Settings;

/// Hashes and verifies passwords.
pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    memory: Arc<MemoryPool>,
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
        // Not pooled: a server that no one signs in to should not keep 19 MiB for it.
        let dummy_hash = hash_with(&mut Vec::new(), &params, &hex(&seed))?;
        Ok(Hasher {
            params,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            memory: Arc::new(MemoryPool::default()),
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
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || pool.with(|memory| hash_with(memory, &params, password.expose_secret())))
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
        let pool = self.memory.clone();
        let ok = tokio::task::spawn_blocking(move || {
            pool.with(|memory| verify_with(memory, password.expose_secret().as_bytes(), &hash))
        })
        .await
        .context("verification task")?;
        Ok(ok && real)
    }
}

/// Argon2 working memory kept between hashes. Holds at most as many buffers as there are hash permits,
/// because a buffer is only taken while a permit is held.
#[derive(Default)]
struct MemoryPool {
    free: Mutex<Vec<Vec<Block>>>,
}

impl MemoryPool {
    fn with<T>(&self, work: impl FnOnce(&mut Vec<Block>) -> T) -> T {
        let mut memory = self
            .free
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default();
        let result = work(&mut memory);
        self.free.lock().unwrap_or_else(|e| e.into_inner()).push(memory);
        result
    }
}

/// Sizes `memory` for `params`: grown when too small, never shrunk (a hash with older, cheaper
/// parameters reuses the larger buffer).
fn blocks_for<'a>(memory: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    let needed = params.block_count();
    if memory.len() < needed {
        memory.resize(needed, Block::new());
    }
    &mut memory[..needed]
}

/// Hashes `password` with a fresh salt into a PHC string, using `memory` as the working memory.
pub fn hash_with(memory: &mut Vec<Block>, params: &Params, password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; argon2::RECOMMENDED_SALT_LEN];
    aws_lc_rs::rand::fill(&mut salt).map_err(|_| anyhow::anyhow!("system randomness unavailable"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks_for(memory, params))
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: params.try_into().map_err(|e| anyhow::anyhow!("hash parameters: {e}"))?,
        salt: Some(Salt::new(&salt).map_err(|e| anyhow::anyhow!("salt: {e}"))?),
        hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("hash output: {e}"))?),
    };
    Ok(phc.to_string())
}

/// Whether `password` matches the PHC string `phc`, computed with the algorithm, version and
/// parameters the string names (so hashes made under older settings still verify) in `memory`. The
/// outputs are compared in constant time (`Output`'s equality).
pub fn verify_with(memory: &mut Vec<Block>, password: &[u8], phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(hash.algorithm.as_str()) else {
        return false;
    };
    let version = match hash.version.map(Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon = Argon2::new(algorithm, version, params.clone());
    if argon
        .hash_password_into_with_memory(password, salt.as_ref(), &mut out, blocks_for(memory, &params))
        .is_err()
    {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| &computed == expected)
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

    #[test]
    fn hashes_made_by_the_argon2_crate_verify_and_the_other_way_round() {
        use argon2::{PasswordHasher, PasswordVerifier};
        let params = Params::new(64, 1, 1, None).unwrap();
        let theirs = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"correct horse")
            .unwrap()
            .to_string();
        let mut memory = Vec::new();
        assert!(verify_with(&mut memory, b"correct horse", &theirs));
        assert!(!verify_with(&mut memory, b"correct horsf", &theirs));
        let ours = hash_with(&mut memory, &params, "correct horse").unwrap();
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", ours.as_str())
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"correct horsf", ours.as_str())
                .is_err()
        );
    }

    #[test]
    fn a_pooled_buffer_serves_hashes_of_other_costs_and_garbage_never_verifies() {
        let mut memory = Vec::new();
        let big = hash_with(&mut memory, &Params::new(256, 1, 1, None).unwrap(), "pw-one").unwrap();
        let small = hash_with(&mut memory, &Params::new(64, 2, 1, None).unwrap(), "pw-two").unwrap();
        assert!(small.starts_with("$argon2id$v=19$m=64,t=2,p=1$"), "{small}");
        assert!(verify_with(&mut memory, b"pw-one", &big));
        assert!(verify_with(&mut memory, b"pw-two", &small));
        assert!(!verify_with(&mut memory, b"pw-one", &small));
        for garbage in [
            "",
            "$argon2id$",
            "$bcrypt$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            &big[..big.len() - 4],
        ] {
            assert!(!verify_with(&mut memory, b"pw-one", garbage), "{garbage}");
        }
    }

    #[tokio::test]
    async fn production_parameters_are_argon2id_19_mib_two_passes_one_lane() {
        let h = Hasher::new(crate::config::Settings::default().auth.argon2, 1).unwrap();
        let hash = h.hash("some password").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    }
}
