//! Passkeys over HTTP, with real WebAuthn ceremonies driven by a software authenticator
//! (`authenticator.rs`): registration, passwordless sign-in, passkeys as the second factor, and the
//! refusals: a wrong origin, a replayed assertion, a cloned authenticator, another user's credential.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::authenticator::SoftPasskey;
use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app, spawn_app_with};

/// The origin the app is published at, and so the only one assertions may come from.
pub const ORIGIN: &str = "http://localhost:8080";

async fn app() -> TestApp {
    spawn_app_with(|s| s.public_origin = Some(ORIGIN.into())).await
}

/// Registers a new passkey named `name` for `user`.
pub async fn register(app: &TestApp, user: &TestUser, name: &str) -> (SoftPasskey, Value) {
    let res = app.passkey_registration_options(&user.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let started: Value = res.json().await.unwrap();
    let (key, credential) = SoftPasskey::create(&started["options"], ORIGIN);
    let body = json!({ "ceremony": started["ceremony"], "name": name, "credential": credential });
    let res = app.register_passkey(&user.access, &body).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    (key, res.json().await.unwrap())
}

/// Starts a passwordless sign-in: the ceremony and its options.
async fn sign_in_options(app: &TestApp) -> (String, Value) {
    let res = app.passkey_sign_in_options().await;
    assert_eq!(res.status(), StatusCode::OK);
    let started: Value = res.json().await.unwrap();
    (
        started["ceremony"].as_str().unwrap().to_owned(),
        started["options"].clone(),
    )
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test]
async fn a_passkey_registers_and_then_signs_in_alone() {
    let app = app().await;
    let user = app.new_user().await;
    let res = app.passkey_registration_options(&user.access).await;
    let started: Value = res.json().await.unwrap();
    let public_key = &started["options"]["publicKey"];
    assert_eq!(
        public_key["rp"]["id"], "localhost",
        "the relying party is public_origin's host"
    );
    assert_eq!(public_key["authenticatorSelection"]["residentKey"], "preferred");
    assert_eq!(public_key["authenticatorSelection"]["userVerification"], "required");

    let (mut key, view) = register(&app, &user, "  Laptop  ").await;
    assert_eq!(view["name"], "Laptop");
    let list: Value = app.passkeys(&user.access).await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], view["id"]);
    assert!(list[0]["last_used_at"].is_null());
    let mails = app.mail_to(&user.email).await;
    assert!(
        mails
            .iter()
            .any(|(s, body)| s.contains("second factor was added") && body.contains("Laptop")),
        "{mails:?}"
    );

    let (ceremony, options) = sign_in_options(&app).await;
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    );
    let credential = key.get(&options, ORIGIN);
    let body = json!({ "ceremony": ceremony, "credential": credential });
    let res = app.passkey_sign_in(&body).await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(tokens["user"]["username"], user.username.as_str());
    let claims = claims(tokens["access_token"].as_str().unwrap());
    assert_eq!(
        (&claims["amr"], &claims["acr"]),
        (&json!(["swk", "user", "mfa"]), &json!("aal2"))
    );
    assert_eq!(
        app.me(tokens["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    let list: Value = app.passkeys(&user.access).await.json().await.unwrap();
    assert!(list[0]["last_used_at"].is_string(), "the use is recorded");

    // A ceremony is finished once.
    let again = app.passkey_sign_in(&body).await;
    assert_problem(again, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
}

#[tokio::test]
async fn a_wrong_origin_a_replayed_assertion_and_a_cloned_authenticator_are_refused() {
    let app = app().await;
    let user = app.new_user().await;
    let (mut key, view) = register(&app, &user, "Phone").await;

    let (ceremony, options) = sign_in_options(&app).await;
    let phished = key.get(&options, "http://localhost.evil.example");
    let res = app
        .passkey_sign_in(&json!({ "ceremony": ceremony, "credential": phished }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "passkey_rejected").await;

    let (ceremony, options) = sign_in_options(&app).await;
    let seen = key.get(&options, ORIGIN);
    let res = app
        .passkey_sign_in(&json!({ "ceremony": ceremony, "credential": seen }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    // The same assertion against a new ceremony: it signed another challenge.
    let (ceremony, _) = sign_in_options(&app).await;
    let res = app
        .passkey_sign_in(&json!({ "ceremony": ceremony, "credential": seen }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "passkey_rejected").await;

    // A copy of the authenticator falls behind the original's counter.
    let mut copy = key.clone();
    let (ceremony, options) = sign_in_options(&app).await;
    let original = key.get(&options, ORIGIN);
    let res = app
        .passkey_sign_in(&json!({ "ceremony": ceremony, "credential": original }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let (ceremony, options) = sign_in_options(&app).await;
    let cloned = copy.get(&options, ORIGIN);
    let res = app
        .passkey_sign_in(&json!({ "ceremony": ceremony, "credential": cloned }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "passkey_rejected").await;
    let flagged = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'passkey_rejected' AND target_id = $1 AND details LIKE '%\"clone\":true%'",
            rampart::args![user.uid()],
        )
        .await;
    assert_eq!(flagged, 1, "the clone is recorded as one");
    let _ = view;
}

#[tokio::test]
async fn another_accounts_passkey_or_ceremony_is_refused() {
    let app = app().await;
    let ann = app.new_user().await;
    let bob = app.new_user().await;
    let (_ann_key, _) = register(&app, &ann, "Ann's key").await;
    let (mut bob_key, _) = register(&app, &bob, "Bob's key").await;

    // Bob's credential claiming to be Ann's (her user handle) does not sign anyone in.
    let (ceremony, options) = sign_in_options(&app).await;
    let mut forged = bob_key.get(&options, ORIGIN);
    forged["response"]["userHandle"] =
        json!(URL_SAFE_NO_PAD.encode(uuid::Uuid::parse_str(&ann.id).unwrap().as_bytes()));
    let res = app
        .passkey_sign_in(&json!({ "ceremony": ceremony, "credential": forged }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "passkey_rejected").await;

    // Ann's password, then Bob's passkey as her second factor.
    let res = app.login(&ann.username, &ann.password).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let challenge: Value = res.json().await.unwrap();
    assert_eq!(challenge["methods"], json!(["passkey"]));
    let challenge = challenge["challenge"].as_str().unwrap();
    let started: Value = app.mfa_passkey_options(challenge).await.json().await.unwrap();
    let answer = bob_key.get(&started["options"], ORIGIN);
    let body = json!({ "challenge": challenge, "passkey": { "ceremony": started["ceremony"], "credential": answer } });
    assert_problem(app.mfa_verify(&body).await, StatusCode::UNAUTHORIZED, "wrong_code").await;

    // Ann's registration ceremony cannot be finished in Bob's session.
    let started: Value = app
        .passkey_registration_options(&ann.access)
        .await
        .json()
        .await
        .unwrap();
    let (_, credential) = SoftPasskey::create(&started["options"], ORIGIN);
    let body = json!({ "ceremony": started["ceremony"], "name": "stolen", "credential": credential });
    let res = app.register_passkey(&bob.access, &body).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_ceremony").await;
}

#[tokio::test]
async fn a_passkey_answers_the_sign_in_challenge_after_the_password() {
    let app = app().await;
    let user = app.new_user().await;
    let (mut key, _) = register(&app, &user, "Key").await;
    let res = app.login(&user.username, &user.password).await;
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "a passkey makes the password not enough"
    );
    let challenge: Value = res.json().await.unwrap();
    let challenge = challenge["challenge"].as_str().unwrap();

    let started: Value = app.mfa_passkey_options(challenge).await.json().await.unwrap();
    let allowed = started["options"]["publicKey"]["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1, "only the account's passkeys are offered");
    let answer = key.get(&started["options"], ORIGIN);
    let passkey = json!({ "ceremony": started["ceremony"], "credential": answer });
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "passkey": passkey }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let tokens: Value = res.json().await.unwrap();
    assert_eq!(
        claims(tokens["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "swk", "mfa"])
    );
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "passkey": passkey }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_mfa_challenge").await;
}

#[tokio::test]
async fn passkeys_are_renamed_and_removed_and_removing_needs_a_recent_sign_in() {
    let app = app().await;
    let user = app.new_user().await;
    let other = app.new_user().await;
    let (_, first) = register(&app, &user, "First").await;
    let (_, second) = register(&app, &user, "Second").await;
    let first_id = first["id"].as_str().unwrap();

    let res = app.rename_passkey(&user.access, first_id, "Work laptop").await;
    assert_eq!(res.status(), StatusCode::OK);
    let renamed: Value = res.json().await.unwrap();
    assert_eq!(renamed["name"], "Work laptop");
    for bad in ["", "   ", &"x".repeat(65), "tab\there"] {
        let res = app.rename_passkey(&user.access, first_id, bad).await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    }
    let res = app.rename_passkey(&other.access, first_id, "mine now").await;
    assert_problem(res, StatusCode::NOT_FOUND, "passkey_not_found").await;
    let res = app.delete_passkey(&other.access, first_id).await;
    assert_problem(res, StatusCode::NOT_FOUND, "passkey_not_found").await;

    let hour_ago = rampart::domain::now() - time::Duration::hours(1);
    app.exec("UPDATE sessions SET authenticated_at = $1", rampart::args![hour_ago])
        .await;
    let res = app.delete_passkey(&user.access, first_id).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    let res = app
        .reauthenticate(&user.access, &json!({ "password": user.password }))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete_passkey(&user.access, first_id).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.delete_passkey(&user.access, second["id"].as_str().unwrap())
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let list: Value = app.passkeys(&user.access).await.json().await.unwrap();
    assert_eq!(list, json!([]));
    let mails = app.mail_to(&user.email).await;
    assert!(
        mails
            .iter()
            .any(|(s, body)| s.contains("removed") && body.contains("Work laptop")),
        "{mails:?}"
    );
    assert_eq!(app.login(&user.username, &user.password).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_domain_in_public_origin_passkeys_are_off_and_say_why() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app.passkey_registration_options(&user.access).await;
    let problem = assert_problem(res, StatusCode::CONFLICT, "passkeys_unavailable").await;
    assert!(problem["detail"].as_str().unwrap().contains("public_origin"));
    assert_problem(
        app.passkey_sign_in_options().await,
        StatusCode::CONFLICT,
        "passkeys_unavailable",
    )
    .await;
}

#[tokio::test]
async fn an_admin_resets_a_users_lost_factors_and_the_export_lists_them() {
    let app = app().await;
    let admin = app.user_with_role(rampart::domain::Role::Admin).await;
    let user = app.new_user().await;
    let (_phone, _) = crate::factors::enable_totp(&app, &user.access).await;
    let (_key, _) = register(&app, &user, "Lost phone").await;
    let export: Value = app.export_account(&user.access).await.json().await.unwrap();
    assert_eq!(export["factors"]["totp"], true);
    assert_eq!(export["factors"]["recovery_codes_left"], 10);
    assert_eq!(export["factors"]["passkeys"][0]["name"], "Lost phone");
    assert_eq!(
        app.login(&user.username, &user.password).await.status(),
        StatusCode::ACCEPTED
    );

    let path = format!("/api/v1/admin/users/{}/factors", user.id);
    assert_problem(
        app.delete_auth(&path, &user.access).await,
        StatusCode::FORBIDDEN,
        "forbidden",
    )
    .await;
    let hour_ago = rampart::domain::now() - time::Duration::hours(1);
    app.exec(
        "UPDATE sessions SET authenticated_at = $1 WHERE user_id = $2",
        rampart::args![hour_ago, admin.uid()],
    )
    .await;
    let res = app.delete_auth(&path, &admin.access).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    let res = app
        .reauthenticate(&admin.access, &json!({ "password": admin.password }))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.delete_auth(&path, &admin.access).await.status(),
        StatusCode::NO_CONTENT
    );
    let missing = "/api/v1/admin/users/0190c0de-0000-7000-8000-000000000000/factors";
    assert_problem(
        app.delete_auth(missing, &admin.access).await,
        StatusCode::NOT_FOUND,
        "user_not_found",
    )
    .await;

    assert_eq!(
        app.login(&user.username, &user.password).await.status(),
        StatusCode::OK,
        "the password alone again"
    );
    let export: Value = app.export_account(&user.access).await.json().await.unwrap();
    assert_eq!(
        export["factors"],
        json!({ "totp": false, "recovery_codes_left": 0, "passkeys": [] })
    );
    let mails = app.mail_to(&user.email).await;
    assert!(
        mails
            .iter()
            .any(|(_, body)| body.contains("an administrator reset them")),
        "{mails:?}"
    );
    let audited = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'factors_reset' AND actor_id = $1 AND target_id = $2",
            rampart::args![admin.uid(), user.uid()],
        )
        .await;
    assert_eq!(audited, 1);
}
