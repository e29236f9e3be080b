//! The route table: every path Rampart serves and the layers every request passes. Each resource
//! module owns its routes (`accounts::router`, `posts::router`); this file only merges them, adds the
//! health checks, the docs, the web app and local media, and wraps them in the shared layers.

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::routing::get;
use axum::{Json, Router, middleware};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::config::{MetricsBind, Settings};
use crate::http::middleware as mw;
use crate::state::AppState;

/// The documented API: `/api/v1/…`.
fn api(state: &AppState) -> OpenApiRouter<AppState> {
    crate::openapi::documented()
        .merge(crate::accounts::router())
        .merge(crate::factors::router())
        .merge(crate::instance::router())
        .merge(crate::posts::router(state))
        .merge(crate::ops::health::router())
}

/// The whole HTTP surface with its layers; usable without a socket.
pub fn router(state: AppState) -> Router {
    let http = &state.settings().http;
    let (api, openapi) = crate::openapi::finish(api(&state));
    let layers = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            state.metrics.as_ref().map(|m| m.http.clone()),
            mw::edge,
        ))
        .layer(cors(state.settings()))
        .layer(CatchPanicLayer::custom(mw::panic_response))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(http.request_timeout_secs),
        ))
        .layer(RequestBodyLimitLayer::new(http.body_limit_bytes));
    Router::new()
        .merge(api)
        .layer(DefaultBodyLimit::max(http.json_limit_bytes))
        .route("/healthz", get(healthz))
        .route("/readyz", get(crate::ops::health::readyz))
        .merge(crate::openapi::docs_router(openapi))
        .merge(crate::web::router())
        .merge(if state.media().name() == "local" {
            crate::media::serve::router()
        } else {
            Router::new()
        })
        .merge(match &state.settings().metrics {
            m if m.enabled && m.bind == MetricsBind::Public => crate::metrics::serve::router(),
            _ => Router::new(),
        })
        .layer(layers)
        .with_state(state)
}

fn cors(settings: &Settings) -> CorsLayer {
    let http = &settings.http;
    let origin = if http.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(http.cors_origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(origin)
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::PUT, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::IF_MATCH,
            HeaderName::from_static("x-csrf-token"),
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-request-id"),
        ])
        .expose_headers([
            HeaderName::from_static("x-request-id"),
            header::ETAG,
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
        ])
        .allow_credentials(http.cors_allow_credentials)
        .max_age(Duration::from_secs(600))
}

/// Liveness: the process answers.
async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
