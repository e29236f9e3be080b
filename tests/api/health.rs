//! Health: `/readyz` for load balancers and `/api/v1/admin/health` for operators, from one report.

use std::time::{Duration, Instant};

use rampart::domain::Role;
use reqwest::{Response, StatusCode};
use serde_json::Value;

use crate::helpers::{TestApp, assert_problem, spawn_app};

const ADMIN_HEALTH: &str = "/api/v1/admin/health";

/// Asserts a `503` readiness report in which `part` failed, returning the body.
pub async fn assert_unready(res: Response, part: &str) -> Value {
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().get("retry-after").is_some(), "Retry-After on a 503");
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"][part]["ok"], false, "{body}");
    assert!(body["checks"][part]["error"].is_string(), "{body}");
    body
}

/// Asserts one check of a report is ok, with a plausible latency.
fn assert_ok(report: &Value, part: &str) {
    let check = &report["checks"][part];
    assert_eq!(check["ok"], true, "{part}: {report}");
    let ms = check["latency_ms"].as_f64().unwrap_or(-1.0);
    assert!((0.0..=1000.0).contains(&ms), "{part} latency: {report}");
    assert!(check.get("error").is_none(), "{part}: {report}");
}

/// Waits until the background sender has sent every queued message.
async fn outbox_drained(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while app
        .count("SELECT COUNT(*) FROM outbox WHERE sent_at IS NULL", &[])
        .await
        > 0
    {
        assert!(Instant::now() < deadline, "the outbox did not drain");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn readiness_reports_every_part_of_a_healthy_app() {
    let app = spawn_app().await;

    let res = app.get("/readyz").await;

    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["status"], "ok");
    for part in ["database", "storage", "mail"] {
        assert_ok(&report, part);
    }
    assert!(
        report["checks"].get("redis").is_none(),
        "Redis is not configured: {report}"
    );
    assert!(report.get("outbox").is_none(), "the outbox is for admins: {report}");
}

#[tokio::test]
async fn an_admin_sees_the_report_with_the_outbox_and_the_storage_driver() {
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;

    let res = app.get_auth(ADMIN_HEALTH, &admin.access).await;

    assert_eq!(res.status(), StatusCode::OK);
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["status"], "ok");
    for part in ["database", "storage", "mail"] {
        assert_ok(&report, part);
    }
    assert_eq!(report["storage_driver"], app.state.media().name());
    assert!(report["outbox"]["queued"].is_i64(), "{report}");
    assert!(report["outbox"]["failing"].is_i64(), "{report}");
}

#[tokio::test]
async fn the_admin_health_report_shows_the_outbox_depth() {
    // Arrange: once the sign-up mail is out, two messages due tomorrow, one of which failed before.
    let app = spawn_app().await;
    let admin = app.user_with_role(Role::Admin).await;
    outbox_drained(&app).await;
    let tomorrow = rampart::domain::now() + time::Duration::DAY;
    for (address, last_error) in [("a@example.com", None), ("b@example.com", Some("relay refused"))] {
        app.exec(
            "INSERT INTO outbox (id, to_address, subject, body_text, created_at, next_attempt_at, attempts, last_error) \
             VALUES ($1, $2, 's', 'b', $3, $3, 1, $4)",
            rampart::args![uuid::Uuid::now_v7(), address, tomorrow, last_error],
        )
        .await;
    }

    let report: Value = app.get_auth(ADMIN_HEALTH, &admin.access).await.json().await.unwrap();

    assert_eq!(report["outbox"]["queued"], 2, "{report}");
    assert_eq!(report["outbox"]["failing"], 1, "{report}");
    assert_eq!(report["status"], "ok", "mail does not decide health");
}

#[tokio::test]
async fn the_admin_health_report_is_for_admins_only() {
    let app = spawn_app().await;
    for role in [Role::User, Role::Moderator] {
        let who = app.user_with_role(role).await;
        let res = app.get_auth(ADMIN_HEALTH, &who.access).await;
        assert_problem(res, StatusCode::FORBIDDEN, "forbidden").await;
    }
    assert_problem(app.get(ADMIN_HEALTH).await, StatusCode::UNAUTHORIZED, "missing_token").await;
}

#[tokio::test]
async fn an_unreachable_redis_makes_the_app_unready_and_its_url_is_never_shown() {
    let app = crate::helpers::spawn_app_with(|s| {
        s.redis.url = Some(format!("redis://:redis-secret@127.0.0.1:{}", crate::process::free_port()).into());
        s.redis.timeout_ms = 200;
    })
    .await;

    let res = app.get("/readyz").await;

    let body = assert_unready(res, "redis").await;
    assert_eq!(body["checks"]["database"]["ok"], true, "{body}");
    let text = body.to_string();
    assert!(!text.contains("redis-secret") && !text.contains("redis://"), "{text}");
}
