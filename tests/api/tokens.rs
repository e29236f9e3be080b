//! Access-token validation against hostile tokens built here.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app};

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

fn parts(token: &str) -> (Value, Value) {
    let mut it = token.split('.');
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(it.next().unwrap()).unwrap()).unwrap();
    (header, claims)
}

/// The server's own private key, read from its data folder.
fn server_key(app: &TestApp) -> EncodingKey {
    let pem = std::fs::read_to_string(app.dir.path().join("keys/signing-ed25519.pk8")).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    EncodingKey::from_ed_der(&STANDARD.decode(body).unwrap())
}

fn sign(key: &EncodingKey, header_json: &Value, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = header_json["kid"].as_str().map(str::to_owned);
    header.typ = header_json["typ"].as_str().map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let tag = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

async fn assert_refused(app: &TestApp, token: &str, why: &str) {
    let res = app.me(token).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{why}");
    let challenge = res
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        challenge.starts_with("Bearer"),
        "{why}: WWW-Authenticate is {challenge:?}"
    );
    assert_eq!(res.headers()["content-type"], "application/problem+json", "{why}");
}

async fn setup() -> (TestApp, TestUser, Value, Value) {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (header, claims) = parts(&user.access);
    (app, user, header, claims)
}

#[tokio::test]
async fn access_tokens_carry_the_documented_claims_and_header() {
    let (_app, user, header, claims) = setup().await;
    assert_eq!(header["alg"], "EdDSA");
    assert_eq!(header["typ"], "at+jwt");
    assert!(header["kid"].is_string());
    for claim in ["iss", "aud", "sub", "sid", "role", "iat", "exp", "jti"] {
        assert!(!claims[claim].is_null(), "claim {claim} present");
    }
    assert_eq!(claims["sub"], user.id.as_str());
    let lifetime = claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap();
    assert!(lifetime <= 900, "at most 15 minutes, got {lifetime}");
}

#[tokio::test]
async fn the_jwks_document_verifies_issued_tokens() {
    let (app, user, header, _) = setup().await;
    let jwks: jsonwebtoken::jwk::JwkSet = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let jwk = jwks.find(header["kid"].as_str().unwrap()).expect("kid published");
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
    validation.set_audience(&["rampart-api"]);
    let data = jsonwebtoken::decode::<Value>(&user.access, &key, &validation).unwrap();
    assert_eq!(data.claims["sub"], user.id.as_str());
    let text = app.get("/.well-known/jwks.json").await.text().await.unwrap();
    assert!(!text.contains("\"d\""), "no private key material");
}

#[tokio::test]
async fn alg_none_in_any_letter_case_is_refused() {
    let (app, _user, header, claims) = setup().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let mut h = header.clone();
        h["alg"] = json!(alg);
        assert_refused(&app, &format!("{}.{}.", b64(&h), b64(&claims)), alg).await;
        assert_refused(&app, &format!("{}.{}", b64(&h), b64(&claims)), alg).await;
    }
}

#[tokio::test]
async fn an_hs256_token_keyed_with_our_public_key_is_refused() {
    let (app, _user, header, claims) = setup().await;
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let x = jwks["keys"][0]["x"].as_str().unwrap();
    let raw = URL_SAFE_NO_PAD.decode(x).unwrap();
    let mut h = header.clone();
    h["alg"] = json!("HS256");
    for secret in [raw.as_slice(), x.as_bytes(), jwks["keys"][0].to_string().as_bytes()] {
        assert_refused(&app, &hs256(secret, &h, &claims), "HS256 with the public key").await;
    }
}

#[tokio::test]
async fn a_token_signed_by_another_key_is_refused_even_if_it_ships_that_key() {
    let (app, _user, header, claims) = setup().await;
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let doc = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let attacker = EncodingKey::from_ed_der(doc.as_ref());
    assert_refused(&app, &sign(&attacker, &header, &claims), "same kid, other key").await;

    // Headers that point at or embed a key are ignored: the attacker's key is never used.
    use aws_lc_rs::signature::KeyPair;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(doc.as_ref()).unwrap();
    let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    let mut jh = Header::new(Algorithm::EdDSA);
    jh.kid = header["kid"].as_str().map(str::to_owned);
    jh.typ = Some("at+jwt".into());
    jh.jku = Some("https://evil.example.com/jwks.json".into());
    jh.x5u = Some("https://evil.example.com/cert.pem".into());
    jh.jwk = Some(serde_json::from_value(json!({ "kty": "OKP", "crv": "Ed25519", "x": x })).unwrap());
    let token = jsonwebtoken::encode(&jh, &claims, &attacker).unwrap();
    assert_refused(&app, &token, "embedded jwk / jku").await;
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let (app, user, _header, claims) = setup().await;
    let mut escalated = claims.clone();
    escalated["role"] = json!("admin");
    let segments: Vec<&str> = user.access.split('.').collect();
    let forged = format!("{}.{}.{}", segments[0], b64(&escalated), segments[2]);
    assert_refused(&app, &forged, "role changed, signature kept").await;
    let mut flipped = segments[2].to_owned().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    let forged = format!(
        "{}.{}.{}",
        segments[0],
        segments[1],
        String::from_utf8(flipped).unwrap()
    );
    assert_refused(&app, &forged, "signature altered").await;
}

#[tokio::test]
async fn expired_tokens_and_wrong_issuer_or_audience_are_refused_even_with_our_key() {
    let (app, _user, header, claims) = setup().await;
    let key = server_key(&app);
    // A control: our own key with untouched claims is accepted, so the refusals below are meaningful.
    let control = sign(&key, &header, &claims);
    assert_eq!(app.me(&control).await.status(), StatusCode::OK);

    let now = claims["iat"].as_u64().unwrap();
    let mut expired = claims.clone();
    expired["iat"] = json!(now - 3600);
    expired["exp"] = json!(now - 1800);
    assert_refused(&app, &sign(&key, &header, &expired), "expired").await;
    let mut iss = claims.clone();
    iss["iss"] = json!("someone-else");
    assert_refused(&app, &sign(&key, &header, &iss), "wrong iss").await;
    let mut aud = claims.clone();
    aud["aud"] = json!("another-api");
    assert_refused(&app, &sign(&key, &header, &aud), "wrong aud").await;
    let mut no_typ = header.clone();
    no_typ["typ"] = json!("JWT");
    assert_refused(&app, &sign(&key, &no_typ, &claims), "wrong typ").await;
    let mut ghost = claims.clone();
    ghost["sid"] = json!(uuid::Uuid::now_v7().to_string());
    assert_refused(&app, &sign(&key, &header, &ghost), "session that does not exist").await;
}

#[tokio::test]
async fn refresh_tokens_and_malformed_strings_are_not_access_tokens() {
    let (app, user, _, _) = setup().await;
    assert_refused(&app, &user.refresh, "refresh token as access token").await;
    for junk in [
        "x",
        "a.b.c",
        "a.b",
        "...",
        "eyJhbGciOiJFZERTQSJ9..",
        &"A".repeat(10_000),
        "Ω.Ω.Ω",
    ] {
        assert_refused(&app, junk, junk).await;
    }
    let res = app
        .client
        .get(app.url("/api/v1/me"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_token").await;
}

#[tokio::test]
async fn a_token_in_the_url_is_never_accepted() {
    let (app, user, _, _) = setup().await;
    for query in ["access_token", "token", "jwt", "authorization"] {
        let res = app.get(&format!("/api/v1/me?{query}={}", user.access)).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "missing_token").await;
    }
}
