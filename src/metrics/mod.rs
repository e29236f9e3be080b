//! Prometheus metrics: one recorder per application (no process-wide recorder, so servers in one
//! process, as in the tests, keep their own numbers), the handles the hot paths record into, and the
//! gauges sampled when a scrape renders (`docs/DEPLOYMENT.md`, "Metrics", lists every series).
//!
//! Hot paths hold registered handles (an atomic add, or a push into the histogram's lock-free
//! bucket); rare events (a refusal, a storage error) register their labelled series when they happen.

pub mod db;
pub mod http;
pub mod serve;
pub mod storage;

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::state::AppState;

/// Seconds: HTTP requests, from half a millisecond to the 30 s request timeout.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Seconds: database statements, from 50 µs (a SQLite key lookup) to the 3 s acquire timeout.
const QUERY_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0,
];
/// Seconds: decoding and re-encoding one image.
const IMAGE_BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Bytes: upload bodies, 16 KiB to 64 MiB.
const BYTE_BUCKETS: &[f64] = &[
    16_384.0,
    65_536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
];

/// How often histogram samples are folded into their buckets between scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Every metric, with its help text and unit; the documentation table follows this list.
const DESCRIPTIONS: &[(&str, Kind, &str)] = &[
    (
        http::REQUESTS,
        Kind::Counter,
        "HTTP requests answered, by route template, method and status class.",
    ),
    (
        http::DURATION,
        Kind::Histogram,
        "Time to answer an HTTP request (until the response head), by route template, method and status class.",
    ),
    (http::IN_FLIGHT, Kind::Gauge, "HTTP requests being handled now."),
    (
        db::QUERY_DURATION,
        Kind::Histogram,
        "Database statements by operation (read, write, begin, commit), including the wait for a connection.",
    ),
    (
        db::QUERY_ERRORS,
        Kind::Counter,
        "Database statements that failed, by operation.",
    ),
    (
        db::CONNECTIONS,
        Kind::Gauge,
        "Database connections by state (idle, in_use) at scrape time.",
    ),
    (
        db::MAX_CONNECTIONS,
        Kind::Gauge,
        "Most database connections kept (SQLite: the writer and the idle readers kept).",
    ),
    (
        LIMIT_REFUSALS,
        Kind::Counter,
        "Requests refused by a rate limit, by limit.",
    ),
    (
        OUTBOX_DEPTH,
        Kind::Gauge,
        "Mail in the outbox not yet sent, as of the sender's last round.",
    ),
    (MAIL_SENT, Kind::Counter, "Mail delivered by this instance's sender."),
    (
        MAIL_FAILURES,
        Kind::Counter,
        "Failed mail deliveries, by whether the failure is permanent.",
    ),
    (UPLOAD_BYTES, Kind::Histogram, "Size of uploaded image bodies."),
    (
        IMAGE_SECONDS,
        Kind::Histogram,
        "Image pipeline time per upload (sniff, decode, re-encode, renditions, blurhash), without the wait for a permit.",
    ),
    (
        storage::ERRORS,
        Kind::Counter,
        "Failed storage operations, by driver, operation and kind.",
    ),
    (
        TOKEN_CACHE,
        Kind::Counter,
        "Access-token verifications by verified-token cache result (hit, miss).",
    ),
    (TOKEN_CACHE_SIZE, Kind::Gauge, "Tokens in the verified-token cache."),
    (
        BUILD_INFO,
        Kind::Gauge,
        "Always 1; the version label names the running release.",
    ),
];

pub const LIMIT_REFUSALS: &str = "rampart_rate_limit_refusals_total";
pub const OUTBOX_DEPTH: &str = "rampart_mail_outbox_depth";
pub const MAIL_SENT: &str = "rampart_mail_sent_total";
pub const MAIL_FAILURES: &str = "rampart_mail_send_failures_total";
pub const UPLOAD_BYTES: &str = "rampart_upload_bytes";
pub const IMAGE_SECONDS: &str = "rampart_image_pipeline_seconds";
pub const TOKEN_CACHE: &str = "rampart_token_cache_lookups_total";
pub const TOKEN_CACHE_SIZE: &str = "rampart_token_cache_entries";
pub const BUILD_INFO: &str = "rampart_build_info";

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// The recorder of one application and the handles recorded into.
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    pub(crate) http: Arc<http::HttpMetrics>,
    pub(crate) db: Arc<db::DbMetrics>,
    outbox_depth: Gauge,
    mail_sent: Counter,
    upload_bytes: Histogram,
    image_seconds: Histogram,
    token_hits: Counter,
    token_misses: Counter,
    token_entries: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

const METADATA: Metadata<'static> = Metadata::new("rampart", metrics::Level::INFO, None);

