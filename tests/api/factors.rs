//! Second factors over HTTP: enrolling an authenticator app, signing in with it or a recovery code,
//! the challenge's rules (single use, bound to its client, expiring), replay, step-up and the staff
//! policy. Codes are computed the way an authenticator app does, from the secret shown at enrolment.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use rampart::auth::totp;
use reqwest::StatusCode;
use serde_json::{Value, json};

use rampart::store::Exec;

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app, spawn_app_with};

/// An authenticator app: the secret from the enrolment, and the last step it showed a code for, so
/// that every code a test sends is one the server has not accepted yet (a code works once).
pub struct Authenticator {
    secret: Vec<u8>,
    last: Option<u64>,
}

impl Authenticator {
    /// A code the server will take: the earliest step in its ±1 window after the last one used. When
    /// all three are used, it waits for the next step (at most 30 s, rarely needed).
    pub async fn next_code(&mut self) -> String {
        loop {
            let now_secs = unix_now();
            let now = totp::step_at(now_secs);
            // The previous step leaves the server's window at the next boundary: not within 2 s of it.
            let previous_is_safe = now_secs % totp::PERIOD < totp::PERIOD - 2;
            let fresh = [now - 1, now, now + 1]
                .into_iter()
                .filter(|s| *s != now - 1 || previous_is_safe)
                .find(|s| self.last.is_none_or(|last| *s > last));
            if let Some(step) = fresh {
                self.last = Some(step);
                return totp::code_for_step(&self.secret, step);
            }
            let wait = totp::PERIOD - now_secs % totp::PERIOD;
            tokio::time::sleep(std::time::Duration::from_secs(wait)).await;
        }
    }

    /// The last code shown again (a replay).
    pub fn last_code(&self) -> String {
        totp::code_for_step(&self.secret, self.last.expect("a code was shown"))
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Enrols and confirms an authenticator for `user`; returns it and the recovery codes.
pub async fn enable_totp(app: &TestApp, token: &str) -> (Authenticator, Vec<String>) {
    let res = app.enrol_totp(token).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let enrolment: Value = res.json().await.unwrap();
    let secret = totp::from_base32(enrolment["secret"].as_str().unwrap()).expect("base32 secret");
    let mut app_codes = Authenticator { secret, last: None };
    let res = app.confirm_totp(token, &app_codes.next_code().await).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let codes = body["recovery_codes"].as_array().unwrap();
    let codes = codes.iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    (app_codes, codes)
}

/// Signs in with the password; expects the MFA challenge and returns it.
pub async fn challenge(app: &TestApp, user: &TestUser) -> String {
    let res = app.login(&user.username, &user.password).await;
    assert_eq!(
        res.status(),
        StatusCode::ACCEPTED,
        "the password asks for a second factor"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["mfa_required"], true);
    assert_eq!(body["expires_in"], 300);
    assert!(
        body.get("access_token").is_none(),
        "no session before the second factor"
    );
    body["challenge"].as_str().unwrap().to_owned()
}

fn claims(access_token: &str) -> Value {
    let payload = access_token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn sessions_of(app: &TestApp, user: &TestUser) -> i64 {
    app.count(
        "SELECT COUNT(*) FROM sessions WHERE user_id = $1",
        rampart::args![user.uid()],
    )
    .await
}

#[tokio::test]
async fn enrolling_shows_the_secret_once_stores_it_sealed_and_confirming_turns_the_factor_on() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let status: Value = app.factors(&user.access).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({ "totp": false, "totp_pending": false, "recovery_codes_left": 0 })
    );

    let res = app.enrol_totp(&user.access).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let enrolment: Value = res.json().await.unwrap();
    let secret = enrolment["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 32, "160 bits in base32");
    let uri = enrolment["otpauth_uri"].as_str().unwrap();
    assert!(
        uri.starts_with(&format!("otpauth://totp/rampart:{}?secret={secret}&", user.username)),
        "{uri}"
    );
    assert!(
        enrolment["qr_svg"].as_str().unwrap().contains("<svg"),
        "a QR code as SVG"
    );
    let stored: Vec<(String,)> = (app.state.db())
        .fetch_all("SELECT secret FROM totp_factors", &[])
        .await
        .unwrap();
    let raw = totp::from_base32(secret).unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].0.contains(secret), "the secret is not stored as shown");
    assert!(!stored[0].0.as_bytes().windows(raw.len()).any(|w| w == raw), "nor raw");
    let status: Value = app.factors(&user.access).await.json().await.unwrap();
    assert_eq!(
        (status["totp"].as_bool(), status["totp_pending"].as_bool()),
        (Some(false), Some(true))
    );
    // Until it is confirmed, the password alone still signs in.
    assert_eq!(app.login(&user.username, &user.password).await.status(), StatusCode::OK);

