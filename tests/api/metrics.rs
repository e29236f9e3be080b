//! `GET /metrics`: what a Prometheus scrape reads, parsed strictly, and who may read it.

use std::collections::{BTreeMap, HashMap};

use rampart::config::{MetricsBind, Rate};
use reqwest::StatusCode;
use serde_json::json;

use crate::fixtures;
use crate::helpers::{TestApp, spawn_app_with};

const TOKEN: &str = "a-metrics-token-long-enough-for-production";

/// One sample line.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// A parsed exposition: the declared type and help of each family, and every sample.
#[derive(Debug, Default)]
pub struct Exposition {
    types: HashMap<String, String>,
    help: HashMap<String, String>,
    samples: Vec<Sample>,
}

fn is_name(s: &str, colon: bool) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || (colon && c == ':'))
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':'))
}

fn parse_value(text: &str) -> f64 {
    match text {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        "NaN" => f64::NAN,
        _ => text.parse().unwrap_or_else(|_| panic!("bad value {text:?}")),
    }
}

/// `{a="x",b="y"}` → labels; the rest of the line after the closing brace.
fn parse_labels(text: &str) -> (BTreeMap<String, String>, &str) {
    let mut labels = BTreeMap::new();
    let mut rest = text.strip_prefix('{').expect("labels open with {");
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after);
        }
        let (name, after) = rest.split_once("=\"").expect("label=\"value\"");
        assert!(is_name(name, false), "bad label name {name:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("label value closes") {
                (_, '\\') => match chars.next().expect("escape") {
                    (_, 'n') => value.push('\n'),
                    (_, c @ ('\\' | '"')) => value.push(c),
                    (_, c) => panic!("bad escape \\{c}"),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        assert!(labels.insert(name.to_owned(), value).is_none(), "label {name} twice");
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Parses the text format strictly: every sample belongs to a family whose `# TYPE` came first, and
/// every histogram's buckets are cumulative and end in `+Inf` equal to `_count`.
fn parse(text: &str) -> Exposition {
    let mut out = Exposition::default();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# ") {
            let (keyword, rest) = rest.split_once(' ').expect("# KEYWORD name …");
            let (name, value) = rest.split_once(' ').expect("# KEYWORD name value");
            assert!(is_name(name, true), "bad family name {name:?}");
            let table = match keyword {
                "TYPE" => {
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&value),
                        "type {value}"
                    );
                    assert!(
                        !out.samples.iter().any(|s| family_of(&s.name, &out.types) == name),
                        "TYPE of {name} after its samples"
                    );
                    &mut out.types
                }
                "HELP" => &mut out.help,
                other => panic!("unknown comment keyword {other}"),
            };
            assert!(
                table.insert(name.to_owned(), value.to_owned()).is_none(),
                "{keyword} {name} twice"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "bad comment {line:?}");
        let split = line.find(['{', ' ']).expect("name then labels or value");
        let name = &line[..split];
        assert!(is_name(name, true), "bad metric name {name:?}");
        let (labels, rest) = if line[split..].starts_with('{') {
            parse_labels(&line[split..])
        } else {
            (BTreeMap::new(), &line[split..])
        };
        let value = rest.strip_prefix(' ').expect("a space before the value");
        assert!(!value.contains(' '), "timestamps are not expected: {line:?}");
        let family = family_of(name, &out.types);
        assert!(out.types.contains_key(family), "{name} has no # TYPE");
        out.samples.push(Sample {
            name: name.to_owned(),
            labels,
            value: parse_value(value),
        });
    }
    check_histograms(&out);
    out
}

/// The family a sample belongs to: histogram samples carry a suffix.
fn family_of<'a>(name: &'a str, types: &HashMap<String, String>) -> &'a str {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && types.get(base).is_some_and(|t| t == "histogram")
        {
            return base;
        }
    }
    name
}

