//! `[log]` and `[http]`: how the server logs and what it accepts on the wire.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::Environment;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// `tracing` filter directive, e.g. `info` or `rampart=debug`.
    pub level: String,
    /// Unset picks JSON in production and readable lines in development.
    pub format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

impl LogSettings {
    /// Whether log lines are JSON in `env`.
    pub fn json(&self, env: Environment) -> bool {
        match self.format {
            Some(format) => format == LogFormat::Json,
            None => env == Environment::Production,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            level: "info".into(),
            format: None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Whole-request deadline.
    pub request_timeout_secs: u64,
    /// Time a client has to send its request headers.
    pub header_read_timeout_secs: u64,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace_secs: u64,
    /// Largest body any route accepts.
    pub body_limit_bytes: usize,
    /// Largest body a JSON route accepts.
    pub json_limit_bytes: usize,
    /// Exact origins allowed by CORS (`https://app.example.com`). Empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Whether CORS responses allow credentials (cookies).
    pub cors_allow_credentials: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

impl HttpSettings {
    pub(super) fn check(&self, env: Environment, problems: &mut Vec<String>) {
        for origin in &self.cors_origins {
            if origin == "*" && self.cors_allow_credentials {
                problems
                    .push("http.cors_origins may not contain `*` while http.cors_allow_credentials is true".to_owned());
            } else if origin == "null" {
                problems.push("http.cors_origins may not contain `null`".to_owned());
            } else if origin != "*" && !is_exact_origin(origin) {
                problems.push(format!(
                    "http.cors_origins entry {origin:?} is not an exact origin like https://app.example.com"
                ));
            }
        }
        if self.json_limit_bytes > self.body_limit_bytes {
            problems.push("http.json_limit_bytes may not exceed http.body_limit_bytes".to_owned());
        }
        if env == Environment::Production && self.cors_origins.iter().any(|o| o == "*") {
            problems.push("http.cors_origins may not contain `*` in production".to_owned());
        }
    }
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            shutdown_grace_secs: 20,
            body_limit_bytes: 12 * 1024 * 1024,
            json_limit_bytes: 64 * 1024,
            cors_origins: Vec::new(),
            cors_allow_credentials: false,
            trusted_proxies: Vec::new(),
        }
    }
}

fn is_exact_origin(origin: &str) -> bool {
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    matches!(rest, Some(host) if !host.is_empty() && !host.contains('/') && !host.contains('*'))
}