    let mut phone = Authenticator {
        secret: raw,
        last: None,
    };
    let wrong = if phone.next_code().await == "000000" {
        "111111"
    } else {
        "000000"
    };
    let res = app.confirm_totp(&user.access, wrong).await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_code").await;
    let res = app.confirm_totp(&user.access, &phone.last_code()).await;
    assert_eq!(res.status(), StatusCode::OK);
    let codes: Value = res.json().await.unwrap();
    let codes: Vec<&str> = codes["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(codes.len(), 10);
    assert_eq!(
        codes.iter().collect::<std::collections::HashSet<_>>().len(),
        10,
        "all different"
    );

    let status: Value = app.factors(&user.access).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({ "totp": true, "totp_pending": false, "recovery_codes_left": 10 })
    );
    let mails = app.mail_to(&user.email).await;
    assert!(
        mails.iter().any(|(s, _)| s.contains("second factor was added")),
        "{mails:?}"
    );
    let audited = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'totp_enabled' AND target_id = $1",
            rampart::args![user.uid()],
        )
        .await;
    assert_eq!(audited, 1);
    assert_problem(
        app.enrol_totp(&user.access).await,
        StatusCode::CONFLICT,
        "totp_already_enabled",
    )
    .await;
    assert_problem(
        app.confirm_totp(&user.access, &phone.next_code().await).await,
        StatusCode::CONFLICT,
        "totp_not_enabled",
    )
    .await;
}

