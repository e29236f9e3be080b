//! Typed, layered configuration: built-in defaults, then an optional `rampart.toml`, then `RAMPART_*`
//! environment variables (`RAMPART_SECTION__KEY` for nested keys). Invalid or unsafe values fail start-up.
//!
//! One file per section, each with its defaults and its checks beside it. Choices such as the storage
//! driver or the mail transport load into enums carrying their own settings, so a name is matched once,
//! at load time; secrets are `SecretString`s, which print redacted.

mod auth;
mod backup;
mod mail;
mod metrics;
mod posts;
mod secret;
mod server;
mod storage;
mod store;
mod telemetry;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

pub use auth::{Argon2Settings, AuthSettings, LimitSettings, MAX_REFRESH_REUSE_GRACE_SECS, Rate};
pub use backup::BackupSettings;
pub use mail::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};
pub use metrics::{MetricsBind, MetricsSettings};
pub use posts::{MULTIPART_FRAMING_BYTES, PostSettings};
pub use secret::{non_empty, redact_url};
pub use server::{HttpSettings, LogFormat, LogSettings};
pub use storage::{ImageKitSettings, LocalSettings, S3Settings, StorageDriver, StorageSettings};
pub use store::{DatabaseSettings, RedisSettings};
pub use telemetry::TelemetrySettings;

/// Where Rampart runs: production refuses unsafe settings and logs JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    Development,
    Production,
}

/// All settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `development` (default) or `production`.
    pub env: Environment,
    /// Address to listen on.
    pub bind: SocketAddr,
    /// Folder for the SQLite file, media and generated keys.
    pub data_dir: PathBuf,
    /// The externally visible origin, used for links in mail and as the passkeys' relying party; never
    /// taken from request headers. Required (https) in production. Unset in development: the address
    /// the server actually bound (see [`Settings::follow_bound_address`]).
    pub public_origin: Option<String>,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub redis: RedisSettings,
    pub storage: StorageSettings,
    pub posts: PostSettings,
    pub mail: MailSettings,
    pub backup: BackupSettings,
    pub metrics: MetricsSettings,
    pub telemetry: TelemetrySettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            public_origin: None,
            log: LogSettings::default(),
            database: DatabaseSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            redis: RedisSettings::default(),
            storage: StorageSettings::default(),
            posts: PostSettings::default(),
            mail: MailSettings::default(),
            backup: BackupSettings::default(),
            metrics: MetricsSettings::default(),
            telemetry: TelemetrySettings::default(),
        }
    }
}

/// The default for settings that size themselves to the machine.
fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

impl Settings {
    /// Loads defaults → `config_file` (if it exists) → environment, and validates the result.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Settings> {
        let settings = Settings::load_unvalidated(config_file)?;
        settings.validate()?;
        Ok(settings)
    }

    /// `load` without `validate`: for `rampart doctor`, which reports the problems with the rest.
    pub fn load_unvalidated(config_file: Option<&Path>) -> anyhow::Result<Settings> {
        let file = config_file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("rampart.toml"));
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if file.exists() {
            fig = fig.merge(Toml::file(&file));
        } else if config_file.is_some() {
            anyhow::bail!("configuration file {} does not exist", file.display());
        }
        let settings: Settings = fig
            .merge(Env::prefixed("RAMPART_").filter(is_setting).split("__"))
            .extract()
            .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
        Ok(settings)
    }

    /// The folder the local storage driver writes to.
    pub fn media_dir(&self) -> PathBuf {
        match &self.storage.driver {
            StorageDriver::Local(LocalSettings { dir: Some(dir), .. }) => dir.clone(),
            _ => self.data_dir.join("media"),
        }
    }

    /// The database URL, defaulting to a SQLite file in the data folder.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.expose_secret().to_owned(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("rampart.db").display()),
        }
    }

    /// The origin mailed links and the passkeys' relying party are built from: the configured one, or
    /// else the one of the configured `bind` (which `follow_bound_address` replaces with the bound one).
    pub fn public_origin(&self) -> std::borrow::Cow<'_, str> {
        match &self.public_origin {
            Some(origin) => origin.as_str().into(),
            None => origin_of(self.bind).into(),
        }
    }

    /// In development without a configured `public_origin`, takes the origin of the address the
    /// listener actually bound, so links in mail reach this server even on a port chosen by `--bind`,
    /// `RAMPART_BIND` or port 0. A configured origin is never replaced; production always has one.
    pub fn follow_bound_address(&mut self, bound: SocketAddr) {
        if self.env == Environment::Development && self.public_origin.is_none() {
            self.public_origin = Some(origin_of(bound));
        }
    }

    /// Refuses settings that are invalid anywhere, and settings that are unsafe in production.
    pub fn validate(&self) -> anyhow::Result<()> {
        let problems = self.problems();
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("refusing to start:\n  - {}", problems.join("\n  - "))
        }
    }

    /// Every reason `validate` refuses these settings, one sentence each (`rampart doctor` lists them).
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        self.auth.check(self.env, &mut problems);
        self.http.check(self.env, &mut problems);
        self.posts.check(&mut problems);
        self.mail.check(self.env, &mut problems);
        self.backup.check(&self.data_dir, &mut problems);
        self.metrics.check(self.env, &mut problems);
        self.telemetry.check(&mut problems);
        if self.posts.upload_body_limit() > self.http.body_limit_bytes {
            problems.push("http.body_limit_bytes must exceed posts.upload_limit_bytes by at least 64 KiB".to_owned());
        }
        if self.storage.timeout_ms == 0 || self.database.acquire_timeout_ms == 0 {
            problems.push("storage.timeout_ms and database.acquire_timeout_ms must be greater than 0".to_owned());
        }
        let https = self.public_origin.as_deref().is_some_and(|o| o.starts_with("https://"));
        if self.env == Environment::Production && !https {
            problems.push("public_origin must be https:// in production".to_owned());
        }
        problems
    }
}

