//! Health: one report of the parts Rampart depends on, served twice. `GET /readyz` (public) answers
//! 503 when the database or, when configured, Redis fails, since no request can be served without
//! them; storage and mail are reported there but do not decide readiness (posts and sign-ins still
//! work while they are away). `GET /api/v1/admin/health` adds the outbox depth and the storage
//! driver, and answers 200 whatever is down: the body is the answer.
//!
//! Every check runs at once, each bounded by [`CHECK_TIMEOUT`]. The report names parts and numbers
//! only: never a URL, an address or an error text that could carry a credential.

use std::future::Future;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::extract::AuthUser;
use crate::auth::policy::{Action, authorize};
use crate::error::{Problem, ProblemMarker, Result};
use crate::media::storage::StoredImage;
use crate::state::AppState;
use crate::store;

/// How long any one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// A base key no upload is ever stored under (uploads use `p/<uuid>`), so looking it up asks the
/// storage service a question without touching anything.
const PROBE_KEY: &str = "p/readiness-probe";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(admin_health))
}

/// One part's state.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Check {
    /// Whether it answered within the time limit.
    pub ok: bool,
    /// How long it took to answer (or to be given up on).
    pub latency_ms: f64,
    /// Why it is not ok: `timed out` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'static str>,
}

/// Every part checked.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Checks {
    pub database: Check,
    /// Present only when `redis.url` is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis: Option<Check>,
    /// The configured media storage, asked about a key that never exists.
    pub storage: Check,
    /// The mail outbox (read from the database).
    pub mail: Check,
}

/// What `GET /readyz` answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Report {
    /// `ok`, or `unavailable` when the database or Redis failed.
    #[schema(example = "ok")]
    pub status: &'static str,
    pub checks: Checks,
}

/// Mail waiting in the outbox.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct OutboxDepth {
    /// Unsent messages.
    pub queued: i64,
    /// Unsent messages whose last attempt failed (they are retried with backoff).
    pub failing: i64,
}

/// What `GET /api/v1/admin/health` answers: the readiness report, the outbox and the storage driver.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AdminHealth {
    /// `ok`, or `unavailable` when the database or Redis failed.
    #[schema(example = "ok")]
    pub status: &'static str,
    pub checks: Checks,
    /// `null` when the outbox could not be read.
    pub outbox: Option<OutboxDepth>,
    /// `local`, `s3` or `imagekit`.
    #[schema(example = "local")]
    pub storage_driver: &'static str,
}

/// Runs every check at once.
pub async fn check(state: &AppState) -> (Report, Option<OutboxDepth>) {
    let redis = async {
        match &state.settings().redis.url {
            Some(_) => Some(timed(async { state.limiter().ready().await.then_some(()) }).await.0),
            None => None,
        }
    };
    let storage = timed(async {
        let probe = StoredImage {
            driver: state.media().name().to_owned(),
            base_key: PROBE_KEY.to_owned(),
            original_key: format!("{PROBE_KEY}/original.jpg"),
            display_key: format!("{PROBE_KEY}/display.jpg"),
            thumbnail_key: format!("{PROBE_KEY}/thumb.jpg"),
            display_webp_key: None,
            thumbnail_webp_key: None,
            provider: None,
        };
        // Whether the key exists does not matter; that the service answered does.
        state.media().exists(&probe).await.ok().map(drop)
    });
    let database = timed(async { state.db().ping().await.then_some(()) });
    let mail = timed(async { store::outbox::depth(state.db()).await.ok() });
    let (database, redis, storage, (mail, outbox)) = tokio::join!(database, redis, storage, mail);
    let ready = database.0.ok && redis.as_ref().is_none_or(|r| r.ok);
    let report = Report {
        status: if ready { "ok" } else { "unavailable" },
        checks: Checks {
            database: database.0,
            redis,
            storage: storage.0,
            mail,
        },
    };
    (report, outbox.map(|(queued, failing)| OutboxDepth { queued, failing }))
}

/// Runs `work` under [`CHECK_TIMEOUT`]; `None` from it is a failure.
async fn timed<T>(work: impl Future<Output = Option<T>>) -> (Check, Option<T>) {
    let started = Instant::now();
    let outcome = tokio::time::timeout(CHECK_TIMEOUT, work).await;
    // Tenths of a millisecond: enough to compare, without pretending to more precision.
    let latency_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    let (error, value) = match outcome {
        Ok(Some(value)) => (None, Some(value)),
        Ok(None) => (Some("failed"), None),
        Err(_) => (Some("timed out"), None),
    };
    let check = Check {
        ok: error.is_none(),
        latency_ms,
        error,
    };
    (check, value)
}

/// Readiness: 200 while the database (and Redis, when configured) answers, else 503, with the report.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let (report, _) = check(&state).await;
    if report.status == "ok" {
        return Json(report).into_response();
    }
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, Json(report)).into_response();
    res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1u64));
    // The report is this answer's body; the edge must not replace it with a generic problem.
    res.extensions_mut().insert(ProblemMarker);
    res
}

/// The health of every part Rampart depends on, for an operator: the readiness report (database,
/// Redis when configured, storage, mail), the outbox depth and the storage driver. Always 200 for an
/// admin; `status` and each check's `ok` say what is down. (Signing in needs the database, so while it
/// is down this answers 503 like every authenticated route; `/readyz` still reports.)
#[utoipa::path(get, path = "/api/v1/admin/health", tag = "admin", security(("bearer" = [])),
    responses(
        (status = 200, body = AdminHealth),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(level = "debug", skip_all, fields(user_id = %actor.user_id))]
async fn admin_health(State(state): State<AppState>, actor: AuthUser) -> Result<Json<AdminHealth>> {
    authorize(&state, &actor, Action::ReadHealth)?;
    let (report, outbox) = check(&state).await;
    Ok(Json(AdminHealth {
        status: report.status,
        checks: report.checks,
        outbox,
        storage_driver: state.media().name(),
    }))
}
