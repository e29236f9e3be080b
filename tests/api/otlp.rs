//! OpenTelemetry export: a `rampart serve` process with `telemetry.otlp_endpoint` set posts its
//! request spans over OTLP/HTTP (protobuf) to a collector. The collector here is a stand-in that
//! decodes what it receives with the OTLP protobuf definitions (`opentelemetry-proto`), the way an
//! OpenTelemetry Collector would; none runs on this machine.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;
use serde_json::{Value, json};

use crate::process::Instance;

#[derive(Clone, Default)]
struct Collector {
    received: Arc<Mutex<Vec<(String, ExportTraceServiceRequest)>>>,
}

async fn collect(State(c): State<Collector>, uri: Uri, body: Bytes) -> (StatusCode, Vec<u8>) {
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            c.received.lock().unwrap().push((uri.path().to_owned(), request));
            (StatusCode::OK, Vec::new())
        }
        Err(_) => (StatusCode::BAD_REQUEST, Vec::new()),
    }
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    let value = attrs.iter().find(|a| a.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        AnyValue::StringValue(s) => s.clone(),
        AnyValue::IntValue(i) => i.to_string(),
        AnyValue::BoolValue(b) => b.to_string(),
        AnyValue::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}

#[tokio::test]
async fn request_spans_reach_the_collector_named_by_route_with_the_user_and_without_secrets() {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new()
        .fallback(axum::routing::post(collect))
        .with_state(collector.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().unwrap();
    let mut rampart = Instance::start(
        dir.path(),
        &[
            ("RAMPART_TELEMETRY__OTLP_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("RAMPART_TELEMETRY__SERVICE_NAME", "rampart-under-test".to_owned()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let (email, password) = ("tracer@example.com", "traced but never exported");
    let registered = client
        .post(format!("{}/api/v1/auth/register", rampart.url))
        .json(&json!({"username": "tracer", "email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(registered.status(), 201);
    let body: Value = registered.json().await.unwrap();
    let (user_id, token) = (
        body["user"]["id"].as_str().unwrap().to_owned(),
        body["access_token"].as_str().unwrap().to_owned(),
    );
    let me = client
        .get(format!("{}/api/v1/me?access_token={token}", rampart.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let missing = client
        .get(format!("{}/api/v1/posts/{}", rampart.url, uuid::Uuid::now_v7()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    // Stopping flushes what the batch exporter still holds.
    rampart.terminate().await;

    let received = collector.received.lock().unwrap().clone();
    assert!(
        !received.is_empty(),
        "no export reached the collector: {}",
        rampart.log()
    );
    assert!(
        received.iter().all(|(path, _)| path == "/v1/traces"),
        "paths: {:?}",
        received.iter().map(|(p, _)| p).collect::<Vec<_>>()
    );
    let resources: Vec<_> = received.iter().flat_map(|(_, r)| &r.resource_spans).collect();
    assert!(resources.iter().all(|r| {
        text(&r.resource.as_ref().unwrap().attributes, "service.name").as_deref() == Some("rampart-under-test")
    }));
    let spans: Vec<_> = resources
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .collect();
    let named = |name: &str| {
        spans.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name}: {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    let register = named("POST /api/v1/auth/register");
    assert_eq!(register.kind, SpanKind::Server as i32);
    assert_eq!(text(&register.attributes, "status").as_deref(), Some("201"));
    assert_eq!(
        text(&register.attributes, "route").as_deref(),
        Some("/api/v1/auth/register")
    );
    let me = named("GET /api/v1/me");
    assert_eq!(text(&me.attributes, "user_id"), Some(user_id));
    assert!(me.end_time_unix_nano > me.start_time_unix_nano);
    let post = named("GET /api/v1/posts/{id}");
    assert_eq!(text(&post.attributes, "status").as_deref(), Some("404"));
    // Nothing exported carries the password, the email or the token, which was also sent in the
    // query string of the second request.
    let everything = format!("{received:?}");
    for secret in [password, email, token.as_str()] {
        assert!(!everything.contains(secret), "exported: {secret}");
    }
}
