//! Access tokens: EdDSA (Ed25519) JWTs, at most 15 minutes long, naming a session.
//!
//! Verification pins the algorithm to EdDSA and the key to ours (chosen by `kid`); any `jwk`, `jku`,
//! `x5u` or `x5c` header is ignored because keys are never taken from the token.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::AuthSettings;
use crate::domain::Role;
use crate::domain::assurance::Assurance;

/// The `typ` header of our access tokens (RFC 9068), which nothing else we issue carries.
pub const TOKEN_TYPE: &str = "at+jwt";

/// Claims carried by an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub role: Role,
    pub iat: u64,
    pub exp: u64,
    pub jti: String,
    /// RFC 8176 methods of the session's sign-in (`pwd`, `otp`, `mfa`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// `aal1` (password) or `aal2` (a second factor passed).
    #[serde(default)]
    pub acr: String,
    /// The session's last strong authentication (Unix seconds): the sign-in or a step-up since.
    #[serde(default)]
    pub auth_time: u64,
}

/// The signing key and everything derived from it.
pub struct Keys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_raw: Vec<u8>,
    validation: Validation,
    ttl_secs: u64,
    issuer: String,
    audience: String,
    verified: VerifiedTokens,
}

/// Tokens whose signature and claims already passed, so a client sending the same token on every
/// request pays for one Ed25519 verification instead of one per request (the signature check was the
/// largest single cost of an authenticated read; see `bench/README.md`, "Fixes").
///
/// Only tokens that verified are kept, keyed by the whole token: a token differing in any byte is a
/// miss and is verified in full. A hit still checks expiry. The session behind the token is *not*
/// cached; it is read from the database on every request, so revocation stays immediate.
#[derive(Default)]
struct VerifiedTokens {
    map: Mutex<HashMap<Box<str>, Arc<Claims>>>,
    /// Lookups answered from the map, and the others, for the metrics.
    hits: AtomicU64,
    misses: AtomicU64,
}

/// How the verified-token cache has done since start-up.
#[derive(Debug, Clone, Copy)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

/// At ~0.5 KiB per token, at most ~5 MiB. When full, expired entries go; if none had, everything does.
const VERIFIED_TOKENS_MAX: usize = 10_000;

impl VerifiedTokens {
    fn get(&self, token: &str, now: u64, leeway: u64) -> Option<Arc<Claims>> {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let found = map
            .get(token)
            .filter(|claims| now <= claims.exp.saturating_add(leeway))
            .cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put(&self, token: &str, claims: Arc<Claims>, now: u64, leeway: u64) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= VERIFIED_TOKENS_MAX {
            map.retain(|_, c| now <= c.exp.saturating_add(leeway));
            if map.len() >= VERIFIED_TOKENS_MAX {
                map.clear();
            }
        }
        map.insert(token.into(), claims);
    }
}

impl Keys {
    /// Loads the configured key, or in development creates `<data_dir>/keys/signing-ed25519.pk8`.
    pub fn load(settings: &AuthSettings, data_dir: &Path) -> anyhow::Result<Keys> {
        let path = match &settings.signing_key_file {
            Some(p) => p.clone(),
            None => {
                let p = default_key_path(data_dir);
                if !p.exists() {
                    write_new_key(&p)?;
                }
                p
            }
        };
        let bytes = std::fs::read(&path).with_context(|| format!("reading signing key {}", path.display()))?;
        let pkcs8 =
            decode_key_file(&bytes).with_context(|| format!("signing key {} is not PKCS#8 Ed25519", path.display()))?;
        Keys::from_pkcs8(&pkcs8, settings)
    }

