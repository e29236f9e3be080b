//! `[telemetry]`: OpenTelemetry trace export over OTLP/HTTP, off unless a collector is named.
//!
//! Headers a hosted collector needs (an API key) are not settings: the exporter reads the standard
//! `OTEL_EXPORTER_OTLP_HEADERS` variable itself, so the secret never passes through this file or
//! `rampart config check`.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    /// Base URL of an OTLP/HTTP collector, e.g. `http://otel-collector:4318`; spans are posted as
    /// protobuf to `<otlp_endpoint>/v1/traces`. Unset (the default): nothing is exported.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of every exported span.
    pub service_name: String,
    /// Fraction of requests traced, from 0.0 to 1.0.
    pub sample_ratio: f64,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            otlp_endpoint: None,
            service_name: "rampart".to_owned(),
            sample_ratio: 1.0,
        }
    }
}

impl TelemetrySettings {
    /// The URL spans are posted to, when export is on.
    pub fn traces_url(&self) -> Option<String> {
        let base = self.otlp_endpoint.as_deref()?.trim_end_matches('/');
        Some(if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        })
    }

    pub(super) fn check(&self, problems: &mut Vec<String>) {
        if let Some(endpoint) = &self.otlp_endpoint
            && !(endpoint.starts_with("http://") || endpoint.starts_with("https://"))
        {
            problems.push(format!(
                "telemetry.otlp_endpoint {endpoint:?} must be an http:// or https:// URL (OTLP/HTTP)"
            ));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            problems.push("telemetry.sample_ratio must be between 0.0 and 1.0".to_owned());
        }
        if self.service_name.trim().is_empty() {
            problems.push("telemetry.service_name may not be empty".to_owned());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_added_once_and_bad_values_are_refused() {
        let mut t = TelemetrySettings::default();
        assert_eq!(t.traces_url(), None);
        t.otlp_endpoint = Some("http://collector:4318/".into());
        assert_eq!(t.traces_url().as_deref(), Some("http://collector:4318/v1/traces"));
        t.otlp_endpoint = Some("http://collector:4318/v1/traces".into());
        assert_eq!(t.traces_url().as_deref(), Some("http://collector:4318/v1/traces"));
        let mut problems = Vec::new();
        t.check(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        t.otlp_endpoint = Some("collector:4317".into());
        t.sample_ratio = 1.5;
        t.check(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