fn check_histograms(exp: &Exposition) {
    for (family, kind) in &exp.types {
        if kind != "histogram" {
            continue;
        }
        // Buckets per label set without `le`.
        let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        for s in exp.samples.iter().filter(|s| s.name == format!("{family}_bucket")) {
            let mut labels = s.labels.clone();
            let le = parse_value(&labels.remove("le").expect("a bucket has le"));
            series.entry(format!("{labels:?}")).or_default().push((le, s.value));
        }
        assert!(!series.is_empty() || !exp.samples.iter().any(|s| s.name.starts_with(family.as_str())));
        for (labels, buckets) in series {
            assert!(
                buckets.windows(2).all(|w| w[0].0 < w[1].0),
                "{family}{labels}: le out of order"
            );
            assert!(
                buckets.windows(2).all(|w| w[0].1 <= w[1].1),
                "{family}{labels}: buckets not cumulative"
            );
            let (last_le, last) = *buckets.last().unwrap();
            assert_eq!(last_le, f64::INFINITY, "{family}{labels}: no +Inf bucket");
            let count = exp
                .samples
                .iter()
                .find(|s| s.name == format!("{family}_count") && format!("{:?}", s.labels) == labels)
                .unwrap_or_else(|| panic!("{family}{labels}: no _count"));
            assert_eq!(last, count.value, "{family}{labels}: +Inf differs from _count");
            assert!(
                exp.samples
                    .iter()
                    .any(|s| s.name == format!("{family}_sum") && format!("{:?}", s.labels) == labels),
                "{family}{labels}: no _sum"
            );
        }
    }
}

impl Exposition {
    /// The value of the sample `name` with exactly `labels`.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.samples
            .iter()
            .find(|s| s.name == name && s.labels == want)
            .map(|s| s.value)
    }

    /// The sum of every sample `name` whose labels include `labels`.
    pub fn total(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v)))
            .map(|s| s.value)
            .sum()
    }
}

/// Scrapes the app's metrics listener and parses the answer strictly.
pub async fn scrape(app: &TestApp) -> Exposition {
    let port = app.metrics_port.expect("a metrics listener");
    let res = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    parse(&res.text().await.unwrap())
}

fn request(route: &str, method: &str, status: &str) -> [(&'static str, String); 3] {
    [
        ("route", route.to_owned()),
        ("method", method.to_owned()),
        ("status", status.to_owned()),
    ]
}

fn requests(exp: &Exposition, route: &str, method: &str, status: &str) -> f64 {
    let labels = request(route, method, status);
    let labels: Vec<(&str, &str)> = labels.iter().map(|(k, v)| (*k, v.as_str())).collect();
    exp.value("rampart_http_requests_total", &labels).unwrap_or(0.0)
}

#[tokio::test]
async fn a_fresh_server_exposes_metrics_that_a_prometheus_scrape_can_read() {
    let app = spawn_app_with(|s| {
        s.limits.login_per_ip = Rate {
            burst: 1,
            per_secs: 900,
        }
    })
    .await;
    let user = app.new_user().await;
    let missing = uuid::Uuid::now_v7().to_string();

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get_post(&missing).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/no/such/path").await.status(), StatusCode::NOT_FOUND);
    let image = fixtures::jpeg(120, 80);
    let image_len = image.len();
    let created = app.upload(&user.access, image, "metered").await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let post_id = created.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.me(&user.access).await.status(), StatusCode::OK);
    let login = json!({ "login": user.username, "password": "wrong password here" });
    assert_eq!(app.login_with(&login).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(app.login_with(&login).await.status(), StatusCode::TOO_MANY_REQUESTS);

    let exp = scrape(&app).await;

    // Requests by route template, method and status class.
    assert_eq!(requests(&exp, "/healthz", "GET", "2xx"), 1.0);
    assert_eq!(requests(&exp, "/api/v1/posts/{id}", "GET", "4xx"), 1.0);
    assert_eq!(requests(&exp, "unmatched", "GET", "4xx"), 1.0);
    assert_eq!(requests(&exp, "/api/v1/posts", "POST", "2xx"), 1.0);
    assert_eq!(requests(&exp, "/api/v1/auth/login", "POST", "4xx"), 2.0);
    let latency = request("/api/v1/posts", "POST", "2xx");
    let latency: Vec<(&str, &str)> = latency.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        exp.value("rampart_http_request_duration_seconds_count", &latency),
        Some(1.0)
    );
    assert!(
        exp.value("rampart_http_request_duration_seconds_sum", &latency)
            .unwrap()
            > 0.0
    );
    assert_eq!(exp.value("rampart_http_requests_in_flight", &[]), Some(0.0));
    assert_eq!(exp.types["rampart_http_request_duration_seconds"], "histogram");
    assert!(exp.help.contains_key("rampart_http_requests_total"));

    // The rest of the list.
    assert_eq!(
        exp.value("rampart_rate_limit_refusals_total", &[("limit", "login_ip")]),
        Some(1.0)
    );
    assert_eq!(exp.value("rampart_upload_bytes_count", &[]), Some(1.0));
    assert_eq!(exp.value("rampart_upload_bytes_sum", &[]), Some(image_len as f64));
    assert_eq!(exp.value("rampart_image_pipeline_seconds_count", &[]), Some(1.0));
    assert!(
        exp.value("rampart_db_query_duration_seconds_count", &[("op", "read")])
            .unwrap()
            >= 3.0
    );
    assert!(
        exp.value("rampart_db_query_duration_seconds_count", &[("op", "write")])
            .unwrap()
            >= 1.0
    );
    assert!(
        exp.value("rampart_db_query_duration_seconds_count", &[("op", "commit")])
            .unwrap()
            >= 1.0
    );
    assert!(exp.total("rampart_db_connections", &[("state", "idle")]) >= 1.0);
    assert!(exp.total("rampart_db_max_connections", &[]) >= 1.0);
    // The upload verified the token, `GET /me` found it verified.
    assert_eq!(
        exp.value("rampart_token_cache_lookups_total", &[("result", "miss")]),
        Some(1.0)
    );
    assert_eq!(
        exp.value("rampart_token_cache_lookups_total", &[("result", "hit")]),
        Some(1.0)
    );
    assert_eq!(
        exp.value("rampart_storage_errors_total", &[]),
        None,
        "no storage error yet"
    );
    assert_eq!(exp.total("rampart_build_info", &[]), 1.0);

    // No label carries an id, a username or a raw path.
    for sample in &exp.samples {
        for value in sample.labels.values() {
            for private in [&missing, &post_id, &user.id, &user.username] {
                assert!(!value.contains(private.as_str()), "{sample:?} names {private}");
            }
            assert!(!value.contains("/no/such"), "{sample:?} carries a raw path");
        }
    }
}