    /// Builds keys from PKCS#8 DER bytes.
    pub fn from_pkcs8(pkcs8: &[u8], settings: &AuthSettings) -> anyhow::Result<Keys> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| anyhow::anyhow!("invalid Ed25519 PKCS#8 key"))?;
        let public_raw = pair.public_key().as_ref().to_vec();
        let kid = Sha256::digest(&public_raw)
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&settings.issuer]);
        validation.set_audience(&[&settings.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = 5;
        Ok(Keys {
            kid,
            encoding: EncodingKey::from_ed_der(pkcs8),
            decoding: DecodingKey::from_ed_der(&public_raw),
            public_raw,
            validation,
            ttl_secs: settings.access_ttl_secs,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            verified: VerifiedTokens::default(),
        })
    }

    /// Hits, misses and size of the verified-token cache.
    pub fn cache_stats(&self) -> CacheStats {
        let cache = &self.verified;
        CacheStats {
            hits: cache.hits.load(Ordering::Relaxed),
            misses: cache.misses.load(Ordering::Relaxed),
            entries: cache.map.lock().unwrap_or_else(|e| e.into_inner()).len(),
        }
    }

    /// Lifetime of an access token in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// Issues an access token for a session.
    pub fn issue(
        &self,
        user_id: impl std::fmt::Display,
        session_id: impl std::fmt::Display,
        role: Role,
        assurance: Assurance,
    ) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            role,
            iat: now,
            exp: now + self.ttl_secs,
            jti: uuid::Uuid::now_v7().to_string(),
            amr: assurance.amr.methods(),
            acr: assurance.amr.acr().to_owned(),
            auth_time: u64::try_from(assurance.authenticated_at.unix_timestamp()).unwrap_or(0),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some(TOKEN_TYPE.to_owned());
        jsonwebtoken::encode(&header, &claims, &self.encoding).context("signing access token")
    }

    /// Verifies signature, algorithm, type, key id, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> Option<Arc<Claims>> {
        // A cheap shape check first: refresh tokens and junk never reach the parser.
        if !has_jwt_shape(token) {
            return None;
        }
        let now = jsonwebtoken::get_current_timestamp();
        if let Some(claims) = self.verified.get(token, now, self.validation.leeway) {
            return Some(claims);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.header.typ.as_deref() != Some(TOKEN_TYPE) || data.header.kid.as_deref() != Some(self.kid.as_str()) {
            return None;
        }
        let claims = Arc::new(data.claims);
        self.verified.put(token, claims.clone(), now, self.validation.leeway);
        Some(claims)
    }

    /// The public keys as a JWK set.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": "EdDSA",
                "use": "sig",
                "kid": self.kid,
                "x": URL_SAFE_NO_PAD.encode(&self.public_raw),
            }]
        })
    }
}

/// Longest access token looked at; ours are about 450 bytes.
const MAX_TOKEN_BYTES: usize = 4096;

/// Whether `token` has the shape of a signed compact JWT: at most [`MAX_TOKEN_BYTES`], three
/// non-empty segments of base64url without padding. An empty signature (`alg: none`) never passes.
pub fn has_jwt_shape(token: &str) -> bool {
    let segment = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    let mut segments = token.split('.');
    token.len() <= MAX_TOKEN_BYTES
        && segments.by_ref().take(3).filter(|s| segment(s)).count() == 3
        && segments.next().is_none()
}

/// Where a development key is kept.
pub fn default_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("keys").join("signing-ed25519.pk8")
}

/// Generates a new PKCS#8 key file readable by the owner only.
pub fn write_new_key(path: &Path) -> anyhow::Result<()> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| anyhow::anyhow!("generating Ed25519 key"))?;
    create_key_folder(path)?;
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        STANDARD.encode(doc.as_ref())
    );
    write_private(path, pem.as_bytes())
}

/// Creates the folder of a key file if it is missing. A folder created here holds only keys, so it is
/// closed to others; an existing one is left as it is.
pub(crate) fn create_key_folder(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        restrict(dir, 0o700)?;
    }
    Ok(())
}

/// Writes a new file readable by the owner only; never overwrites one.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating key file {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

fn restrict(path: &Path, mode: u32) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting permissions on {}", path.display()))?;
    }
    let _ = (path, mode);
    Ok(())
}

