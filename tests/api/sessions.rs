//! Sessions: refresh rotation and reuse, retries within the grace period, logout, listing and revoking
//! devices, cookie mode with CSRF.

use rampart::args;
use rampart::store::Exec;

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestUser, assert_problem, spawn_app, spawn_app_with};

/// An app where any second use of a refresh token is a reuse, as before retries were forgiven.
async fn spawn_app_without_grace() -> TestApp {
    spawn_app_with(|s| s.auth.refresh_reuse_grace_secs = 0).await
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.refresh(&json!({ "refresh_token": token })).await
}

async fn audit_kinds(app: &TestApp, user: &TestUser) -> Vec<String> {
    let rows: Vec<(String,)> = (app.state.db())
        .fetch_all(
            "SELECT kind FROM audit_events WHERE target_id = $1 ORDER BY id",
            args![user.uid()],
        )
        .await
        .unwrap();
    rows.into_iter().map(|(kind,)| kind).collect()
}

#[tokio::test]
async fn refreshing_rotates_the_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = refresh(&app, &user.refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let next = body["refresh_token"].as_str().unwrap();
    assert_ne!(next, user.refresh);
    assert_eq!(body["user"]["id"], user.id.as_str());
    assert_eq!(
        app.me(body["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        refresh(&app, next).await.status(),
        StatusCode::OK,
        "the new token works once"
    );
}

#[tokio::test]
async fn replaying_a_rotated_refresh_token_revokes_the_whole_session() {
    // Without a grace period, so that even an immediate replay from this client is a reuse.
    let app = spawn_app_without_grace().await;
    let user = app.new_user().await;
    let body: Value = refresh(&app, &user.refresh).await.json().await.unwrap();
    let new_refresh = body["refresh_token"].as_str().unwrap();
    let new_access = body["access_token"].as_str().unwrap();

    assert_problem(
        refresh(&app, &user.refresh).await,
        StatusCode::UNAUTHORIZED,
        "refresh_token_reused",
    )
    .await;
    assert_problem(
        refresh(&app, new_refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    assert_eq!(app.me(new_access).await.status(), StatusCode::UNAUTHORIZED);
    assert!(
        audit_kinds(&app, &user)
            .await
            .contains(&"refresh_token_reuse".to_owned()),
        "security event recorded"
    );
}

#[tokio::test]
async fn twenty_parallel_refreshes_with_one_token_give_exactly_one_success() {
    // Without a grace period: the parallel presenters are one client, which a grace would forgive.
    let app = spawn_app_without_grace().await;
    let user = app.new_user().await;
    let statuses: Vec<StatusCode> = join_all((0..20).map(|_| refresh(&app, &user.refresh)))
        .await
        .into_iter()
        .map(|r| r.status())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn unknown_and_garbage_refresh_tokens_are_refused() {
    let app = spawn_app().await;
    for token in ["", "nope", &"x".repeat(5000)] {
        assert_problem(
            refresh(&app, token).await,
            StatusCode::UNAUTHORIZED,
            "invalid_refresh_token",
        )
        .await;
    }
    let res = app.refresh(&json!({ "refresh_token": "a", "role": "admin" })).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "invalid_body").await;
}

#[tokio::test]
async fn an_idle_or_expired_session_cannot_be_refreshed() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let epoch = rampart::domain::from_unix_ms(0).unwrap();
    app.exec(
        "UPDATE sessions SET idle_expires_at = $2 WHERE user_id = $1",
        args![user.uid(), epoch],
    )
    .await;
    assert_problem(
        refresh(&app, &user.refresh).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    let res = app.me(&user.access).await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "session_ended").await;
}

#[tokio::test]
async fn logout_stops_the_access_token_on_the_next_request() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    assert_eq!(app.me(&user.access).await.status(), StatusCode::OK);
    assert_eq!(app.logout(&user.access).await.status(), StatusCode::NO_CONTENT);
    assert_problem(app.me(&user.access).await, StatusCode::UNAUTHORIZED, "session_ended").await;
    assert_eq!(refresh(&app, &user.refresh).await.status(), StatusCode::UNAUTHORIZED);
    assert!(audit_kinds(&app, &user).await.contains(&"logout".to_owned()));
}

#[tokio::test]
async fn logout_all_ends_every_session_of_the_user_and_no_one_elses() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let bystander = app.new_user().await;
    let second: Value = app.login(&user.username, &user.password).await.json().await.unwrap();
    assert_eq!(app.logout_all(&user.access).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me(&user.access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.me(second["access_token"].as_str().unwrap()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.me(&bystander.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_user_lists_their_sessions_and_revokes_one_device() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let laptop: Value = app.login(&user.username, &user.password).await.json().await.unwrap();
    let laptop_access = laptop["access_token"].as_str().unwrap();

    let list: Value = app.sessions(&user.access).await.json().await.unwrap();
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items.iter().filter(|s| s["current"] == true).count(), 1);
    let laptop_sid = items.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let res = app.revoke_session(&laptop_sid, &user.access).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.me(laptop_access).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.me(&user.access).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn another_users_session_cannot_be_revoked() {
    let app = spawn_app().await;
    let owner = app.new_user().await;
    let intruder = app.new_user().await;
    let list: Value = app.sessions(&owner.access).await.json().await.unwrap();
    let sid = list["items"][0]["id"].as_str().unwrap();
    let res = app.revoke_session(sid, &intruder.access).await;
    assert_problem(res, StatusCode::NOT_FOUND, "session_not_found").await;
    assert_eq!(app.me(&owner.access).await.status(), StatusCode::OK);
}

fn set_cookie(res: &reqwest::Response) -> String {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn cookie_value(set_cookie: &str) -> String {
    set_cookie
        .split(';')
        .next()
        .unwrap()
        .split_once('=')
        .unwrap()
        .1
        .to_owned()
}

#[tokio::test]
async fn cookie_mode_keeps_the_refresh_token_out_of_the_body_and_requires_the_csrf_header() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .login_with(&json!({ "login": user.username, "password": user.password, "refresh_cookie": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = set_cookie(&res);
    for attr in [
        "rampart_refresh=",
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/v1/auth",
    ] {
        assert!(cookie.contains(attr), "{attr} in {cookie}");
    }
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "no refresh token in the body");
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let refresh_cookie = format!("rampart_refresh={}", cookie_value(&cookie));

    let post = |csrf: Option<&str>| {
        let mut req = app
            .client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", &refresh_cookie);
        if let Some(c) = csrf {
            req = req.header("x-csrf-token", c);
        }
        req.send()
    };
    assert_problem(post(None).await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;
    assert_problem(post(Some("guess")).await.unwrap(), StatusCode::FORBIDDEN, "csrf_failed").await;

    let ok = post(Some(&csrf)).await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    let rotated = set_cookie(&ok);
    assert!(rotated.contains("rampart_refresh=") && rotated.contains("HttpOnly"));
    assert_ne!(cookie_value(&rotated), cookie_value(&cookie), "the cookie rotates");
    let body: Value = ok.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    assert!(body["access_token"].is_string());
}

#[tokio::test]
async fn registration_can_start_a_cookie_mode_session() {
    let app = spawn_app().await;
    let res = app
        .register(&json!({
            "username": "cookie_cat",
            "email": "cookie_cat@example.com",
            "password": "a long enough passphrase",
            "refresh_cookie": true,
        }))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = set_cookie(&res);
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let body: Value = res.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "no refresh token in the body");
    assert_eq!(body["user"]["username"], "cookie_cat");
    let csrf = body["csrf_token"].as_str().expect("a CSRF token for cookie mode");

    let refreshed = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("cookie", format!("rampart_refresh={}", cookie_value(&cookie)))
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refreshed.status(),
        StatusCode::OK,
        "the registration's cookie refreshes"
    );
}

/// The refresh token of a successful refresh.
async fn refreshed(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn refresh_tokens_of(app: &TestApp, user: &TestUser) -> i64 {
    app.count(
        "SELECT COUNT(*) FROM refresh_tokens r JOIN sessions s ON s.id = r.session_id WHERE s.user_id = $1",
        args![user.uid()],
    )
    .await
}

#[tokio::test]
async fn a_retried_refresh_from_the_same_client_within_the_grace_gets_the_same_new_refresh_token() {
    // Arrange: the default grace period.
    let app = spawn_app().await;
    assert!(app.state.settings().auth.refresh_reuse_grace_secs > 0);
    let user = app.new_user().await;
    let first = refreshed(refresh(&app, &user.refresh).await).await;

    // Act: the answer was lost, so the client sends the same token again.
    let retry = refreshed(refresh(&app, &user.refresh).await).await;

    // Assert: the same successor, a working access token, and the successor rotates once.
    let successor = first["refresh_token"].as_str().unwrap();
    assert_eq!(retry["refresh_token"], successor);
    assert_eq!(retry["user"]["id"], user.id.as_str());
    assert_eq!(
        app.me(retry["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    let next = refreshed(refresh(&app, successor).await).await;
    let again = refreshed(refresh(&app, successor).await).await;
    assert_ne!(next["refresh_token"], successor);
    assert_eq!(
        again["refresh_token"], next["refresh_token"],
        "the successor rotated once"
    );
    assert_eq!(refresh_tokens_of(&app, &user).await, 3, "three tokens, two rotations");
    assert_eq!(
        app.me(next["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    assert!(
        !audit_kinds(&app, &user)
            .await
            .contains(&"refresh_token_reuse".to_owned())
    );
}

#[tokio::test]
async fn a_used_token_presented_after_its_successor_was_used_ends_the_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = refreshed(refresh(&app, &user.refresh).await).await;
    let next = refreshed(refresh(&app, first["refresh_token"].as_str().unwrap()).await).await;

    // Within the grace and from the same client, but the successor has been used: a copy, not a retry.
    let res = refresh(&app, &user.refresh).await;

    assert_problem(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_problem(
        app.me(next["access_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "session_ended",
    )
    .await;
    assert!(
        audit_kinds(&app, &user)
            .await
            .contains(&"refresh_token_reuse".to_owned())
    );
}

#[tokio::test]
async fn a_retry_from_another_client_within_the_grace_ends_the_session() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let first = refreshed(refresh(&app, &user.refresh).await).await;

    // Act: the same token from another user agent, a moment later.
    let res = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .header("user-agent", "another browser/1.0")
        .json(&json!({ "refresh_token": user.refresh }))
        .send()
        .await
        .unwrap();

    assert_problem(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_eq!(
        app.me(first["access_token"].as_str().unwrap()).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_problem(
        refresh(&app, first["refresh_token"].as_str().unwrap()).await,
        StatusCode::UNAUTHORIZED,
        "invalid_refresh_token",
    )
    .await;
    assert!(
        audit_kinds(&app, &user)
            .await
            .contains(&"refresh_token_reuse".to_owned())
    );
}

#[tokio::test]
async fn a_retry_after_the_grace_ends_the_session() {
    let app = spawn_app_with(|s| s.auth.refresh_reuse_grace_secs = 5).await;
    let user = app.new_user().await;
    let first = refreshed(refresh(&app, &user.refresh).await).await;
    // The token was used six seconds ago, past the five-second grace (set in the row, not slept).
    let used_at = rampart::domain::now() - time::Duration::seconds(6);
    app.exec(
        "UPDATE refresh_tokens SET used_at = $1 WHERE hash = $2",
        args![used_at, rampart::auth::secrets::hash(&user.refresh)],
    )
    .await;

    let res = refresh(&app, &user.refresh).await;

    assert_problem(res, StatusCode::UNAUTHORIZED, "refresh_token_reused").await;
    assert_eq!(
        app.me(first["access_token"].as_str().unwrap()).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_retried_cookie_mode_refresh_gets_the_same_cookie() {
    // Arrange: signed in with the refresh token in its cookie.
    let app = spawn_app().await;
    let user = app.new_user().await;
    let res = app
        .login_with(&json!({ "login": user.username, "password": user.password, "refresh_cookie": true }))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cookie = cookie_value(&set_cookie(&res));
    let body: Value = res.json().await.unwrap();
    let csrf = body["csrf_token"].as_str().unwrap().to_owned();
    let post = |value: &str| {
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .header("cookie", format!("rampart_refresh={value}"))
            .header("x-csrf-token", &csrf)
            .send()
    };
    let first = post(&cookie).await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    let rotated = cookie_value(&set_cookie(&first));

    // Act: the second tab refreshes with the cookie it still has.
    let retry = post(&cookie).await.unwrap();

    // Assert
    assert_eq!(retry.status(), StatusCode::OK);
    assert_eq!(cookie_value(&set_cookie(&retry)), rotated, "the same cookie value");
    let body: Value = retry.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "still no refresh token in the body"
    );
    assert_eq!(
        app.me(body["access_token"].as_str().unwrap()).await.status(),
        StatusCode::OK
    );
    let next = post(&rotated).await.unwrap();
    assert_eq!(next.status(), StatusCode::OK, "the rotated cookie works");
    assert_ne!(cookie_value(&set_cookie(&next)), rotated);
}

#[tokio::test]
async fn parallel_refreshes_of_one_token_from_one_client_all_get_the_same_new_refresh_token() {
    let app = spawn_app().await;
    let user = app.new_user().await;

    let answers = join_all((0..12).map(|_| refresh(&app, &user.refresh))).await;

    let mut bodies = Vec::new();
    for res in answers {
        bodies.push(refreshed(res).await);
    }
    let successor = bodies[0]["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        bodies.iter().all(|b| b["refresh_token"] == successor.as_str()),
        "{bodies:?}"
    );
    assert_eq!(refresh_tokens_of(&app, &user).await, 2, "one rotation");
    for body in &bodies {
        assert_eq!(
            app.me(body["access_token"].as_str().unwrap()).await.status(),
            StatusCode::OK
        );
    }
    refreshed(refresh(&app, &successor).await).await;
    assert!(
        !audit_kinds(&app, &user)
            .await
            .contains(&"refresh_token_reuse".to_owned())
    );
}
