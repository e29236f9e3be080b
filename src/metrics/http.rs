//! Request metrics, recorded by the `edge` middleware: counts and latency by route template (axum's
//! `MatchedPath`, never the raw path, so no id or username becomes a label), method and status class,
//! and the requests in flight.
//!
//! The series of a route are registered the first time it answers with a method and status class and
//! kept in a table by template; afterwards a request costs a read lock, a hash of the template, two
//! atomic adds for the gauge, one for the counter and a push into the histogram's bucket.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram, Label};
use metrics_exporter_prometheus::PrometheusRecorder;

pub const REQUESTS: &str = "rampart_http_requests_total";
pub const DURATION: &str = "rampart_http_request_duration_seconds";
pub const IN_FLIGHT: &str = "rampart_http_requests_in_flight";

/// The route label of a request no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Methods with a label of their own; anything else counts as `OTHER`.
const METHODS: [&str; 8] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER"];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

pub struct HttpMetrics {
    recorder: Arc<PrometheusRecorder>,
    in_flight: Gauge,
    routes: RwLock<HashMap<Box<str>, Arc<RouteSeries>>>,
}

/// One route's series, registered on first use.
struct RouteSeries {
    route: Box<str>,
    by: [[OnceLock<(Counter, Histogram)>; CLASSES.len()]; METHODS.len()],
}

/// A request being measured; leaving the in-flight gauge when dropped, answered or cancelled.
pub struct Observation<'a> {
    metrics: &'a HttpMetrics,
    route: Arc<RouteSeries>,
    method: usize,
    started: Instant,
}

impl HttpMetrics {
    pub(super) fn new(recorder: Arc<PrometheusRecorder>) -> HttpMetrics {
        HttpMetrics {
            in_flight: super::gauge(&recorder, IN_FLIGHT, Vec::new()),
            recorder,
            routes: RwLock::new(HashMap::new()),
        }
    }

    /// Starts measuring `req`, which must already be routed (the layer sits on the router's routes).
    pub fn start(&self, req: &Request) -> Observation<'_> {
        let template = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or(UNMATCHED);
        self.in_flight.increment(1.0);
        Observation {
            metrics: self,
            route: self.route(template),
            method: method_index(req.method()),
            started: Instant::now(),
        }
    }

    fn route(&self, template: &str) -> Arc<RouteSeries> {
        if let Some(found) = self.routes.read().unwrap_or_else(|e| e.into_inner()).get(template) {
            return found.clone();
        }
        let mut routes = self.routes.write().unwrap_or_else(|e| e.into_inner());
        routes
            .entry(template.into())
            .or_insert_with(|| {
                Arc::new(RouteSeries {
                    route: template.into(),
                    by: Default::default(),
                })
            })
            .clone()
    }
}

impl Observation<'_> {
    /// Records the answer's status and the time taken.
    pub fn finish(self, status: StatusCode) {
        let class = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        let (count, duration) = self.route.by[self.method][class].get_or_init(|| {
            let labels = || {
                vec![
                    Label::new("route", self.route.route.to_string()),
                    Label::new("method", METHODS[self.method]),
                    Label::new("status", CLASSES[class]),
                ]
            };
            (
                super::counter(&self.metrics.recorder, REQUESTS, labels()),
                super::histogram(&self.metrics.recorder, DURATION, labels()),
            )
        });
        count.increment(1);
        duration.record(self.started.elapsed().as_secs_f64());
    }
}

impl Drop for Observation<'_> {
    fn drop(&mut self) {
        self.metrics.in_flight.decrement(1.0);
    }
}

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::PATCH => 4,
        Method::DELETE => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}