#[tokio::test]
async fn the_outbox_depth_and_deliveries_are_counted_by_the_sender() {
    let app = spawn_app_with(|_| {}).await;
    // Registering queues the verification mail.
    app.new_user().await;
    // The file transport delivers at once; wait for the sender's round to finish.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let exp = scrape(&app).await;
        if exp.value("rampart_mail_sent_total", &[]).unwrap_or(0.0) >= 1.0
            && exp.value("rampart_mail_outbox_depth", &[]) == Some(0.0)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            exp.samples
                .iter()
                .filter(|s| s.name.contains("mail"))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_public_port_does_not_serve_metrics_when_a_listener_of_their_own_does() {
    let app = spawn_app_with(|_| {}).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let port = app.metrics_port.unwrap();
    let other = reqwest::get(format!("http://127.0.0.1:{port}/healthz")).await.unwrap();
    assert_eq!(
        other.status(),
        StatusCode::NOT_FOUND,
        "the metrics listener serves nothing else"
    );
}

#[tokio::test]
async fn metrics_on_the_public_port_need_the_bearer_token() {
    let app = spawn_app_with(|s| {
        s.metrics.bind = MetricsBind::Public;
        s.metrics.token = Some(TOKEN.into());
    })
    .await;
    assert_eq!(app.metrics_port, None, "no listener of their own");
    assert_eq!(app.get("/metrics").await.status(), StatusCode::UNAUTHORIZED);
    for wrong in ["Bearer nope", "Bearer a-metrics-token", &format!("Basic {TOKEN}")] {
        let res = app
            .client
            .get(app.url("/metrics"))
            .header("authorization", wrong)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{wrong}");
    }
    let res = app.get_auth("/metrics", TOKEN).await;
    assert_eq!(res.status(), StatusCode::OK);
    let exp = parse(&res.text().await.unwrap());
    assert_eq!(
        requests(&exp, "/metrics", "GET", "4xx"),
        4.0,
        "the refused scrapes are counted"
    );
}

#[tokio::test]
async fn with_metrics_off_nothing_listens_and_the_public_port_has_no_metrics() {
    let app = spawn_app_with(|s| s.metrics.enabled = false).await;
    assert_eq!(app.metrics_port, None);
    assert!(app.state.metrics().is_none());
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
