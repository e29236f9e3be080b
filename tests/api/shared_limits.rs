//! Limits shared through Redis across instances, and failing closed when Redis is unreachable.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{assert_problem, spawn_app_with};
use crate::process::free_port;
use rampart::config::Rate;

fn redis_url() -> Option<String> {
    let url = std::env::var("RAMPART_TEST_REDIS_URL").ok();
    if url.is_none() {
        println!("skipped: set RAMPART_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)");
    }
    url
}

#[tokio::test]
async fn two_instances_share_one_login_limit_through_redis() {
    let Some(url) = redis_url() else { return };
    let prefix = format!("rampart-test-{}:", uuid::Uuid::now_v7().simple());
    let configure = |s: &mut rampart::config::Settings| {
        s.redis.url = Some(url.clone().into());
        s.redis.key_prefix = prefix.clone();
        s.limits.login_per_ip = Rate {
            burst: 3,
            per_secs: 3600,
        };
    };
    let a = spawn_app_with(configure).await;
    let b = spawn_app_with(configure).await;
    for app in [&a, &b, &a] {
        assert_eq!(
            app.login("nobody", "wrong password").await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let res = b.login("nobody", "wrong password").await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
}

#[tokio::test]
async fn auth_endpoints_fail_closed_when_the_configured_redis_is_unreachable() {
    let dead = format!("redis://127.0.0.1:{}", free_port());
    let app = spawn_app_with(|s| {
        s.redis.url = Some(dead.clone().into());
        s.redis.timeout_ms = 200;
    })
    .await;
    let register = app
        .register_raw("closed_door", "closed@example.com", "long enough pass")
        .await;
    assert_problem(register, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let count = app.count("SELECT COUNT(*) FROM users", &[]).await;
    assert_eq!(count, 0, "nothing was written without the limit check");
    let login = app.login("anyone", "any password").await;
    assert_problem(login, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let refresh = app.refresh(&json!({ "refresh_token": "x" })).await;
    assert_problem(refresh, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // The readiness report names the part that failed (it is a report, not a problem document).
    let report = crate::health::assert_unready(app.get("/readyz").await, "redis").await;
    assert_eq!(report["checks"]["database"]["ok"], true, "{report}");
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
