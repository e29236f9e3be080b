//! The HTTP edge: health, request ids, security headers, CORS, limits, timeouts, error shapes, shutdown.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn liveness_and_readiness_answer_ok() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.get(path).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["status"], "ok");
    }
}

#[tokio::test]
async fn every_response_gets_a_request_id_and_a_plain_supplied_one_is_echoed() {
    let app = spawn_app().await;
    let generated = app.get("/healthz").await;
    let id = generated.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "generated id is a uuid: {id}");

    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-abc_123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "trace-abc_123");

    let hostile = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_ne!(hostile.headers()["x-request-id"], "<script>alert(1)</script>");
}

#[tokio::test]
async fn security_headers_are_set_and_no_version_banner_is_sent() {
    let app = spawn_app().await;
    for path in ["/healthz", "/api/v1/me", "/nowhere"] {
        let res = app.get(path).await;
        let h = res.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.get("server").is_none(), "{path} must not announce a server");
    }
    let api = app.get("/api/v1/me").await;
    assert_eq!(api.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn cors_allows_only_configured_exact_origins_and_varies_on_origin() {
    let app = spawn_app_with(|s| s.http.cors_origins = vec!["https://app.example.com".into()]).await;
    let allowed = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let vary: Vec<_> = allowed
        .headers()
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_lowercase())
        .collect();
    assert!(
        vary.iter().any(|v| v.contains("origin")),
        "Vary: Origin present: {vary:?}"
    );

    for origin in [
        "https://evil.example.com",
        "null",
        "https://app.example.com.evil.com",
        "http://app.example.com",
    ] {
        let res = app
            .client
            .get(app.url("/healthz"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert!(
            res.headers().get("access-control-allow-origin").is_none(),
            "{origin} must not be allowed"
        );
    }

    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/auth/login"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn json_bodies_over_64_kib_are_refused_with_413() {
    let app = spawn_app().await;
    let big = json!({ "login": "x".repeat(70 * 1024), "password": "whatever long" });
    let res = app.login_with(&big).await;
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn bodies_over_the_global_limit_are_refused_with_413() {
    let app = spawn_app_with(|s| {
        s.http.body_limit_bytes = 1024;
        s.http.json_limit_bytes = 1024;
    })
    .await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 4096])
        .send()
        .await
        .unwrap();
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large").await;
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405_with_allow() {
    let app = spawn_app().await;
    assert_problem(
        app.get("/api/v1/nothing-here").await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let res = app.client.delete(app.url("/api/v1/auth/login")).send().await.unwrap();
    let allow = res
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(allow.contains("POST"), "Allow lists POST: {allow:?}");
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn axum_rejections_use_the_problem_shape() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let malformed = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .header("content-type", "application/json")
        .body("{\"login\": ")
        .send()
        .await
        .unwrap();
    assert_problem(malformed, StatusCode::BAD_REQUEST, "malformed_json").await;

    let wrong_type = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .body("login=a&password=b")
        .send()
        .await
        .unwrap();
    assert_problem(wrong_type, StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type").await;

    let wrong_shape = app.login_with(&json!({ "login": 5, "password": [] })).await;
    assert_problem(wrong_shape, StatusCode::BAD_REQUEST, "invalid_body").await;

    let admin_query = app.get_auth("/api/v1/admin/users?limit=abc", &user.access).await;
    assert_problem(admin_query, StatusCode::BAD_REQUEST, "invalid_query").await;
}

#[tokio::test]
async fn error_bodies_carry_no_internals() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .header("content-type", "application/json")
        .body("{\"username\": \"abc\", \"email\": [1,2], \"password\": {}}")
        .send()
        .await
        .unwrap();
    let text = res.text().await.unwrap();
    for leak in ["sqlx", "serde", "axum", "/src/", "SELECT", "panicked", "rampart::"] {
        assert!(!text.contains(leak), "body leaks {leak}: {text}");
    }
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(|s| s.http.header_read_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    assert!(
        read.is_ok(),
        "the server closed the slow connection instead of holding it"
    );
}

#[tokio::test]
async fn a_request_that_exceeds_the_deadline_gets_a_problem_response() {
    let app = spawn_app_with(|s| s.http.request_timeout_secs = 1).await;
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    // Headers complete, body promised but never sent: the handler waits until the deadline.
    let head =
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert!(text.contains("application/problem+json"), "{text}");
}

#[tokio::test]
async fn shutdown_drains_a_request_already_in_flight() {
    let mut app = spawn_app().await;
    let user = app.new_user().await;
    let body = json!({ "login": user.username, "password": user.password }).to_string();
    let mut stream = TcpStream::connect(("127.0.0.1", app.port)).await.unwrap();
    let head = format!(
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body.as_bytes()[..5]).await.unwrap();
    // Make sure the server has the request before asking it to stop.
    tokio::time::sleep(Duration::from_millis(100)).await;

    app.signal_stop();
    stream.write_all(&body.as_bytes()[5..]).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buf)).await;
    let response = String::from_utf8_lossy(&buf).into_owned();
    app.stop().await;
    assert!(
        response.starts_with("HTTP/1.1 200"),
        "in-flight login completed: {response}"
    );

    let refused = TcpStream::connect(("127.0.0.1", app.port)).await;
    assert!(refused.is_err(), "no new connections after shutdown");
}

#[tokio::test]
async fn every_json_route_refuses_a_body_that_is_not_an_object() {
    let app = spawn_app().await;
    let user = app.new_user().await;
    let post = format!("/api/v1/posts/{}", uuid::Uuid::now_v7());
    let admin_user = format!("/api/v1/admin/users/{}", user.id);
    // (method, path, signed in)
    let routes: &[(reqwest::Method, &str, bool)] = &[
        (reqwest::Method::POST, "/api/v1/auth/register", false),
        (reqwest::Method::POST, "/api/v1/auth/login", false),
        (reqwest::Method::POST, "/api/v1/auth/refresh", false),
        (reqwest::Method::POST, "/api/v1/auth/password/forgot", false),
        (reqwest::Method::POST, "/api/v1/auth/password/reset", false),
        (reqwest::Method::POST, "/api/v1/auth/verify-email", false),
        (reqwest::Method::POST, "/api/v1/auth/email/confirm", false),
        (reqwest::Method::PATCH, "/api/v1/me", true),
        (reqwest::Method::DELETE, "/api/v1/me", true),
        (reqwest::Method::POST, "/api/v1/me/password", true),
        (reqwest::Method::POST, "/api/v1/me/email", true),
        (reqwest::Method::PATCH, &admin_user, true),
        (reqwest::Method::PATCH, &post, true),
    ];
    let bodies = [r#"["display_name", "x"]"#, r#""text""#, "5", "null", " [ ] "];
    for (method, path, signed_in) in routes {
        for body in bodies {
            let mut req = app
                .client
                .request(method.clone(), app.url(path))
                .header("content-type", "application/json")
                .body(body);
            if *signed_in {
                req = req.bearer_auth(&user.access);
            }
            let res = req.send().await.unwrap();
            let got = res.status();
            let problem: serde_json::Value = res.json().await.unwrap_or_default();
            assert_eq!(
                (got, problem["code"].as_str()),
                (StatusCode::BAD_REQUEST, Some("body_not_object")),
                "{method} {path} with {body}: {problem}"
            );
        }
    }
    // Nothing was changed by the array that once mapped onto the profile's fields.
    let me: serde_json::Value = app.me(&user.access).await.json().await.unwrap();
    assert_eq!((me["display_name"].as_str(), me["bio"].as_str()), (None, Some("")));
    assert_eq!(app.login(&user.username, &user.password).await.status(), StatusCode::OK);
}
