//! Verification and recovery through the mail: verify the address, reset a forgotten password,
//! change the address, export the account and delete it. Tokens are read from the queued mail.

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::fixtures;
use crate::helpers::{TestApp, assert_problem, spawn_app, spawn_app_with};

/// The token in the newest mail to `address` whose subject contains `subject`.
async fn token_from_mail(app: &TestApp, address: &str, subject: &str) -> String {
    let mails = app.mail_to(address).await;
    let (_, body) = mails
        .iter()
        .rev()
        .find(|(s, _)| s.contains(subject))
        .unwrap_or_else(|| panic!("no '{subject}' mail in {mails:?}"));
    let start = body.find("token=").expect("a link with a token") + "token=".len();
    body[start..].split_whitespace().next().unwrap().to_owned()
}

async fn register(app: &TestApp, username: &str) -> Value {
    let res = app
        .register_raw(username, &format!("{username}@example.com"), "a long enough passphrase")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    res.json().await.unwrap()
}

async fn verify(app: &TestApp, token: &str) -> reqwest::Response {
    app.verify_email(&json!({ "token": token })).await
}

async fn reset(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.reset_password(&json!({ "token": token, "new_password": password }))
        .await
}

#[tokio::test]
async fn registering_sends_a_verification_link_built_from_the_public_origin() {
    let app = spawn_app_with(|s| s.public_origin = Some("https://photos.example.com".into())).await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("host", "evil.example.net")
        .header("x-forwarded-host", "evil.example.net")
        .json(&json!({ "username": "vera", "email": "vera@example.com", "password": "a long enough passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["user"]["email_verified"], false);
    let mails = app.mail_to("vera@example.com").await;
    assert_eq!(mails.len(), 1);
    assert!(
        mails[0].1.contains("https://photos.example.com/verify-email?token="),
        "{}",
        mails[0].1
    );
    assert!(!mails[0].1.contains("evil"), "request headers never shape links");

    let token = token_from_mail(&app, "vera@example.com", "Confirm your email").await;
    assert!(token.len() >= 22, "at least 128 bits");
    let stored = app
        .count(
            "SELECT COUNT(*) FROM email_tokens WHERE hash = $1",
            rampart::args![token],
        )
        .await;
    assert_eq!(stored, 0, "tokens are stored only as hashes");
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    let me: Value = app
        .me(body["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email_verified"], true);
    assert_problem(verify(&app, &token).await, StatusCode::BAD_REQUEST, "invalid_token").await;
}

#[tokio::test]
async fn unverified_accounts_can_sign_in_but_cannot_post() {
    let app = spawn_app().await;
    let body = register(&app, "newbie").await;
    assert_eq!(
        app.login("newbie", "a long enough passphrase").await.status(),
        StatusCode::OK
    );
    let res = app
        .upload(
            body["access_token"].as_str().unwrap(),
            fixtures::jpeg(20, 20),
            "too soon",
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "email_unverified").await;

    let open = spawn_app_with(|s| s.posts.require_verified_email = false).await;
    let body = register(&open, "relaxed").await;
    let res = open
        .upload(
            body["access_token"].as_str().unwrap(),
            fixtures::jpeg(20, 20),
            "allowed here",
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "the requirement is configurable");
}

#[tokio::test]
async fn one_verification_token_used_by_twenty_requests_succeeds_once() {
    let app = spawn_app().await;
    register(&app, "racy").await;
    let token = token_from_mail(&app, "racy@example.com", "Confirm").await;
    let statuses: Vec<StatusCode> = join_all((0..20).map(|_| verify(&app, &token)))
        .await
        .iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count(),
        19,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn tokens_for_another_purpose_or_expired_are_refused() {
    let app = spawn_app().await;
    let user = app.user_named("purpose").await;
    app.forgot_password(&json!({ "email": user.email })).await;
    let reset_token = wait_for_token(&app, &user.email, "Reset").await;
    assert_problem(
        verify(&app, &reset_token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    let res = app.confirm_email_change(&json!({ "token": reset_token })).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_token").await;

    let other = spawn_app().await;
    register(&other, "verifier").await;
    let verify_token = token_from_mail(&other, "verifier@example.com", "Confirm").await;
    assert_problem(
        reset(&other, &verify_token, "brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_problem(
        reset(&app, &verify_token, "brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;

    other
        .exec(
            "UPDATE email_tokens SET expires_at = $1",
            rampart::args![rampart::domain::from_unix_ms(0).unwrap()],
        )
        .await;
    assert_problem(
        verify(&other, &verify_token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
    assert_problem(
        reset(&app, "not-a-token", "brand new passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn a_verification_link_for_an_old_address_is_void() {
    let app = spawn_app().await;
    let body = register(&app, "mover").await;
    let token = token_from_mail(&app, "mover@example.com", "Confirm").await;
    let id = body["user"]["id"].as_str().unwrap();
    let id: uuid::Uuid = id.parse().unwrap();
    app.exec(
        "UPDATE users SET email = 'elsewhere@example.com' WHERE id = $1",
        rampart::args![id],
    )
    .await;
    assert_problem(verify(&app, &token).await, StatusCode::BAD_REQUEST, "invalid_token").await;
}

#[tokio::test]
async fn resending_verification_is_throttled_and_replaces_the_old_link() {
    let app = spawn_app_with(|s| {
        s.limits.recovery_per_account = rampart::config::Rate {
            burst: 2,
            per_secs: 3600,
        }
    })
    .await;
    let body = register(&app, "resender").await;
    let access = body["access_token"].as_str().unwrap();
    let first = token_from_mail(&app, "resender@example.com", "Confirm").await;
    assert_eq!(app.resend_verification(access).await.status(), StatusCode::ACCEPTED);
    let second = token_from_mail(&app, "resender@example.com", "Confirm").await;
    assert_ne!(first, second);
    assert_problem(verify(&app, &first).await, StatusCode::BAD_REQUEST, "invalid_token").await;
    assert_eq!(app.resend_verification(access).await.status(), StatusCode::ACCEPTED);
    let limited = app.resend_verification(access).await;
    assert_problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let verified = app.new_user().await;
    let res = app.resend_verification(&verified.access).await;
    assert_problem(res, StatusCode::CONFLICT, "already_verified").await;
}

/// The reset mail is queued after the answer; wait for it.
async fn wait_for_token(app: &TestApp, address: &str, subject: &str) -> String {
    for _ in 0..200 {
        if app.mail_to(address).await.iter().any(|(s, _)| s.contains(subject)) {
            return token_from_mail(app, address, subject).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("no '{subject}' mail for {address}");
}

#[tokio::test]
async fn forgot_password_answers_the_same_for_real_and_unknown_addresses() {
    let app = spawn_app().await;
    let user = app.user_named("forgetful").await;
    let real = app.forgot_password(&json!({ "email": user.email })).await;
    let unknown = app.forgot_password(&json!({ "email": "nobody@example.com" })).await;
    let malformed = app.forgot_password(&json!({ "email": "not an address" })).await;
    let (a, b, c) = (real.status(), unknown.status(), malformed.status());
    assert_eq!(
        (a, b, c),
        (StatusCode::ACCEPTED, StatusCode::ACCEPTED, StatusCode::ACCEPTED)
    );
    let bodies: Vec<Value> = vec![
        real.json().await.unwrap(),
        unknown.json().await.unwrap(),
        malformed.json().await.unwrap(),
    ];
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    wait_for_token(&app, &user.email, "Reset").await;
    assert!(
        app.mail_to("nobody@example.com").await.is_empty(),
        "mail goes only to real accounts"
    );
}

#[tokio::test]
async fn a_reset_changes_the_password_ends_every_session_and_signs_nobody_in() {
    let app = spawn_app().await;
    let user = app.user_named("resetter").await;
    app.forgot_password(&json!({ "email": user.email })).await;
    let token = wait_for_token(&app, &user.email, "Reset").await;
    assert_eq!(
        app.login(&user.username, &user.password).await.status(),
        StatusCode::OK,
        "asking changes nothing"
    );

    let weak = reset(&app, &token, "resetter123").await;
    assert_problem(weak, StatusCode::UNPROCESSABLE_ENTITY, "validation_failed").await;
    let res = reset(&app, &token, "a brand new passphrase").await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert!(res.text().await.unwrap().is_empty(), "no tokens: no automatic sign-in");
    assert_eq!(
        app.me(&user.access).await.status(),
        StatusCode::UNAUTHORIZED,
        "sessions revoked"
    );
    assert_eq!(
        app.login(&user.username, &user.password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(&user.username, "a brand new passphrase").await.status(),
        StatusCode::OK
    );
    assert_problem(
        reset(&app, &token, "yet another passphrase").await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    )
    .await;
}

#[tokio::test]
async fn one_reset_token_used_by_twenty_requests_succeeds_once() {
    let app = spawn_app().await;
    let user = app.user_named("parallel_reset").await;
    app.forgot_password(&json!({ "email": user.email })).await;
    let token = wait_for_token(&app, &user.email, "Reset").await;
    let statuses: Vec<StatusCode> = join_all((0..20).map(|i| {
        reset(
            &app,
            &token,
            if i % 2 == 0 {
                "even passphrase here"
            } else {
                "odd passphrase here"
            },
        )
    }))
    .await
    .iter()
    .map(|r| r.status())
    .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::NO_CONTENT).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::BAD_REQUEST),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn forgot_password_is_throttled_per_address_and_per_ip() {
    let app = spawn_app_with(|s| {
        s.limits.recovery_per_account = rampart::config::Rate {
            burst: 2,
            per_secs: 3600,
        };
        s.limits.recovery_per_ip = rampart::config::Rate {
            burst: 4,
            per_secs: 3600,
        };
    })
    .await;
    for _ in 0..2 {
        let res = app.forgot_password(&json!({ "email": "someone@example.com" })).await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let res = app.forgot_password(&json!({ "email": "someone@example.com" })).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // The fourth request from this IP is still within its budget of four; the fifth is refused.
    let res = app.forgot_password(&json!({ "email": "other@example.com" })).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = app.forgot_password(&json!({ "email": "third@example.com" })).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn an_email_change_takes_effect_only_when_confirmed_from_the_new_address() {
    let app = spawn_app().await;
    let user = app.user_named("changer").await;
    let taken = app.user_named("occupant").await;
    let ask = async |new: &str, pw: &str| {
        let body = json!({ "new_email": new, "current_password": pw });
        app.request_email_change(&user.access, &body).await
    };
    assert_problem(
        ask("fresh@example.com", "wrong password").await,
        StatusCode::FORBIDDEN,
        "wrong_password",
    )
    .await;
    assert_problem(
        ask(&taken.email, &user.password).await,
        StatusCode::CONFLICT,
        "email_taken",
    )
    .await;
    assert_problem(
        ask("nope", &user.password).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(
        ask("Fresh@Example.com", &user.password).await.status(),
        StatusCode::ACCEPTED
    );

    let notice = app.mail_to(&user.email).await;
    assert!(
        notice
            .iter()
            .any(|(s, b)| s.contains("being changed") && b.contains("fresh@example.com")),
        "{notice:?}"
    );
    let me: Value = app.me(&user.access).await.json().await.unwrap();
    assert_eq!(me["email"], user.email.as_str(), "unchanged until confirmed");

    let token = token_from_mail(&app, "fresh@example.com", "Confirm your new").await;
    let res = app.confirm_email_change(&json!({ "token": token })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let me: Value = app.me(&user.access).await.json().await.unwrap();
    assert_eq!(
        (me["email"].as_str(), me["email_verified"].as_bool()),
        (Some("fresh@example.com"), Some(true))
    );
    assert_eq!(
        app.login("fresh@example.com", &user.password).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn two_confirmations_racing_for_one_address_leave_exactly_one_owner() {
    let app = spawn_app().await;
    let (a, b) = (app.user_named("racer_a").await, app.user_named("racer_b").await);
    for u in [&a, &b] {
        let res = app
            .request_email_change(
                &u.access,
                &json!({ "new_email": "prize@example.com", "current_password": u.password }),
            )
            .await;
        assert_eq!(res.status(), StatusCode::ACCEPTED);
    }
    let mails = app.mail_to("prize@example.com").await;
    let tokens: Vec<String> = mails
        .iter()
        .map(|(_, body)| {
            body[body.find("token=").unwrap() + 6..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(tokens.len(), 2);
    let bodies: Vec<Value> = tokens.iter().map(|t| json!({ "token": t })).collect();
    let confirms = bodies.iter().map(|b| app.confirm_email_change(b));
    let statuses: Vec<StatusCode> = join_all(confirms).await.iter().map(|r| r.status()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::CONFLICT).count(),
        1,
        "{statuses:?}"
    );
    let owners = app
        .count("SELECT COUNT(*) FROM users WHERE email = 'prize@example.com'", &[])
        .await;
    assert_eq!(owners, 1);
}

#[tokio::test]
async fn the_export_holds_the_users_data_and_links_to_their_media() {
    let app = spawn_app().await;
    let user = app.user_named("exporter").await;
    let post: Value = app
        .upload(&user.access, fixtures::jpeg(40, 40), "mine #export")
        .await
        .json()
        .await
        .unwrap();
    let res = app.export_account(&user.access).await;
    assert_eq!(res.status(), StatusCode::OK);
    let export: Value = res.json().await.unwrap();
    assert_eq!(export["user"]["username"], "exporter");
    assert_eq!(export["user"]["email"], user.email.as_str());
    assert_eq!(export["posts"][0]["id"], post["id"]);
    let link = export["posts"][0]["image"]["url"].as_str().unwrap();
    assert_eq!(app.fetch(link).await.status(), StatusCode::OK, "media links work");
    assert!(!export["sessions"].as_array().unwrap().is_empty());
    assert!(
        export["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "register")
    );
    assert!(!export.to_string().contains("argon2"), "no password hash");
}

#[tokio::test]
async fn deleting_the_account_leaves_nothing_behind() {
    let app = spawn_app().await;
    let user = app.user_named("leaver").await;
    let bystander = app.user_named("stayer").await;
    app.upload(&user.access, fixtures::jpeg(40, 40), "#bye").await;
    app.upload(&bystander.access, fixtures::jpeg(40, 40), "staying").await;
    let wrong = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&user.access)
        .json(&json!({ "password": "nope nope" }))
        .send()
        .await
        .unwrap();
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;

    let res = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&user.access)
        .json(&json!({ "password": user.password }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        app.login(&user.username, &user.password).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&user.access).await.status(), StatusCode::UNAUTHORIZED);
    for (table, column) in [
        ("users", "id"),
        ("sessions", "user_id"),
        ("posts", "author_id"),
        ("email_tokens", "user_id"),
        ("idempotency_keys", "user_id"),
        ("audit_events", "target_id"),
        ("audit_events", "actor_id"),
    ] {
        let n = app
            .count(
                &format!("SELECT COUNT(*) FROM {table} WHERE {column} = $1"),
                rampart::args![user.uid()],
            )
            .await;
        assert_eq!(n, 0, "{table}.{column} still mentions the user");
    }
    let orphan_tags = app.count("SELECT COUNT(*) FROM post_tags WHERE tag = 'bye'", &[]).await;
    assert_eq!(orphan_tags, 0);
    assert_eq!(app.stored_keys().await.len(), 1, "only the bystander's media remains");
    assert_eq!(app.post_count().await, 1);
}

#[tokio::test]
async fn a_new_user_goes_through_the_whole_account_lifecycle() {
    let app = spawn_app().await;
    // Register, receive the mail, verify.
    let body = register(&app, "lifecycle").await;
    let access = body["access_token"].as_str().unwrap().to_owned();
    let token = token_from_mail(&app, "lifecycle@example.com", "Confirm your email").await;
    assert_eq!(verify(&app, &token).await.status(), StatusCode::NO_CONTENT);
    // Post.
    let res = app.upload(&access, fixtures::jpeg(64, 64), "first post").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    // Forget the password and reset it.
    app.forgot_password(&json!({ "email": "lifecycle@example.com" })).await;
    let reset_token = wait_for_token(&app, "lifecycle@example.com", "Reset").await;
    assert_eq!(
        reset(&app, &reset_token, "the second passphrase").await.status(),
        StatusCode::NO_CONTENT
    );
    let login: Value = app
        .login("lifecycle", "the second passphrase")
        .await
        .json()
        .await
        .unwrap();
    let access = login["access_token"].as_str().unwrap().to_owned();
    // Change the address.
    let res = app
        .request_email_change(
            &access,
            &json!({ "new_email": "moved@example.com", "current_password": "the second passphrase" }),
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let confirm = token_from_mail(&app, "moved@example.com", "Confirm your new").await;
    assert_eq!(
        app.confirm_email_change(&json!({ "token": confirm })).await.status(),
        StatusCode::OK
    );
    // Export, then delete.
    let export: Value = app.export_account(&access).await.json().await.unwrap();
    assert_eq!(export["user"]["email"], "moved@example.com");
    assert_eq!(export["posts"].as_array().unwrap().len(), 1);
    let res = app
        .client
        .delete(app.url("/api/v1/me"))
        .bearer_auth(&access)
        .json(&json!({ "password": "the second passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.post_count().await, 0);
    assert!(app.stored_keys().await.is_empty());
}

#[tokio::test]
async fn each_password_recheck_charges_wrong_guesses_only_and_refuses_them_alike() {
    // One guess in the budget: a right password gives its charge back, or the next check is refused.
    let app = spawn_app_with(|s| {
        s.limits.login_failures_per_account_ip = rampart::config::Rate {
            burst: 1,
            per_secs: 3600,
        }
    })
    .await;
    // The only admin: deleting the account passes the password check and then stops at the
    // last-admin rule, so the same account can go on to the other checks.
    let user = app.user_with_role(rampart::domain::Role::Admin).await;
    let send = |method: reqwest::Method, path: &'static str, body: Value| {
        let req = app
            .client
            .request(method, app.url(path))
            .bearer_auth(&user.access)
            .json(&body);
        async move { req.send().await.unwrap() }
    };

    let kept = send(
        reqwest::Method::DELETE,
        "/api/v1/me",
        json!({ "password": user.password }),
    )
    .await;
    assert_problem(kept, StatusCode::CONFLICT, "last_admin").await;
    let changed = send(
        reqwest::Method::POST,
        "/api/v1/me/password",
        json!({ "current_password": user.password, "new_password": "another long passphrase" }),
    )
    .await;
    assert_eq!(
        changed.status(),
        StatusCode::NO_CONTENT,
        "password change after a refunded check"
    );
    let moved = send(
        reqwest::Method::POST,
        "/api/v1/me/email",
        json!({ "current_password": "another long passphrase", "new_email": "moved@example.com" }),
    )
    .await;
    assert_eq!(
        moved.status(),
        StatusCode::ACCEPTED,
        "email change after a refunded check"
    );

    // A wrong guess answers the same on every route, and it is charged.
    let wrong = send(
        reqwest::Method::DELETE,
        "/api/v1/me",
        json!({ "password": "not the password at all" }),
    )
    .await;
    assert_problem(wrong, StatusCode::FORBIDDEN, "wrong_password").await;
    let limited = send(
        reqwest::Method::DELETE,
        "/api/v1/me",
        json!({ "password": "another long passphrase" }),
    )
    .await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the wrong guess used the budget"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) FROM users", &[]).await,
        1,
        "nothing was deleted"
    );
}
