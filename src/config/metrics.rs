//! `[metrics]`: the Prometheus endpoint. On by default, on a listener of its own on loopback, so the
//! public port never shows it; served on the public port only behind a bearer token.

use std::fmt;
use std::net::SocketAddr;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::{Environment, secret};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Record metrics and serve `GET /metrics`. Off: nothing is recorded and nothing listens.
    pub enabled: bool,
    /// `host:port` of a listener serving only `/metrics` (port 0 picks one), or `"public"` to serve
    /// `/metrics` on the public port, which needs `metrics.token`.
    pub bind: MetricsBind,
    /// Bearer token a scraper must send (`Authorization: Bearer …`). Required with `bind = "public"`,
    /// and in production for a listener that is not on loopback; when set, every scrape needs it.
    #[serde(serialize_with = "secret::masked")]
    pub token: Option<SecretString>,
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum MetricsBind {
    /// A listener of its own.
    Address(SocketAddr),
    /// The public port, beside the API.
    Public,
}

impl TryFrom<String> for MetricsBind {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        if text.eq_ignore_ascii_case("public") {
            return Ok(MetricsBind::Public);
        }
        text.parse()
            .map(MetricsBind::Address)
            .map_err(|_| format!("metrics.bind must be host:port or \"public\", not {text:?}"))
    }
}

impl From<MetricsBind> for String {
    fn from(bind: MetricsBind) -> String {
        bind.to_string()
    }
}

impl fmt::Display for MetricsBind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsBind::Address(addr) => write!(f, "{addr}"),
            MetricsBind::Public => f.write_str("public"),
        }
    }
}

/// Shortest token accepted in production.
const MIN_TOKEN_CHARS: usize = 32;

impl MetricsSettings {
    /// The token, when one is set and not blank.
    pub fn token(&self) -> Option<&str> {
        secret::non_empty(&self.token)
    }

    pub(super) fn check(&self, env: Environment, problems: &mut Vec<String>) {
        if !self.enabled {
            return;
        }
        let token = self.token();
        match self.bind {
            MetricsBind::Public if token.is_none() => {
                problems.push("metrics.bind = \"public\" needs metrics.token".to_owned());
            }
            MetricsBind::Address(addr)
                if env == Environment::Production && !addr.ip().is_loopback() && token.is_none() =>
            {
                problems.push(format!(
                    "metrics.bind {addr} is not loopback: set metrics.token, or bind 127.0.0.1"
                ));
            }
            _ => {}
        }
        if env == Environment::Production
            && let Some(token) = token
            && token.chars().count() < MIN_TOKEN_CHARS
        {
            problems.push(format!(
                "metrics.token must have at least {MIN_TOKEN_CHARS} characters in production"
            ));
        }
    }
}

impl Default for MetricsSettings {
    fn default() -> Self {
        MetricsSettings {
            enabled: true,
            bind: MetricsBind::Address(SocketAddr::from(([127, 0, 0, 1], 9464))),
            token: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(settings: &MetricsSettings, env: Environment) -> Vec<String> {
        let mut out = Vec::new();
        settings.check(env, &mut out);
        out
    }

    #[test]
    fn the_default_is_a_loopback_listener_without_a_token() {
        let s = MetricsSettings::default();
        assert_eq!(s.bind.to_string(), "127.0.0.1:9464");
        assert!(problems(&s, Environment::Production).is_empty());
    }

    #[test]
    fn the_public_port_needs_a_token_everywhere() {
        let mut s = MetricsSettings {
            bind: MetricsBind::Public,
            ..MetricsSettings::default()
        };
        for env in [Environment::Development, Environment::Production] {
            assert_eq!(problems(&s, env).len(), 1, "{env:?}");
        }
        s.token = Some("t".repeat(MIN_TOKEN_CHARS).into());
        assert!(problems(&s, Environment::Production).is_empty());
        s.token = Some("   ".into());
        assert!(
            !problems(&s, Environment::Development).is_empty(),
            "a blank token is no token"
        );
    }

    #[test]
    fn an_open_listener_needs_a_long_token_in_production_only() {
        let mut s = MetricsSettings {
            bind: MetricsBind::Address("0.0.0.0:9464".parse().unwrap()),
            ..MetricsSettings::default()
        };
        assert!(problems(&s, Environment::Development).is_empty());
        assert!(problems(&s, Environment::Production)[0].contains("not loopback"));
        s.token = Some("short".into());
        assert!(problems(&s, Environment::Production)[0].contains("at least"));
        s.enabled = false;
        assert!(problems(&s, Environment::Production).is_empty(), "off checks nothing");
    }

    #[test]
    fn bind_reads_an_address_or_public() {
        assert_eq!(MetricsBind::try_from("PUBLIC".to_owned()).unwrap(), MetricsBind::Public);
        assert_eq!(
            MetricsBind::try_from("[::1]:0".to_owned()).unwrap().to_string(),
            "[::1]:0"
        );
        assert!(MetricsBind::try_from("localhost".to_owned()).is_err());
    }
}
