//! Logging and tracing: JSON lines in production, readable lines in development, and, when
//! `telemetry.otlp_endpoint` names a collector, every request's span exported over OTLP/HTTP.
//!
//! The log level (`log.level`, or `RUST_LOG`) filters the log lines only. Exported spans have a filter
//! of their own (Rampart's spans at `info`: one per request, with its events), so a server logging at
//! `warn` still exports its traces.

use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{Settings, TelemetrySettings};

/// Whether spans are being exported, so the edge names its span for the trace view (`otel.name`)
/// only when someone will read that name.
static EXPORTING: AtomicBool = AtomicBool::new(false);

pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// What `init` set up; `shutdown` sends the spans still buffered.
#[must_use = "dropping it without `shutdown` loses the spans not yet exported"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports what is buffered and stops the exporter (waits up to the export timeout).
    pub async fn shutdown(self) {
        if let Some(provider) = self.provider {
            EXPORTING.store(false, Ordering::Relaxed);
            // The SDK's shutdown blocks until its export thread is done.
            let _ = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        }
    }
}

/// Log lines only, for the one-shot commands (`migrate`, `backup` …), which have no traces to export.
pub fn init_logs(settings: &Settings) {
    let _ = install(settings, None, BoxMakeWriter::new(std::io::stdout));
}

/// JSON log lines, as production writes them, at `level` into `writer`: the test suite keeps a whole
/// run's lines this way and then scans them for secrets (`tests/api/log_scan.rs`).
pub fn init_json_logs_to(level: &str, writer: BoxMakeWriter) {
    let mut settings = Settings::default();
    settings.log.level = level.to_owned();
    settings.log.format = Some(crate::config::LogFormat::Json);
    let _ = install(&settings, None, writer);
}

/// Log lines and, when configured, span export. Installs the global subscriber once; later calls
/// install nothing (tests build many apps) and export nothing. Fails only when the OTLP exporter
/// cannot be built from the settings.
pub fn init(settings: &Settings) -> anyhow::Result<Telemetry> {
    let provider = match settings.telemetry.traces_url() {
        Some(url) => Some(tracer_provider(&settings.telemetry, url)?),
        None => None,
    };
    Ok(install(settings, provider, BoxMakeWriter::new(std::io::stdout)))
}

fn install(settings: &Settings, provider: Option<SdkTracerProvider>, writer: BoxMakeWriter) -> Telemetry {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let lines = if settings.log.json(settings.env) {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .json()
            .flatten_event(true)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_target(false)
            .boxed()
    };
    let spans = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("rampart"))
            .with_threads(false)
            .with_filter(Targets::new().with_target("rampart", LevelFilter::INFO))
    });
    let installed = tracing_subscriber::registry()
        .with(lines.with_filter(filter))
        .with(spans)
        .try_init()
        .is_ok();
    match provider {
        Some(provider) if installed => {
            EXPORTING.store(true, Ordering::Relaxed);
            Telemetry {
                provider: Some(provider),
            }
        }
        Some(provider) => {
            let _ = std::thread::spawn(move || provider.shutdown()).join();
            Telemetry { provider: None }
        }
        None => Telemetry { provider: None },
    }
}

fn tracer_provider(settings: &TelemetrySettings, url: String) -> anyhow::Result<SdkTracerProvider> {
    // The blocking client starts a runtime of its own, which tokio refuses inside its own; build it
    // on a plain thread.
    let exporter = std::thread::scope(|s| {
        s.spawn(|| {
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(url)
                .build()
        })
        .join()
    })
    .map_err(|_| anyhow::anyhow!("building the OTLP exporter panicked"))?
    .context("building the OTLP exporter (telemetry.otlp_endpoint)")?;
    let sampler = if settings.sample_ratio >= 1.0 {
        Sampler::AlwaysOn
    } else {
        Sampler::TraceIdRatioBased(settings.sample_ratio)
    };
    let resource = Resource::builder()
        .with_service_name(settings.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(sampler)
        .with_resource(resource)
        .build())
}
