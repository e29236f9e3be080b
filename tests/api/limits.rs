//! Abuse limits: per-IP buckets on register, login and refresh, and failed-login throttles per account.

use rampart::store::Exec;

use std::time::{Duration, Instant};

use rampart::config::{Rate, Settings};
use reqwest::{Response, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_problem, spawn_app_with};

const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const PASSWORD: &str = "a long enough passphrase";
const WRONG: &str = "not the password at all";

/// The test server sits behind a trusted "proxy" (the loopback peer), so each test can speak as several
/// clients through `X-Forwarded-For`.
fn behind_proxy(s: &mut Settings) {
    s.http.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
}

async fn post_from(app: &TestApp, ip: &str, path: &str, body: &Value) -> Response {
    app.client
        .post(app.url(path))
        .header("x-forwarded-for", ip)
        .json(body)
        .send()
        .await
        .expect("request")
}

async fn login_from(app: &TestApp, ip: &str, login: &str, password: &str) -> Response {
    post_from(app, ip, LOGIN, &json!({ "login": login, "password": password })).await
}

async fn register_from(app: &TestApp, ip: &str, n: usize) -> Response {
    let body =
        json!({ "username": format!("client_{n}"), "email": format!("client_{n}@example.com"), "password": PASSWORD });
    post_from(app, ip, "/api/v1/auth/register", &body).await
}

/// Asserts a `rate_limited` problem with a usable `Retry-After`, returning the delay in seconds.
async fn assert_rate_limited(res: Response) -> u64 {
    let retry_after = res
        .headers()
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse::<u64>()
        .expect("Retry-After in whole seconds");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert!(retry_after >= 1, "Retry-After is at least a second");
    retry_after
}

#[tokio::test]
async fn registering_more_than_the_burst_from_one_ip_is_rate_limited() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.register_per_ip = Rate {
            burst: 3,
            per_secs: 3600,
        };
    })
    .await;
    for n in 0..3 {
        assert_eq!(
            register_from(&app, "203.0.113.1", n).await.status(),
            StatusCode::CREATED
        );
    }

    let res = register_from(&app, "203.0.113.1", 3).await;

    let retry_after = assert_rate_limited(res).await;
    assert!(retry_after <= 1200, "one token refills in 3600/3 s: {retry_after}");
    let count = app.count("SELECT COUNT(*) FROM users", &[]).await;
    assert_eq!(count, 3, "the refused registration stored nothing");
    let other = register_from(&app, "203.0.113.2", 4).await;
    assert_eq!(other.status(), StatusCode::CREATED, "another client is unaffected");
}

#[tokio::test]
async fn logging_in_more_than_the_burst_from_one_ip_is_rate_limited() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.login_per_ip = Rate { burst: 3, per_secs: 60 };
    })
    .await;
    let user = app.new_user().await;
    for _ in 0..3 {
        let res = login_from(&app, "203.0.113.1", &user.username, &user.password).await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    let res = login_from(&app, "203.0.113.1", &user.username, &user.password).await;

    let retry_after = assert_rate_limited(res).await;
    assert!(retry_after <= 20, "one token refills in 60/3 s: {retry_after}");
    let other = login_from(&app, "203.0.113.2", &user.username, &user.password).await;
    assert_eq!(other.status(), StatusCode::OK, "another client is unaffected");
}

#[tokio::test]
async fn repeated_wrong_passwords_throttle_even_the_right_password_from_that_ip() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.login_failures_per_account_ip = Rate {
            burst: 3,
            per_secs: 900,
        };
        s.limits.login_failures_per_account = Rate {
            burst: 20,
            per_secs: 900,
        };
    })
    .await;
    let user = app.new_user().await;
    for _ in 0..3 {
        let res = login_from(&app, "203.0.113.66", &user.username, WRONG).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }

    let res = login_from(&app, "203.0.113.66", &user.username, &user.password).await;

    assert_rate_limited(res).await;
    let owner = login_from(&app, "198.51.100.7", &user.username, &user.password).await;
    assert_eq!(
        owner.status(),
        StatusCode::OK,
        "the owner elsewhere is not locked out by one attacker's failures"
    );
}

#[tokio::test]
async fn the_per_account_limit_applies_across_ips_once_its_larger_burst_is_spent() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.login_failures_per_account_ip = Rate {
            burst: 2,
            per_secs: 900,
        };
        s.limits.login_failures_per_account = Rate {
            burst: 4,
            per_secs: 900,
        };
    })
    .await;
    let user = app.new_user().await;
    for ip in ["203.0.113.1", "203.0.113.2"] {
        for _ in 0..2 {
            let res = login_from(&app, ip, &user.username, WRONG).await;
            assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
        }
    }

    let res = login_from(&app, "203.0.113.3", &user.username, &user.password).await;

    assert_rate_limited(res).await;
}

