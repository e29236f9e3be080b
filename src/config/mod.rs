//! Typed, layered configuration: built-in defaults, then an optional `rampart.toml`, then `RAMPART_*`
//! environment variables (`RAMPART_SECTION__KEY` for nested keys). Invalid or unsafe values fail start-up.
//!
//! One file per section, each with its defaults and its checks beside it. Choices such as the storage
//! driver or the mail transport load into enums carrying their own settings, so a name is matched once,
//! at load time; secrets are `SecretString`s, which print redacted.

mod auth;
mod mail;
mod metrics;
mod posts;
mod secret;
mod server;
mod storage;
mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

pub use auth::{Argon2Settings, AuthSettings, LimitSettings, Rate};
pub use mail::{MailSettings, MailTransport, SmtpSecurity, SmtpSettings};
pub use metrics::{MetricsBind, MetricsSettings};
pub use posts::{MULTIPART_FRAMING_BYTES, PostSettings};
pub use secret::{non_empty, redact_url};
pub use server::{HttpSettings, LogFormat, LogSettings};
pub use storage::{ImageKitSettings, LocalSettings, S3Settings, StorageDriver, StorageSettings};
pub use store::{DatabaseSettings, RedisSettings};

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
    /// The externally visible origin, used for links in mail; never taken from request headers.
    pub public_origin: String,
    pub log: LogSettings,
    pub database: DatabaseSettings,
    pub http: HttpSettings,
    pub auth: AuthSettings,
    pub limits: LimitSettings,
    pub redis: RedisSettings,
    pub storage: StorageSettings,
    pub posts: PostSettings,
    pub mail: MailSettings,
    pub metrics: MetricsSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            env: Environment::Development,
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("data"),
            public_origin: "http://127.0.0.1:8080".into(),
            log: LogSettings::default(),
            database: DatabaseSettings::default(),
            http: HttpSettings::default(),
            auth: AuthSettings::default(),
            limits: LimitSettings::default(),
            redis: RedisSettings::default(),
            storage: StorageSettings::default(),
            posts: PostSettings::default(),
            mail: MailSettings::default(),
            metrics: MetricsSettings::default(),
        }
    }
}

/// The default for settings that size themselves to the machine.
fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)
}

impl Settings {
    /// Loads defaults → `config_file` (if it exists) → environment.
    pub fn load(config_file: Option<&Path>) -> anyhow::Result<Settings> {
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
        settings.validate()?;
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

    /// Refuses settings that are invalid anywhere, and settings that are unsafe in production.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        self.auth.check(self.env, &mut problems);
        self.http.check(self.env, &mut problems);
        self.posts.check(&mut problems);
        self.mail.check(self.env, &mut problems);
        self.metrics.check(self.env, &mut problems);
        if self.posts.upload_body_limit() > self.http.body_limit_bytes {
            problems.push("http.body_limit_bytes must exceed posts.upload_limit_bytes by at least 64 KiB".to_owned());
        }
        if self.storage.timeout_ms == 0 || self.database.acquire_timeout_ms == 0 {
            problems.push("storage.timeout_ms and database.acquire_timeout_ms must be greater than 0".to_owned());
        }
        if self.env == Environment::Production && !self.public_origin.starts_with("https://") {
            problems.push("public_origin must be https:// in production".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            anyhow::bail!("refusing to start:\n  - {}", problems.join("\n  - "))
        }
    }
}

/// Top-level keys that `RAMPART_*` variables may set. Other `RAMPART_*` variables (the test suite's
/// `RAMPART_TEST_*`, `RAMPART_CONFIG`) are not settings and are left alone.
const SECTIONS: [&str; 14] = [
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
    "metrics",
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
            public_origin: "https://example.com".into(),
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
}
