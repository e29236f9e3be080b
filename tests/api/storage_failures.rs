//! Storage that is down or too slow: a bounded 503/504 and no row written.

use std::time::{Duration, Instant};

use rampart::config::{S3Settings, StorageDriver};
use reqwest::StatusCode;

use crate::fixtures;
use crate::helpers::{assert_problem, spawn_app_with};
use crate::imagekit_standin::StandIn;
use crate::process::free_port;

#[tokio::test]
async fn storage_that_fails_gives_503_and_no_post() {
    let standin = StandIn::start("private_test_key").await;
    let app = spawn_app_with(|s| standin.configure(s)).await;
    let user = app.new_user().await;
    standin.set_failing(true);
    let res = app
        .upload(&user.access, fixtures::jpeg(200, 100), "during an outage")
        .await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable").await;
    assert_eq!(app.post_count().await, 0);
    let metrics = crate::metrics::scrape(&app).await;
    let failed = [("driver", "imagekit"), ("operation", "store")];
    assert_eq!(
        metrics.total("rampart_storage_errors_total", &failed),
        1.0,
        "counted by driver"
    );
    standin.set_failing(false);
    assert_eq!(standin.file_count(), 0, "nothing was left in storage");
    let res = app
        .upload(&user.access, fixtures::jpeg(200, 100), "after the outage")
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "service resumes with storage");
}

#[tokio::test]
async fn unreachable_storage_gives_503_quickly_and_no_post() {
    let closed = format!("http://127.0.0.1:{}", free_port());
    let app = spawn_app_with(|s| {
        s.storage.driver = StorageDriver::S3(S3Settings {
            endpoint: Some(closed.clone()),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            allow_http: true,
            ..S3Settings::default()
        });
        s.storage.timeout_ms = 2000;
    })
    .await;
    let user = app.new_user().await;
    let started = Instant::now();
    let res = app
        .upload(&user.access, fixtures::jpeg(200, 100), "nowhere to go")
        .await;
    let status = res.status();
    assert!(
        status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::GATEWAY_TIMEOUT,
        "503 or 504, got {status}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(app.post_count().await, 0);
}

#[tokio::test]
async fn storage_that_never_answers_gives_504_within_the_deadline() {
    // A listener that accepts connections and never replies.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let app = spawn_app_with(|s| {
        s.storage.driver = StorageDriver::S3(S3Settings {
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            access_key_id: Some("test".into()),
            secret_access_key: Some("test".into()),
            allow_http: true,
            ..S3Settings::default()
        });
        s.storage.timeout_ms = 500;
    })
    .await;
    let user = app.new_user().await;
    let started = Instant::now();
    let res = app
        .upload(&user.access, fixtures::jpeg(200, 100), "into the void")
        .await;
    assert_problem(res, StatusCode::GATEWAY_TIMEOUT, "storage_timeout").await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "bounded: {:?}",
        started.elapsed()
    );
    assert_eq!(app.post_count().await, 0);
    hold.abort();
}