#[tokio::test]
async fn failed_login_throttling_lifts_after_the_retry_after_delay() {
    let app = spawn_app_with(|s| {
        s.limits.login_failures_per_account_ip = Rate { burst: 2, per_secs: 2 };
        s.limits.login_failures_per_account = Rate { burst: 20, per_secs: 2 };
    })
    .await;
    let user = app.new_user().await;
    for _ in 0..2 {
        let res = app.login(&user.username, WRONG).await;
        assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
    }
    let retry_after = assert_rate_limited(app.login(&user.username, &user.password).await).await;
    assert!(retry_after <= 2, "one token refills in 2/2 s: {retry_after}");

    // The wait is the behaviour under test: the throttle must lift on its own.
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let deadline = Instant::now() + Duration::from_secs(3);
    let res = loop {
        let res = app.login(&user.username, &user.password).await;
        if res.status() != StatusCode::TOO_MANY_REQUESTS || Instant::now() > deadline {
            break res;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    assert_eq!(res.status(), StatusCode::OK, "the owner gets back in");
}

#[tokio::test]
async fn unknown_accounts_are_throttled_exactly_like_real_ones() {
    let app = spawn_app_with(|s| {
        s.limits.login_failures_per_account_ip = Rate {
            burst: 3,
            per_secs: 900,
        };
    })
    .await;
    let user = app.new_user().await;
    let logins = [
        user.username.clone(),
        user.email.clone(),
        "ghost_user".into(),
        "ghost@example.com".into(),
    ];
    let mut answers = Vec::new();
    for login in &logins {
        let mut statuses = Vec::new();
        for _ in 0..3 {
            let res = app.login(login, WRONG).await;
            let body = assert_problem(res, StatusCode::UNAUTHORIZED, "invalid_credentials").await;
            statuses.push((StatusCode::UNAUTHORIZED, body["detail"].clone()));
        }

        let res = app.login(login, WRONG).await;

        let retry_after = res.headers().contains_key("retry-after");
        let body = assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
        statuses.push((StatusCode::TOO_MANY_REQUESTS, body["detail"].clone()));
        assert!(retry_after, "{login}: Retry-After present");
        answers.push(statuses);
    }
    for (login, seen) in logins.iter().zip(&answers) {
        assert_eq!(seen, &answers[0], "{login} answered like {}", logins[0]);
    }
}

#[tokio::test]
async fn refreshing_more_than_the_burst_from_one_ip_is_rate_limited() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.refresh_per_ip = Rate { burst: 3, per_secs: 60 };
    })
    .await;
    let user = app.new_user().await;
    let mut token = user.refresh.clone();
    for _ in 0..3 {
        let res = post_from(&app, "203.0.113.1", REFRESH, &json!({ "refresh_token": token })).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }

    let res = post_from(&app, "203.0.113.1", REFRESH, &json!({ "refresh_token": token })).await;

    assert_rate_limited(res).await;
    let other = post_from(&app, "203.0.113.2", REFRESH, &json!({ "refresh_token": token })).await;
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "the refused attempt did not spend the token, and another client is unaffected"
    );
}

#[tokio::test]
async fn refreshing_one_session_too_often_is_rate_limited_from_any_ip() {
    let app = spawn_app_with(|s| {
        behind_proxy(s);
        s.limits.refresh_per_session = Rate { burst: 2, per_secs: 60 };
    })
    .await;
    let user = app.new_user().await;
    let mut token = user.refresh.clone();
    for ip in ["203.0.113.1", "203.0.113.2"] {
        let res = post_from(&app, ip, REFRESH, &json!({ "refresh_token": token })).await;
        assert_eq!(res.status(), StatusCode::OK);
        let body: Value = res.json().await.unwrap();
        token = body["refresh_token"].as_str().unwrap().to_owned();
    }

    let res = post_from(&app, "203.0.113.3", REFRESH, &json!({ "refresh_token": token })).await;

    assert_rate_limited(res).await;
}

#[tokio::test]
async fn parallel_wrong_passwords_cannot_exceed_the_failure_burst() {
    let app = spawn_app_with(|s| {
        s.limits.login_failures_per_account_ip = Rate {
            burst: 3,
            per_secs: 900,
        };
    })
    .await;
    let user = app.new_user().await;

    let answers = futures::future::join_all((0..20).map(|_| app.login(&user.username, WRONG))).await;

    let statuses: Vec<StatusCode> = answers.iter().map(Response::status).collect();
    let guesses = statuses.iter().filter(|s| **s == StatusCode::UNAUTHORIZED).count();
    assert!(
        guesses <= 3,
        "only the burst is verified, however the guesses arrive: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS)
    );
}

#[tokio::test]
async fn a_forged_x_forwarded_for_from_an_untrusted_peer_does_not_dodge_the_ip_limit() {
    // No trusted proxies: the header is the client's own claim and is ignored.
    let app = spawn_app_with(|s| {
        s.limits.login_per_ip = Rate {
            burst: 2,
            per_secs: 3600,
        }
    })
    .await;
    for forged in ["203.0.113.1", "203.0.113.2"] {
        let res = post_from(
            &app,
            forged,
            "/api/v1/auth/login",
            &json!({ "login": "x", "password": "whatever pass" }),
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = post_from(
        &app,
        "198.51.100.77",
        "/api/v1/auth/login",
        &json!({ "login": "x", "password": "whatever pass" }),
    )
    .await;
    assert_rate_limited(res).await;
    let events: Vec<(Option<String>,)> = (app.state.db())
        .fetch_all("SELECT ip FROM audit_events WHERE kind = 'login_failed'", &[])
        .await
        .unwrap();
    let events: Vec<Option<String>> = events.into_iter().map(|(ip,)| ip).collect();
    assert!(
        events.iter().all(|ip| ip.as_deref() == Some("127.0.0.1")),
        "the socket peer is recorded: {events:?}"
    );
}