#[tokio::test]
async fn sign_in_with_an_authenticator_needs_the_code_and_no_session_exists_before_it() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (mut phone, _) = enable_totp(&app, &user.access).await;
    let before = sessions_of(&app, &user).await;

    let challenge = challenge(&app, &user).await;
    assert_eq!(
        sessions_of(&app, &user).await,
        before,
        "the password alone made no session"
    );
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": "12345" }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;
    let res = app.mfa_verify(&json!({ "challenge": challenge })).await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;

    let accepted = phone.next_code().await;
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": accepted }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(
        (&claims["amr"], &claims["acr"]),
        (&json!(["pwd", "otp", "mfa"]), &json!("aal2"))
    );
    assert!(claims["auth_time"].as_u64().unwrap() > 0);
    assert_eq!(
        app.me(body["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    assert_eq!(sessions_of(&app, &user).await, before + 1);
    // The session keeps its assurance across refreshes.
    let refreshed: Value = app
        .refresh(&json!({ "refresh_token": body["refresh_token"] }))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(self::claims(refreshed["access_token"].as_str().unwrap())["acr"], "aal2");

    // The challenge is single-use, and the code was accepted once.
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": phone.next_code().await }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_mfa_challenge").await;
    let again = self::challenge(&app, &user).await;
    let res = app.mfa_verify(&json!({ "challenge": again, "code": accepted })).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;
}

#[tokio::test]
async fn a_challenge_is_bound_to_its_client_and_account_expires_and_takes_five_attempts() {
    // The account's own failure budget is raised here, so that the challenge's limit is what shows.
    let app = spawn_app_with(|s| {
        s.limits.mfa_failures_per_account = rampart::config::Rate {
            burst: 50,
            per_secs: 900,
        };
    })
    .await;
    let ann = app.new_user().await;
    let bob = app.new_user().await;
    let (mut ann_phone, _) = enable_totp(&app, &ann.access).await;
    let (mut bob_phone, _) = enable_totp(&app, &bob.access).await;

    // Another client (another user agent) cannot use the challenge.
    let challenge = challenge(&app, &ann).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/mfa/verify"))
        .header("user-agent", "another-device/1.0")
        .json(&json!({ "challenge": challenge, "code": ann_phone.next_code().await }))
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_mfa_challenge").await;

    // Bob's valid code does not answer Ann's challenge.
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": bob_phone.next_code().await }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;

    // An expired challenge is refused even with the right code.
    app.exec(
        "UPDATE mfa_challenges SET expires_at = $1",
        rampart::args![rampart::domain::now() - time::Duration::seconds(1)],
    )
    .await;
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": ann_phone.next_code().await }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_mfa_challenge").await;

    let res = app
        .mfa_verify(&json!({ "challenge": "made-up", "code": "000000" }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_mfa_challenge").await;

    // Five attempts, then the challenge is spent, even for the right code.
    let fresh = self::challenge(&app, &ann).await;
    for _ in 0..5 {
        let res = app.mfa_verify(&json!({ "challenge": fresh, "code": "000000" })).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;
    }
    let res = app
        .mfa_verify(&json!({ "challenge": fresh, "code": ann_phone.last_code() }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_mfa_challenge").await;
}

#[tokio::test]
async fn wrong_codes_are_limited_per_account_across_challenges() {
    let app = spawn_app_with(|s| {
        s.limits.mfa_failures_per_account = rampart::config::Rate {
            burst: 3,
            per_secs: 900,
        };
    })
    .await;
    let user = app.new_user().await;
    let (mut phone, _) = enable_totp(&app, &user.access).await;
    for _ in 0..3 {
        let challenge = challenge(&app, &user).await;
        let res = app
            .mfa_verify(&json!({ "challenge": challenge, "code": "000000" }))
            .await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;
    }
    let challenge = challenge(&app, &user).await;
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": phone.next_code().await }))
        .await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    let failures = app
        .count(
            "SELECT COUNT(*) FROM audit_events WHERE kind = 'second_factor_failed' AND target_id = $1",
            rampart::args![user.uid()],
        )
        .await;
    assert_eq!(failures, 3);
}

#[tokio::test]
async fn twenty_verifications_racing_with_one_code_make_one_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (mut phone, _) = enable_totp(&app, &user.access).await;
    let before = sessions_of(&app, &user).await;
    let challenge = challenge(&app, &user).await;
    let body = json!({ "challenge": challenge, "code": phone.next_code().await });
    let answers = join_all((0..20).map(|_| app.mfa_verify(&body))).await;
    let ok = answers.iter().filter(|r| r.status() == StatusCode::OK).count();
    assert_eq!(ok, 1, "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    // The rest lost the race for the code or the challenge's five attempts, or hit the failure budget.
    let expected = [StatusCode::OK, StatusCode::UNAUTHORIZED, StatusCode::TOO_MANY_REQUESTS];
    assert!(answers.iter().all(|r| expected.contains(&r.status())));
    assert_eq!(sessions_of(&app, &user).await, before + 1);
}

#[tokio::test]
async fn a_recovery_code_works_once_and_new_codes_end_the_old_ones() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (_phone, codes) = enable_totp(&app, &user.access).await;

    let challenge = challenge(&app, &user).await;
    let typed = codes[0].to_uppercase().replace('-', " ");
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "recovery_code": typed }))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "case and separators do not matter");
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["amr"],
        json!(["pwd", "mfa"])
    );
    let access = body["access_token"].as_str().unwrap().to_owned();
    let status: Value = app.factors(&access).await.json().await.unwrap();
    assert_eq!(status["recovery_codes_left"], 9);

    let second = self::challenge(&app, &user).await;
    let res = app
        .mfa_verify(&json!({ "challenge": second, "recovery_code": codes[0] }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;

    let res = app.regenerate_recovery_codes(&access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh: Value = res.json().await.unwrap();
    let fresh = fresh["recovery_codes"][0].as_str().unwrap().to_owned();
    let res = app
        .mfa_verify(&json!({ "challenge": second, "recovery_code": codes[1] }))
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "wrong_code").await;
    let res = app
        .mfa_verify(&json!({ "challenge": second, "recovery_code": fresh }))
        .await;
    assert_eq!(res.status(), StatusCode::OK, "a code of the new set works");
}

#[tokio::test]
async fn disabling_needs_the_password_and_a_code_and_mails_the_owner() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let (mut phone, codes) = enable_totp(&app, &user.access).await;

    let res = app
        .disable_totp(
            &user.access,
            &json!({ "password": "not the password", "code": phone.next_code().await }),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_password").await;
    let res = app
        .disable_totp(&user.access, &json!({ "password": user.password, "code": "000000" }))
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_code").await;
    let res = app
        .disable_totp(&user.access, &json!({ "password": user.password }))
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    assert_eq!(challenge(&app, &user).await.len(), 43, "still on");

    let res = app
        .disable_totp(
            &user.access,
            &json!({ "password": user.password, "recovery_code": codes[3] }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let status: Value = app.factors(&user.access).await.json().await.unwrap();
    assert_eq!(
        status,
        json!({ "totp": false, "totp_pending": false, "recovery_codes_left": 0 })
    );
    assert_eq!(app.login(&user.username, &user.password).await.status(), StatusCode::OK);
    let mails = app.mail_to(&user.email).await;
    assert!(
        mails.iter().any(|(s, _)| s.contains("second factor was removed")),
        "{mails:?}"
    );
    let res = app
        .disable_totp(
            &user.access,
            &json!({ "password": user.password, "code": phone.next_code().await }),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "totp_not_enabled").await;
}

/// Makes every session's last strong authentication an hour old.
async fn age_sessions(app: &TestApp) {
    let hour_ago = rampart::domain::now() - time::Duration::hours(1);
    app.exec("UPDATE sessions SET authenticated_at = $1", rampart::args![hour_ago])
        .await;
}

#[tokio::test]
async fn role_changes_and_enrolling_need_a_recent_sign_in_and_reauthenticating_gives_one() {
    let app = spawn_app().await;
    let admin = app.user_with_role(rampart::domain::Role::Admin).await;
    let user = app.new_user().await;
    let promote = json!({ "role": "moderator" });
    let path = format!("/api/v1/admin/users/{}", user.id);
    assert_eq!(
        app.patch_json_auth(&path, &admin.access, &promote).await.status(),
        StatusCode::OK
    );

    age_sessions(&app).await;
    let res = app
        .patch_json_auth(&path, &admin.access, &json!({ "role": "user" }))
        .await;
    let problem = assert_problem(res, StatusCode::UNAUTHORIZED, "reauthentication_required").await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("/api/v1/auth/reauthenticate")
    );
    assert_problem(
        app.enrol_totp(&user.access).await,
        StatusCode::UNAUTHORIZED,
        "reauthentication_required",
    )
    .await;

    let res = app
        .reauthenticate(&admin.access, &json!({ "password": "wrong password!" }))
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_password").await;
    let both = json!({ "password": admin.password, "code": "123456" });
    assert_problem(
        app.reauthenticate(&admin.access, &both).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    let res = app
        .reauthenticate(&admin.access, &json!({ "password": admin.password }))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.patch_json_auth(&path, &admin.access, &json!({ "role": "user" }))
            .await
            .status(),
        StatusCode::OK,
        "the same access token works after the step-up"
    );

    // A second factor steps up too, and raises a password-only session to multi-factor.
    let res = app
        .reauthenticate(&user.access, &json!({ "password": user.password }))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let (mut phone, _) = enable_totp(&app, &user.access).await;
    let signed_in = app.login(&user.username, &user.password).await;
    assert_eq!(signed_in.status(), StatusCode::ACCEPTED);
    age_sessions(&app).await;
    assert_problem(
        app.regenerate_recovery_codes(&user.access).await,
        StatusCode::UNAUTHORIZED,
        "reauthentication_required",
    )
    .await;
    let res = app.reauthenticate(&user.access, &json!({ "code": "000000" })).await;
    assert_problem(res, StatusCode::FORBIDDEN, "wrong_code").await;
    let res = app
        .reauthenticate(&user.access, &json!({ "code": phone.next_code().await }))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.regenerate_recovery_codes(&user.access).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn with_the_staff_policy_admins_and_moderators_need_a_second_factor_for_their_powers() {
    let app = spawn_app_with(|s| s.auth.require_mfa_for_staff = true).await;
    let admin = app.user_with_role(rampart::domain::Role::Admin).await;
    let moderator = app.user_with_role(rampart::domain::Role::Moderator).await;
    let author = app.new_user().await;
    let post: Value = app
        .upload(&author.access, crate::fixtures::jpeg(32, 24), "a post")
        .await
        .json()
        .await
        .unwrap();
    let own: Value = app
        .upload(&moderator.access, crate::fixtures::jpeg(32, 24), "mine")
        .await
        .json()
        .await
        .unwrap();

    let res = app.get_auth("/api/v1/admin/users", &admin.access).await;
    assert_problem(res, StatusCode::FORBIDDEN, "second_factor_required").await;
    let res = app.delete_post(post["id"].as_str().unwrap(), &moderator.access).await;
    assert_problem(res, StatusCode::FORBIDDEN, "second_factor_required").await;
    let res = app.delete_post(own["id"].as_str().unwrap(), &moderator.access).await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "their own post is not a staff power"
    );

    // Enrolling proves the factor, and the session that confirmed it counts as multi-factor.
    let (mut phone, _) = enable_totp(&app, &admin.access).await;
    assert_eq!(
        app.get_auth("/api/v1/admin/users", &admin.access).await.status(),
        StatusCode::OK
    );
    let challenge = challenge(&app, &admin).await;
    let res = app
        .mfa_verify(&json!({ "challenge": challenge, "code": phone.next_code().await }))
        .await;
    let body: Value = res.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(
        app.get_auth("/api/v1/admin/audit", access).await.status(),
        StatusCode::OK
    );
    let res = app.delete_post(post["id"].as_str().unwrap(), access).await;
    assert_eq!(
        res.status(),
        StatusCode::NO_CONTENT,
        "staff powers with a second factor"
    );
}