/// Registers a series on `recorder`.
fn counter(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Counter {
    recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
}

fn gauge(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Gauge {
    recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
}

fn histogram(recorder: &PrometheusRecorder, name: &'static str, labels: Vec<Label>) -> Histogram {
    recorder.register_histogram(&Key::from_parts(name, labels), &METADATA)
}

impl Metrics {
    /// A fresh recorder with every metric described and the fixed series registered.
    pub fn new() -> Arc<Metrics> {
        let buckets = |b: PrometheusBuilder, name: &str, values: &[f64]| {
            b.set_buckets_for_metric(Matcher::Full(name.to_owned()), values)
                .expect("bucket lists are not empty")
        };
        let mut builder = PrometheusBuilder::new();
        builder = buckets(builder, http::DURATION, REQUEST_BUCKETS);
        builder = buckets(builder, db::QUERY_DURATION, QUERY_BUCKETS);
        builder = buckets(builder, IMAGE_SECONDS, IMAGE_BUCKETS);
        builder = buckets(builder, UPLOAD_BYTES, BYTE_BUCKETS);
        let recorder = Arc::new(builder.build_recorder());
        for (name, kind, help) in DESCRIPTIONS {
            let unit = name.ends_with("_seconds").then_some(Unit::Seconds);
            let help = SharedString::const_str(help);
            match kind {
                Kind::Counter => recorder.describe_counter((*name).into(), unit, help),
                Kind::Gauge => recorder.describe_gauge((*name).into(), unit, help),
                Kind::Histogram => recorder.describe_histogram((*name).into(), unit, help),
            }
        }
        gauge(
            &recorder,
            BUILD_INFO,
            vec![Label::new("version", env!("CARGO_PKG_VERSION"))],
        )
        .set(1.0);
        let cache = |result: &'static str| counter(&recorder, TOKEN_CACHE, vec![Label::new("result", result)]);
        Arc::new(Metrics {
            handle: recorder.handle(),
            http: Arc::new(http::HttpMetrics::new(recorder.clone())),
            db: Arc::new(db::DbMetrics::new(&recorder)),
            outbox_depth: gauge(&recorder, OUTBOX_DEPTH, Vec::new()),
            mail_sent: counter(&recorder, MAIL_SENT, Vec::new()),
            upload_bytes: histogram(&recorder, UPLOAD_BYTES, Vec::new()),
            image_seconds: histogram(&recorder, IMAGE_SECONDS, Vec::new()),
            token_hits: cache("hit"),
            token_misses: cache("miss"),
            token_entries: gauge(&recorder, TOKEN_CACHE_SIZE, Vec::new()),
            recorder,
        })
    }

    /// The exposition text, after sampling the gauges that are read rather than recorded.
    pub fn render(&self, state: &AppState) -> String {
        let cache = state.keys().cache_stats();
        self.token_hits.absolute(cache.hits);
        self.token_misses.absolute(cache.misses);
        self.token_entries.set(cache.entries as f64);
        self.db.sample_pool(&self.recorder, state.db());
        self.handle.render()
    }

    /// Folds recorded histogram samples into buckets every few seconds, so that memory does not grow
    /// with the requests between two scrapes. Ends when the metrics are dropped.
    pub fn spawn_upkeep(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPKEEP_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(metrics) = weak.upgrade() else { return };
                metrics.handle.run_upkeep();
            }
        })
    }

    /// A request refused by the limit named `limit`.
    pub fn limit_refused(&self, limit: &'static str) {
        counter(&self.recorder, LIMIT_REFUSALS, vec![Label::new("limit", limit)]).increment(1);
    }

    /// The outbox's unsent rows, counted by the sender.
    pub fn outbox_depth(&self, depth: i64) {
        self.outbox_depth.set(depth as f64);
    }

    /// One delivery, `Ok` or failed (`permanent` or not).
    pub fn mail_delivered(&self, outcome: Result<(), bool>) {
        match outcome {
            Ok(()) => self.mail_sent.increment(1),
            Err(permanent) => {
                let label = if permanent { "true" } else { "false" };
                counter(&self.recorder, MAIL_FAILURES, vec![Label::new("permanent", label)]).increment(1);
            }
        }
    }

    /// The size of one uploaded image body.
    pub fn upload(&self, bytes: usize) {
        self.upload_bytes.record(bytes as f64);
    }

    /// The time one image spent in the pipeline.
    pub fn image_processed(&self, took: Duration) {
        self.image_seconds.record(took.as_secs_f64());
    }

    /// A failed storage operation.
    pub fn storage_error(&self, driver: &'static str, operation: &'static str, kind: &'static str) {
        let labels = vec![
            Label::new("driver", driver),
            Label::new("operation", operation),
            Label::new("kind", kind),
        ];
        counter(&self.recorder, storage::ERRORS, labels).increment(1);
    }
}
