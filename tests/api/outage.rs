//! The database going away mid-run: fast 503s, honest health checks, recovery without a restart.

use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{assert_problem, spawn_app_with};
use crate::process::PrivatePostgres;

#[tokio::test]
async fn a_database_outage_gives_fast_503s_and_service_recovers_without_a_restart() {
    let Some(pg) = PrivatePostgres::start() else { return };
    let app = spawn_app_with(|s| {
        s.database.url = Some(pg.url().into());
        s.database.acquire_timeout_ms = 500;
    })
    .await;
    let user = app.new_user().await;
    assert_eq!(app.me(&user.access).await.status(), StatusCode::OK);

    pg.ctl_stop();

    let started = Instant::now();
    let res = app.me(&user.access).await;
    assert!(
        res.headers().get("retry-after").is_some(),
        "Retry-After tells clients when to come back"
    );
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answered in {:?}",
        started.elapsed()
    );
    let res = app
        .register_raw("during_outage", "outage@example.com", "long enough pass")
        .await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    let res = app.login(&user.username, &user.password).await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "service_unavailable").await;
    // The readiness report names the part that failed (it is a report, not a problem document).
    crate::health::assert_unready(app.get("/readyz").await, "database").await;
    assert_eq!(
        app.get("/healthz").await.status(),
        StatusCode::OK,
        "the process itself is alive"
    );

    pg.ctl_start();

    let deadline = Instant::now() + Duration::from_secs(30);
    while app.get("/readyz").await.status() != StatusCode::OK {
        assert!(Instant::now() < deadline, "not ready again within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.me(&user.access).await.status(), StatusCode::OK);
    assert_eq!(app.login(&user.username, &user.password).await.status(), StatusCode::OK);
}