/// Accepts PEM (`BEGIN PRIVATE KEY`) or raw DER.
fn decode_key_file(bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
    match std::str::from_utf8(bytes) {
        Ok(text) if text.contains("-----BEGIN PRIVATE KEY-----") => {
            let body: String = text
                .lines()
                .filter(|l| !l.starts_with("-----"))
                .map(str::trim)
                .collect();
            Ok(STANDARD.decode(body)?)
        }
        _ => Ok(bytes.to_vec()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Settings;

    fn password_now() -> Assurance {
        Assurance {
            amr: crate::domain::assurance::Amr::Password,
            authenticated_at: crate::domain::now(),
        }
    }

    fn keys() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        Keys::load(&Settings::default().auth, dir.path()).unwrap()
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let k = keys();
        let t = k.issue("u1", "s1", Role::Moderator, password_now()).unwrap();
        let c = k.verify(&t).unwrap();
        assert_eq!((c.sub.as_str(), c.sid.as_str(), c.role), ("u1", "s1", Role::Moderator));
        assert!(c.exp - c.iat <= 900);
    }

    #[test]
    fn a_token_carries_the_sessions_assurance() {
        let k = keys();
        let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let assurance = Assurance {
            amr: crate::domain::assurance::Amr::PasswordAndTotp,
            authenticated_at: at,
        };
        let c = k.verify(&k.issue("u1", "s1", Role::User, assurance).unwrap()).unwrap();
        assert_eq!(
            (c.amr.join(" "), c.acr.as_str(), c.auth_time),
            ("pwd otp mfa".into(), "aal2", 1_700_000_000)
        );
    }

    #[test]
    fn a_token_from_another_key_is_refused() {
        let t = keys().issue("u1", "s1", Role::User, password_now()).unwrap();
        assert!(keys().verify(&t).is_none());
    }

    #[test]
    fn a_cached_token_still_refuses_any_changed_byte() {
        let k = keys();
        let t = k.issue("u1", "s1", Role::User, password_now()).unwrap();
        assert!(k.verify(&t).is_some());
        assert_eq!(k.verified.map.lock().unwrap().len(), 1);
        assert_eq!(k.verify(&t).unwrap().sid, "s1", "a hit returns the same claims");
        let last = t.len() - 2;
        for i in [10, t.find('.').unwrap() + 5, last] {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let forged = String::from_utf8(bytes).unwrap();
            assert!(k.verify(&forged).is_none(), "byte {i} changed");
        }
        assert_eq!(k.verified.map.lock().unwrap().len(), 1, "failures are never cached");
    }

    #[test]
    fn a_cached_token_expires_like_any_other_and_a_full_cache_drops_expired_entries_first() {
        let cache = VerifiedTokens::default();
        let claims = |exp| {
            Arc::new(Claims {
                iss: "i".into(),
                aud: "a".into(),
                sub: "u".into(),
                sid: "s".into(),
                role: Role::User,
                iat: 0,
                exp,
                jti: "j".into(),
                amr: vec!["pwd".into()],
                acr: "aal1".into(),
                auth_time: 0,
            })
        };
        cache.put("old", claims(1_000), 1_000, 5);
        assert!(cache.get("old", 1_005, 5).is_some());
        assert!(cache.get("old", 1_006, 5).is_none(), "past exp + leeway");
        for i in 1..VERIFIED_TOKENS_MAX {
            cache.put(&format!("live-{i}"), claims(5_000), 1_000, 5);
        }
        cache.put("new", claims(5_000), 2_000, 5);
        let map = cache.map.lock().unwrap();
        assert!(!map.contains_key("old") && map.contains_key("new") && map.contains_key("live-1"));
    }

    #[test]
    fn only_three_base64url_segments_have_the_shape_of_a_jwt() {
        let cases = [
            ("a.b.c", true, "three segments"),
            ("eyJ-_0.eyJ9.sig_-", true, "the whole base64url alphabet"),
            ("a.b", false, "two segments"),
            ("a.b.c.d", false, "four segments"),
            ("a..c", false, "an empty payload"),
            ("a.b.", false, "an empty signature, as `alg: none` has"),
            ("a.b.c=", false, "padding"),
            ("a.b+/.c", false, "standard base64"),
            (" a.b.c", false, "a space"),
            ("a.b.c\n", false, "a newline"),
            ("rt_opaque_refresh_token", false, "a refresh token"),
        ];
        for (token, expected, why) in cases {
            assert_eq!(has_jwt_shape(token), expected, "{why}: {token:?}");
        }
        assert!(has_jwt_shape(&format!("a.b.{}", "c".repeat(MAX_TOKEN_BYTES - 4))));
        assert!(
            !has_jwt_shape(&format!("a.b.{}", "c".repeat(MAX_TOKEN_BYTES - 3))),
            "over the length"
        );
    }

    fn base64url(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    proptest::proptest! {
        #[test]
        fn any_three_encoded_segments_have_the_shape_and_any_other_byte_breaks_it(
            parts in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..200), 3),
            at in proptest::prelude::any::<proptest::sample::Index>(),
            intruder in "[^A-Za-z0-9_.-]",
        ) {
            let token = parts.iter().map(|p| base64url(p)).collect::<Vec<_>>().join(".");
            proptest::prop_assert!(has_jwt_shape(&token), "{token}");
            let mut broken = token.clone();
            let at = at.index(token.len() + 1);
            broken.insert_str(at, &intruder);
            proptest::prop_assert!(!has_jwt_shape(&broken), "{broken:?}");
        }

        #[test]
        fn a_string_with_the_shape_is_three_base64url_segments(s in "[A-Za-z0-9_.=+/ -]{0,40}|\\PC{0,40}") {
            if has_jwt_shape(&s) {
                let segments: Vec<&str> = s.split('.').collect();
                proptest::prop_assert_eq!(segments.len(), 3);
                for segment in segments {
                    proptest::prop_assert!(!segment.is_empty());
                    proptest::prop_assert!(segment.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
                }
            }
        }

        #[test]
        fn every_issued_token_has_the_shape(user in "\\PC{0,40}", session in "\\PC{0,40}") {
            let token = KEYS.issue(&user, &session, Role::User, password_now()).unwrap();
            proptest::prop_assert!(has_jwt_shape(&token), "{token}");
            proptest::prop_assert_eq!(&KEYS.verify(&token).unwrap().sub, &user);
        }
    }

    /// One key for the property tests: loading one per case would write a key file per case.
    static KEYS: std::sync::LazyLock<Keys> = std::sync::LazyLock::new(keys);

    #[cfg(unix)]
    #[test]
    fn generated_key_files_are_readable_by_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let _ = Keys::load(&Settings::default().auth, dir.path()).unwrap();
        let mode = std::fs::metadata(default_key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