/// `http://<ip>:<port>` of a listening address. An unspecified address (`0.0.0.0`, `::`) listens on
/// loopback too, which is the one address sure to reach it from this machine.
fn origin_of(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    // SocketAddr's Display writes IPv6 in brackets, as a URL needs.
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

/// Top-level keys that `RAMPART_*` variables may set. Other `RAMPART_*` variables (the test suite's
/// `RAMPART_TEST_*`, `RAMPART_CONFIG`) are not settings and are left alone.
const SECTIONS: [&str; 16] = [
    "env",
    "bind",
    "data_dir",
    "public_origin",
    "log",
    "database",
    "http",
    "auth",
    "limits",
    "redis",
    "storage",
    "posts",
    "mail",
    "backup",
    "metrics",
    "telemetry",
];

fn is_setting(key: &figment::value::UncasedStr) -> bool {
    let key = key.as_str().to_ascii_lowercase();
    let top = key.split("__").next().unwrap_or_default();
    SECTIONS.contains(&top)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_use_the_production_argon2_parameters() {
        let s = Settings::default();
        s.validate().unwrap();
        assert_eq!(
            (
                s.auth.argon2.memory_kib,
                s.auth.argon2.iterations,
                s.auth.argon2.parallelism
            ),
            (19456, 2, 1)
        );
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn a_cors_wildcard_with_credentials_is_refused() {
        let mut s = Settings::default();
        s.http.cors_origins = vec!["*".into()];
        s.http.cors_allow_credentials = true;
        assert!(s.validate().unwrap_err().to_string().contains("cors"));
    }

    #[test]
    fn an_upload_buffer_smaller_than_one_upload_is_refused() {
        let mut s = Settings::default();
        s.posts.upload_limit_bytes = 50 * 1024 * 1024;
        s.http.body_limit_bytes = 51 * 1024 * 1024;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("upload_buffer_bytes"), "{err}");
        s.posts.upload_buffer_bytes = 50 * 1024 * 1024 + 64 * 1024;
        s.validate().unwrap();
    }

    #[test]
    fn production_without_a_signing_key_is_refused() {
        let s = Settings {
            env: Environment::Production,
            public_origin: Some("https://example.com".into()),
            ..Settings::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("signing_key_file"), "{err}");
    }

    #[test]
    fn every_top_level_setting_can_be_set_from_the_environment() {
        let value = serde_json::to_value(Settings::default()).unwrap();
        for key in value.as_object().unwrap().keys() {
            assert!(SECTIONS.contains(&key.as_str()), "{key} missing from SECTIONS");
        }
    }

    #[test]
    fn the_example_configuration_file_is_valid_and_names_every_section() {
        let example = include_str!("../../deploy/rampart.toml.example");
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(example))
            .extract()
            .expect("deploy/rampart.toml.example parses");
        settings.validate().unwrap();
        let value = serde_json::to_value(Settings::default()).unwrap();
        for (key, v) in value.as_object().unwrap() {
            if v.is_object() {
                let named = example.contains(&format!("[{key}]")) || example.contains(&format!("[{key}."));
                assert!(named, "the example lacks [{key}]");
            }
        }
    }

    #[test]
    fn debug_output_masks_every_secret() {
        let mut s = Settings::default();
        s.storage.driver = StorageDriver::S3(S3Settings {
            secret_access_key: Some("s3-secret-value".into()),
            ..S3Settings::default()
        });
        s.mail.transport = MailTransport::Smtp(SmtpSettings {
            password: Some("smtp-secret-value".into()),
            ..SmtpSettings::default()
        });
        s.database.url = Some("postgres://app:db-secret-value@db/rampart".into());
        s.redis.url = Some("redis://:redis-secret-value@cache:6379".into());
        s.metrics.token = Some("metrics-secret-value".into());
        let mut other = Settings::default();
        other.storage.driver = StorageDriver::ImageKit(ImageKitSettings {
            private_key: Some("private_ik_value".into()),
            ..ImageKitSettings::default()
        });
        // Neither `Debug` nor serialisation (`rampart config check`) writes a secret out.
        let text = [&s, &other]
            .map(|s| format!("{s:?}\n{}", serde_json::to_string(s).unwrap()))
            .join("\n");
        for secret in [
            "s3-secret-value",
            "private_ik_value",
            "smtp-secret-value",
            "db-secret-value",
            "redis-secret-value",
            "metrics-secret-value",
        ] {
            assert!(!text.contains(secret), "{secret} leaked");
        }
    }

    #[test]
    fn origins_must_be_exact() {
        for bad in ["null", "https://*.example.com", "example.com", "https://a.com/path"] {
            let mut s = Settings::default();
            s.http.cors_origins = vec![bad.into()];
            assert!(s.validate().is_err(), "{bad} should be refused");
        }
    }

    fn from_toml(text: &str) -> Result<Settings, String> {
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_flat_file_shape_loads_into_drivers_that_carry_their_settings() {
        let s = from_toml(
            "[storage]\ndriver = \"s3\"\n[storage.s3]\nbucket = \"photos\"\nsecret_access_key = \"k\"\n\
             [mail]\ntransport = \"smtp\"\n[mail.smtp]\nhost = \"relay\"\nsecurity = \"tls\"\n\
             [log]\nformat = \"json\"",
        )
        .unwrap();
        let StorageDriver::S3(s3) = &s.storage.driver else {
            panic!("{:?}", s.storage.driver)
        };
        assert_eq!((s3.bucket.as_str(), s3.region.as_str()), ("photos", "us-east-1"));
        assert_eq!(non_empty(&s3.secret_access_key), Some("k"));
        let MailTransport::Smtp(smtp) = &s.mail.transport else {
            panic!("{:?}", s.mail.transport)
        };
        assert_eq!(
            (smtp.host.as_str(), smtp.security, smtp.port),
            ("relay", SmtpSecurity::Tls, 587)
        );
        assert!(s.log.json(Environment::Development));

        let local = from_toml("[storage]\nlocal_dir = \"/srv/media\"\nlocal_url_base = \"https://cdn\"").unwrap();
        assert_eq!(local.media_dir(), PathBuf::from("/srv/media"));
        assert_eq!(local.storage.driver_name(), "local");
        assert!(!Settings::default().log.json(Environment::Development));
        assert!(Settings::default().log.json(Environment::Production));
    }

    #[test]
    fn an_unknown_driver_transport_security_or_log_format_is_refused_at_load() {
        for (text, named) in [
            ("[storage]\ndriver = \"ftp\"", "ftp"),
            ("[mail]\ntransport = \"pigeon\"", "pigeon"),
            ("[mail.smtp]\nsecurity = \"ssl3\"", "ssl3"),
            ("[log]\nformat = \"xml\"", "xml"),
        ] {
            let err = from_toml(text).unwrap_err();
            assert!(err.contains(named), "{text}: {err}");
        }
    }

    #[test]
    fn plain_smtp_is_refused_in_production_only() {
        let mut s = Settings::default();
        s.mail.transport = MailTransport::Smtp(SmtpSettings {
            security: SmtpSecurity::None,
            ..SmtpSettings::default()
        });
        s.validate().unwrap();
        s.env = Environment::Production;
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("mail.smtp.security = none"), "{err}");
    }

    #[test]
    fn without_a_public_origin_development_follows_the_bound_address() {
        for (bound, origin) in [
            ("127.0.0.1:43121", "http://127.0.0.1:43121"),
            ("0.0.0.0:8081", "http://127.0.0.1:8081"),
            ("192.168.1.20:9000", "http://192.168.1.20:9000"),
            ("[::]:8082", "http://[::1]:8082"),
            ("[fe80::1]:8083", "http://[fe80::1]:8083"),
        ] {
            let mut s = Settings::default();
            assert_eq!(s.public_origin(), "http://127.0.0.1:8080", "from the configured bind");
            s.follow_bound_address(bound.parse().unwrap());
            assert_eq!(s.public_origin(), origin, "bound to {bound}");
        }
    }

    #[test]
    fn an_explicit_public_origin_is_never_replaced_by_the_bound_address() {
        for origin in ["http://localhost:8080", "https://photos.example.com"] {
            let mut s = Settings {
                public_origin: Some(origin.into()),
                ..Settings::default()
            };
            s.follow_bound_address("127.0.0.1:43999".parse().unwrap());
            assert_eq!(s.public_origin(), origin);
        }
        let from_file = from_toml("public_origin = \"http://localhost:9999\"").unwrap();
        assert_eq!(from_file.public_origin.as_deref(), Some("http://localhost:9999"));
        assert_eq!(from_toml("").unwrap().public_origin, None, "unset unless configured");
    }

    #[test]
    fn production_requires_an_https_public_origin_and_keeps_it() {
        let mut s = Settings {
            env: Environment::Production,
            ..Settings::default()
        };
        let err = s.validate().unwrap_err().to_string();
        assert!(err.contains("public_origin must be https://"), "{err}");
        s.public_origin = Some("https://photos.example.com".into());
        s.follow_bound_address("0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.public_origin(), "https://photos.example.com");
    }
}
