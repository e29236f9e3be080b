//! Sealing secrets at rest: AES-256-GCM with a fresh random nonce per seal and the owner's id as
//! associated data, so a sealed secret copied onto another row does not open. Second-factor secrets
//! are sealed under a key from configuration (`auth.mfa_key_file`); a refresh token's successor, kept
//! for a retried refresh, under a key only the holder of the old token can derive ([`Vault::keyed_by_token`]).

use std::path::{Path, PathBuf};

use anyhow::Context;
use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use uuid::Uuid;

use crate::config::AuthSettings;

/// Bytes of the key file: 32 raw bytes, or their base64 on one line.
pub const KEY_BYTES: usize = 32;

/// The key that seals TOTP secrets.
pub struct Vault {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Vault {
    /// Loads `auth.mfa_key_file`, or in development creates `<data_dir>/keys/mfa-aes256.key`.
    pub fn load(settings: &AuthSettings, data_dir: &Path) -> anyhow::Result<Vault> {
        let path = match &settings.mfa_key_file {
            Some(path) => path.clone(),
            None => {
                let path = default_key_path(data_dir);
                if !path.exists() {
                    write_new_key(&path)?;
                }
                path
            }
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading MFA key {}", path.display()))?;
        let raw = decode_key(&bytes).with_context(|| format!("MFA key {}", path.display()))?;
        Vault::from_bytes(&raw)
    }

    /// A key derived from `token` (SHA-256 over a label and the token), for sealing what only the
    /// token's holder may open again. The label keeps it apart from the token's lookup hash, which is
    /// stored, so the database alone never holds the key.
    pub fn keyed_by_token(token: &str) -> anyhow::Result<Vault> {
        use sha2::{Digest, Sha256};
        let key = Sha256::new()
            .chain_update(b"rampart refresh successor v1\0")
            .chain_update(token.as_bytes())
            .finalize();
        Vault::from_bytes(&key)
    }

    pub fn from_bytes(raw: &[u8]) -> anyhow::Result<Vault> {
        let key = UnboundKey::new(&AES_256_GCM, raw).map_err(|_| anyhow::anyhow!("the MFA key must be 32 bytes"))?;
        Ok(Vault {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// `secret` sealed for `owner`: base64 of nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, owner: Uuid, secret: &[u8]) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| anyhow::anyhow!("no randomness for a nonce"))?;
        let mut sealed = secret.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| anyhow::anyhow!("sealing a secret"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(STANDARD.encode(out))
    }

    /// The secret `sealed` holds, if it was sealed under this key for `owner`.
    pub fn open(&self, owner: Uuid, sealed: &str) -> Option<Vec<u8>> {
        let bytes = STANDARD.decode(sealed).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, body) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut body)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// Where a development key is kept.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("mfa-aes256.key")
}

/// Writes a new random key (base64, mode 0600); refuses to overwrite a file.
pub fn write_new_key(path: &Path) -> anyhow::Result<()> {
    let mut raw = [0u8; KEY_BYTES];
    SystemRandom::new()
        .fill(&mut raw)
        .map_err(|_| anyhow::anyhow!("no randomness for a key"))?;
    super::tokens::create_key_folder(path)?;
    super::tokens::write_private(path, format!("{}\n", STANDARD.encode(raw)).as_bytes())
}

fn decode_key(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    if bytes.len() == KEY_BYTES {
        return Ok(bytes.to_vec());
    }
    let text = std::str::from_utf8(bytes).context("neither 32 raw bytes nor base64")?;
    let raw = STANDARD
        .decode(text.trim())
        .context("neither 32 raw bytes nor base64")?;
    anyhow::ensure!(raw.len() == KEY_BYTES, "the key must be 32 bytes, not {}", raw.len());
    Ok(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_only_for_its_owner_and_under_its_key() {
        let vault = Vault::from_bytes(&[7; KEY_BYTES]).unwrap();
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let sealed = vault.seal(ann, b"twenty secret bytes!").unwrap();
        assert!(!sealed.contains("twenty"));
        assert_eq!(vault.open(ann, &sealed).as_deref(), Some(&b"twenty secret bytes!"[..]));
        assert_eq!(vault.open(bob, &sealed), None, "another account's row");
        let other = Vault::from_bytes(&[8; KEY_BYTES]).unwrap();
        assert_eq!(other.open(ann, &sealed), None, "another key");
        assert_ne!(
            vault.seal(ann, b"same").unwrap(),
            vault.seal(ann, b"same").unwrap(),
            "fresh nonces"
        );
        let mut tampered = STANDARD.decode(&sealed).unwrap();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(vault.open(ann, &STANDARD.encode(tampered)), None);
        assert_eq!(vault.open(ann, "not base64!"), None);
    }

    #[test]
    fn a_secret_sealed_under_a_token_opens_only_with_that_token_and_never_with_its_stored_hash() {
        let (token, session) = (crate::auth::secrets::generate(), Uuid::now_v7());
        let sealed = Vault::keyed_by_token(&token)
            .unwrap()
            .seal(session, b"successor")
            .unwrap();
        let opened = Vault::keyed_by_token(&token).unwrap().open(session, &sealed);
        assert_eq!(opened.as_deref(), Some(&b"successor"[..]));
        let other = crate::auth::secrets::generate();
        assert_eq!(Vault::keyed_by_token(&other).unwrap().open(session, &sealed), None);
        // The row stores hex SHA-256 of the token: neither it nor its bytes are the key.
        let stored = crate::auth::secrets::hash(&token);
        assert_eq!(Vault::keyed_by_token(&stored).unwrap().open(session, &sealed), None);
        let digest: Vec<u8> = (0..stored.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&stored[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(Vault::from_bytes(&digest).unwrap().open(session, &sealed), None);
        assert_eq!(
            Vault::keyed_by_token(&token).unwrap().open(Uuid::now_v7(), &sealed),
            None,
            "another session's row"
        );
    }

    #[test]
    fn a_generated_key_file_loads_and_a_short_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys").join("mfa.key");
        write_new_key(&path).unwrap();
        assert!(write_new_key(&path).is_err(), "never overwritten");
        let settings = AuthSettings {
            mfa_key_file: Some(path.clone()),
            ..AuthSettings::default()
        };
        let vault = Vault::load(&settings, dir.path()).unwrap();
        let owner = Uuid::now_v7();
        let again = Vault::load(&settings, dir.path()).unwrap();
        assert_eq!(
            again.open(owner, &vault.seal(owner, b"x").unwrap()).as_deref(),
            Some(&b"x"[..])
        );
        std::fs::write(dir.path().join("short"), STANDARD.encode([1u8; 16])).unwrap();
        let short = AuthSettings {
            mfa_key_file: Some(dir.path().join("short")),
            ..AuthSettings::default()
        };
        assert!(Vault::load(&short, dir.path()).is_err());
    }
}
